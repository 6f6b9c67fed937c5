"""The active controller: runs on every voter, acts only while its node leads the quorum.

While this node is the Raft leader and has applied every entry of earlier terms (its
term's first entry is applied), it runs ControllerCore operations one at a time:
validate the records on a copy of the state, propose them as one Raft entry, and
answer once that entry is applied here (or fail if another leader's entry took its
index). It also keeps broker sessions (in memory, like Kafka's heartbeat manager),
fences brokers whose session expired, and gives leadership back to preferred
replicas (auto.leader.rebalance.enable).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

from flowlog.controller.broker_liveness import BrokerWatchers
from flowlog.controller.broker_sessions_core import BrokerSessions
from flowlog.controller.controller_api import ControllerDefaults, ElectionPolicy, OperationResult
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.controller_operations import OPERATIONS
from flowlog.controller.controller_rpc import (
    CONVERTER,
    ControllerReply,
    ControllerRequest,
    HeartbeatRequest,
    OperationRequest,
    RegisterRequest,
)
from flowlog.controller.metadata_records import encode_record_batch
from flowlog.controller.metadata_replayer import MetadataReplayer
from flowlog.controller.metadata_state import MetadataInconsistencyError
from flowlog.protocol.errors import ErrorCode
from flowlog.raft.driver import RaftDriver
from flowlog.raft.raft_core import Role
from flowlog.raft.ready import NotLeader

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")

# How long an operation waits for its entry to commit before giving up.
COMMIT_TIMEOUT_S = 10.0
# Longest sleep of the session check loop (it also wakes on every Raft batch).
SESSION_CHECK_INTERVAL_S = 0.1


@attrs.frozen
class ControllerSettings:
    defaults: ControllerDefaults = ControllerDefaults()
    policy: ElectionPolicy = ElectionPolicy()
    # Kafka's broker.session.timeout.ms default.
    session_timeout_ms: int = 9_000
    auto_leader_rebalance: bool = True
    # Kafka's leader.imbalance.check.interval.seconds default (300 s).
    rebalance_interval_ms: int = 300_000
    # Fence a broker as soon as its process is seen gone (broker_liveness.py), not
    # only after its session times out.
    watch_brokers: bool = True


class NotControllerError(Exception):
    def __init__(self, leader_id: int, message: str = "this node is not the active controller"):
        super().__init__(message)
        self.leader_id = leader_id


def monotonic_ms() -> int:
    return int(trio.current_time() * 1000)


class QuorumController:
    def __init__(
        self,
        driver: RaftDriver,
        replayer: MetadataReplayer,
        settings: ControllerSettings,
        clock_ms: Callable[[], int] = monotonic_ms,
        seed: int | None = None,
    ) -> None:
        self.driver = driver
        self.replayer = replayer
        self.settings = settings
        self.core = ControllerCore(
            replayer.state, random.Random(seed), settings.defaults, settings.policy
        )
        self.sessions = BrokerSessions(settings.session_timeout_ms)
        self._clock_ms = clock_ms
        self._lock = trio.Lock()
        self._broker_gone_event = trio.Event()

    # -- who leads -------------------------------------------------------------------------

    @property
    def leader_id(self) -> int:
        return self.driver.node.leader_id

    @property
    def term(self) -> int:
        return self.driver.node.term

    def is_active(self) -> bool:
        """Leader, and caught up: the first entry of its own term is applied."""
        node = self.driver.node
        return node.role is Role.LEADER and self.replayer.applied_term == node.term

    # -- operations ------------------------------------------------------------------------

    async def execute(
        self, build: Callable[[ControllerCore], OperationResult[ResultT]]
    ) -> tuple[ResultT, ...]:
        """Run one operation against the current state and make its records committed."""
        async with self._lock:
            if not self.is_active():
                raise NotControllerError(self.leader_id)
            operation = build(self.core)
            if not operation.records:
                return operation.results
            # A record that does not replay must never reach the log: every node would
            # fail on it.
            candidate = self.replayer.state.copy()
            for record in operation.records:
                candidate.replay(record, candidate.last_applied_offset + 1)
            await self._commit(encode_record_batch(operation.records))
            return operation.results

    async def _commit(self, payload: bytes) -> None:
        proposal = self.driver.propose(payload)
        if isinstance(proposal, NotLeader):
            raise NotControllerError(proposal.leader_hint)
        self.replayer.watch(proposal.index)
        try:
            with trio.move_on_after(COMMIT_TIMEOUT_S):
                await self.driver.wait_until(
                    lambda: self.replayer.watched_outcome(proposal.index) is not None
                )
            outcome = self.replayer.watched_outcome(proposal.index)
        finally:
            self.replayer.unwatch(proposal.index)
        if outcome != proposal.term:
            raise NotControllerError(
                self.leader_id, "leadership changed before the change committed"
            )

    # -- requests --------------------------------------------------------------------------

    async def handle(self, request: ControllerRequest) -> ControllerReply:
        """Answer one RPC; errors become replies, never exceptions."""
        try:
            match request:
                case RegisterRequest():
                    reply = await self._register(request)
                case HeartbeatRequest():
                    reply = await self._heartbeat(request)
                case OperationRequest():
                    reply = await self._operation(request)
        except NotControllerError as error:
            return ControllerReply(ErrorCode.NOT_CONTROLLER, str(error), leader_id=error.leader_id)
        except MetadataInconsistencyError as error:
            log.exception("a controller operation produced records that do not apply")
            return self._reply(ErrorCode.UNKNOWN_SERVER_ERROR, str(error))
        return reply

    def _reply(self, error_code: ErrorCode, message: str | None = None, **fields: Any) -> ControllerReply:
        return ControllerReply(
            error_code, message, leader_id=self.leader_id,
            metadata_index=self.replayer.applied_index, **fields,
        )

    async def _register(self, request: RegisterRequest) -> ControllerReply:
        (result,) = await self.execute(
            lambda core: core.register_broker(
                request.node_id, request.host, request.port, request.rack, request.incarnation_id
            )
        )
        if result.error_code != ErrorCode.NONE:
            return self._reply(result.error_code, result.error_message)
        broker = self.replayer.state.broker(request.node_id)
        assert broker is not None, "registered just now"
        self.sessions.touch(request.node_id, self._clock_ms())
        log.info("broker %d registered (epoch %d)", request.node_id, broker.epoch)
        return self._reply(ErrorCode.NONE, broker_epoch=broker.epoch, fenced=broker.fenced)

    async def _heartbeat(self, request: HeartbeatRequest) -> ControllerReply:
        if not self.is_active():
            raise NotControllerError(self.leader_id)
        broker = self.replayer.state.broker(request.node_id)
        if broker is None or broker.epoch != request.broker_epoch:
            return self._reply(
                ErrorCode.STALE_BROKER_EPOCH,
                f"broker {request.node_id} epoch {request.broker_epoch} is not registered",
            )
        self.sessions.touch(request.node_id, self._clock_ms())
        if request.want_shut_down:
            await self.execute(lambda core: core.controlled_shutdown(request.node_id))
            log.info("broker %d shut down in a controlled way", request.node_id)
            return self._reply(ErrorCode.NONE, broker_epoch=broker.epoch, should_shut_down=True,
                               fenced=True)
        if broker.fenced:
            await self.execute(lambda core: core.unfence_broker(request.node_id))
            log.info("broker %d is back: unfenced", request.node_id)
        return self._reply(ErrorCode.NONE, broker_epoch=broker.epoch, fenced=False)

    async def _operation(self, request: OperationRequest) -> ControllerReply:
        operation = OPERATIONS.get(request.name)
        if operation is None:
            return self._reply(ErrorCode.INVALID_REQUEST, f"no operation {request.name!r}")
        try:
            results = await self.execute(lambda core: operation(core, request.arguments))
        except (KeyError, ValueError, TypeError) as error:
            return self._reply(ErrorCode.INVALID_REQUEST, f"bad {request.name} arguments: {error}")
        return self._reply(ErrorCode.NONE, results=[CONVERTER.unstructure(r) for r in results])

    # -- background duties of the active controller -----------------------------------------

    async def run(self) -> None:
        """Forever: wait to become the active controller, then keep sessions and balance."""
        while True:
            await self.driver.wait_until(self.is_active)
            async with trio.open_nursery() as nursery:
                await self._serve_term(BrokerWatchers(nursery, self._broker_gone))
                nursery.cancel_scope.cancel()

    async def _serve_term(self, watchers: BrokerWatchers) -> None:
        term = self.term
        log.info("node %d is the active controller (term %d)", self.driver.config.node_id, term)
        self.sessions.start_all(self.replayer.state.registered_broker_ids(), self._clock_ms())
        next_rebalance_ms = self._clock_ms() + self.settings.rebalance_interval_ms
        while self.is_active() and self.term == term:
            if self.settings.watch_brokers:
                watchers.reconcile(self._other_live_brokers())
            await self._fence_expired()
            if self.settings.auto_leader_rebalance and self._clock_ms() >= next_rebalance_ms:
                next_rebalance_ms = self._clock_ms() + self.settings.rebalance_interval_ms
                await self._rebalance()
            with trio.move_on_after(SESSION_CHECK_INTERVAL_S):
                await self._broker_gone_event.wait()
            self._broker_gone_event = trio.Event()

    def _other_live_brokers(self) -> dict[int, tuple[str, int]]:
        state = self.replayer.state
        addresses = {}
        for node_id in state.live_broker_ids():
            broker = state.broker(node_id)
            if broker is not None and node_id != self.driver.config.node_id:
                addresses[node_id] = (broker.host, broker.port)
        return addresses

    def _broker_gone(self, node_id: int) -> None:
        """A watcher found the broker's process gone: end its session, fence it now."""
        self.sessions.expire(node_id, self._clock_ms())
        self._broker_gone_event.set()

    async def _fence_expired(self) -> None:
        state = self.replayer.state
        for node_id in self.sessions.expired(state.live_broker_ids(), self._clock_ms()):
            try:
                await self.execute(lambda core, node_id=node_id: core.fence_broker(node_id))  # type: ignore[misc]
            except NotControllerError:
                return
            log.warning(
                "broker %d fenced: its session ended (silent for %d ms, or its process gone)",
                node_id, self.settings.session_timeout_ms,
            )

    async def _rebalance(self) -> None:
        try:
            await self.execute(lambda core: core.elect_preferred_leaders())
        except NotControllerError:
            return

