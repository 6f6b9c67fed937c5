"""The group coordinator's trio shell around the sans-IO GroupManager.

The manager decides; this shell owns what it may not: the clock, the timer
task, the parked JoinGroup/SyncGroup requests and __consumer_offsets. Every
manager call is followed, without an await in between, by carrying out its
effects: Persist records are appended first, then the responses of the same
list are handed to their parked requests. So no response can overtake the
write it depends on, and calls never interleave.

A JoinGroup or SyncGroup parks on a slot keyed by its ticket until the manager
answers the ticket (now or from a later call or tick). A slot lives exactly as
long as its request: a cancelled request (broker shutdown) removes it, and an
answer for a ticket with no slot is dropped.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Collection, Sequence

import attrs
import trio

from flowlog.broker.cluster import ClusterMetadata
from flowlog.broker.config import BrokerConfig
from flowlog.broker.coordinator_log import OffsetsLog
from flowlog.broker.group_core import (
    FetchedOffset,
    GroupDescription,
    GroupListing,
    GroupManager,
    OffsetCommit,
    TopicPartition,
)
from flowlog.broker.group_types import (
    Effect,
    GroupConfig,
    GroupState,
    JoinRequest,
    JoinResponse,
    MemberIdentity,
    Persist,
    RespondJoin,
    RespondSync,
    SyncRequest,
    SyncResponse,
)
from flowlog.broker.replica_manager import ReplicaManager
from flowlog.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

# Bound on JoinGroup/SyncGroup requests parked at once (one per connection at most).
PARKED_REQUESTS_MAX = 100_000
# After a tick the timer waits at least this long, so a deadline that a bug leaves
# in the past cannot spin the event loop.
TIMER_MIN_WAIT_MS = 1


def group_config(config: BrokerConfig) -> GroupConfig:
    return GroupConfig(
        min_session_timeout_ms=config.group_min_session_timeout_ms,
        max_session_timeout_ms=config.group_max_session_timeout_ms,
        initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
        group_max_size=config.group_max_size,
        offsets_retention_ms=config.offsets_retention_minutes * 60_000,
        offsets_retention_check_interval_ms=config.offsets_retention_check_interval_ms,
        offset_metadata_max_bytes=config.offset_metadata_max_bytes,
    )


def new_member_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


@attrs.define
class _Slot:
    """Where the answer to one parked request lands."""

    answered: trio.Event = attrs.field(factory=trio.Event)
    response: JoinResponse | SyncResponse | None = None


class GroupCoordinator:
    def __init__(
        self,
        config: BrokerConfig,
        metadata: ClusterMetadata,
        replicas: ReplicaManager,
        clock_ms: Callable[[], int],
    ) -> None:
        self.config = group_config(config)
        self._clock_ms = clock_ms
        self.offsets_log = OffsetsLog(
            metadata, replicas, config.offsets_topic_num_partitions,
            config.offsets_topic_replication_factor,
        )
        self._standalone = config.is_standalone
        self.manager = GroupManager(self.config, new_member_id, clock_ms())
        self._slots: dict[int, _Slot] = {}
        self._tickets = itertools.count(1)
        self._deadline_changed = trio.Event()

    # ------------------------------------------------------------ life cycle

    async def open(self) -> None:
        """Create __consumer_offsets if missing and load it (before clients are served)."""
        # A cluster creates it on the first FindCoordinator, once brokers have joined, so
        # its replicas spread over them; a standalone broker has nobody to wait for.
        if self._standalone:
            await self.offsets_log.ensure_topic()
        else:
            self.offsets_log.refresh_partition_count()
        self._load()

    def _load(self) -> None:
        now_ms = self._clock_ms()
        self.manager = GroupManager(self.config, new_member_id, now_ms)
        count = self.offsets_log.replay_into(self.manager, now_ms)
        log.info(
            "group coordinator loaded %d records: %d groups",
            count, len(self.manager.groups),
        )

    async def run_timers(self) -> None:
        """Sleep until the manager's next deadline (or until a call moves it), then tick."""
        minimum_wait_ms = 0
        while True:
            self._deadline_changed = trio.Event()
            wait_ms = max(self.manager.next_deadline_ms() - self._clock_ms(), minimum_wait_ms)
            if wait_ms > 0:
                with trio.move_on_after(wait_ms / 1000):
                    await self._deadline_changed.wait()
                minimum_wait_ms = 0
                continue
            self._carry_out(self.manager.tick(self._clock_ms()))
            minimum_wait_ms = TIMER_MIN_WAIT_MS

    @property
    def parked_requests(self) -> int:
        return len(self._slots)

    # ------------------------------------------------------------ parked requests

    async def join(self, group_id: str, request: JoinRequest) -> JoinResponse:
        if len(self._slots) >= PARKED_REQUESTS_MAX:
            return JoinResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=request.member_id)
        ticket, slot = self._open_slot()
        try:
            self._carry_out(self.manager.join(group_id, ticket, request, self._clock_ms()))
            await slot.answered.wait()
        finally:
            del self._slots[ticket]
        assert isinstance(slot.response, JoinResponse)
        return slot.response

    async def sync(self, group_id: str, request: SyncRequest) -> SyncResponse:
        if len(self._slots) >= PARKED_REQUESTS_MAX:
            return SyncResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        ticket, slot = self._open_slot()
        try:
            self._carry_out(self.manager.sync(group_id, ticket, request, self._clock_ms()))
            await slot.answered.wait()
        finally:
            del self._slots[ticket]
        assert isinstance(slot.response, SyncResponse)
        return slot.response

    def _open_slot(self) -> tuple[int, _Slot]:
        ticket = next(self._tickets)
        slot = _Slot()
        self._slots[ticket] = slot
        return ticket, slot

    # ------------------------------------------------------------ direct answers

    def heartbeat(
        self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> ErrorCode:
        error = self.manager.heartbeat(
            group_id, member_id, generation_id, group_instance_id, self._clock_ms()
        )
        self._deadline_changed.set()
        return error

    def leave(
        self, group_id: str, identities: Sequence[MemberIdentity]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        error, member_errors, effects = self.manager.leave(group_id, identities, self._clock_ms())
        if not self._carry_out(effects):
            return ErrorCode.NOT_COORDINATOR, [ErrorCode.NOT_COORDINATOR] * len(member_errors)
        return error, member_errors

    def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        commits: Sequence[OffsetCommit],
        retention_ms: int,
    ) -> list[ErrorCode]:
        errors, effects = self.manager.commit_offsets(
            group_id, member_id, generation_id, group_instance_id, commits,
            self._clock_ms(), retention_ms,
        )
        if not self._carry_out(effects):
            return [ErrorCode.NOT_COORDINATOR] * len(errors)
        return errors

    def fetch_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition] | None
    ) -> list[FetchedOffset]:
        return self.manager.fetch_offsets(group_id, partitions)

    def delete_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        error, partition_errors, effects = self.manager.delete_offsets(group_id, partitions)
        if not self._carry_out(effects):
            return ErrorCode.NOT_COORDINATOR, []
        return error, partition_errors

    def delete_groups(self, group_ids: Sequence[str]) -> list[ErrorCode]:
        errors, effects = self.manager.delete_groups(group_ids, self._clock_ms())
        if not self._carry_out(effects):
            return [ErrorCode.NOT_COORDINATOR] * len(errors)
        return errors

    def describe(self, group_id: str) -> GroupDescription:
        return self.manager.describe(group_id)

    def list_groups(self, states: Collection[GroupState] | None) -> list[GroupListing]:
        return self.manager.list_groups(states)

    # ------------------------------------------------------------ effects

    def _carry_out(self, effects: Sequence[Effect]) -> bool:
        """Persist, then answer; synchronous so no other call slips in between.

        If an append fails, memory is ahead of the log: this list's responses become
        NOT_COORDINATOR, and the manager is rebuilt from the log.
        """
        now_ms = self._clock_ms()
        persisted = True
        for effect in effects:
            if isinstance(effect, Persist) and not self.offsets_log.append(effect, now_ms):
                persisted = False
                break
        for effect in effects:
            if isinstance(effect, RespondJoin):
                self._answer(effect.ticket, effect.response if persisted
                             else JoinResponse(ErrorCode.NOT_COORDINATOR))
            elif isinstance(effect, RespondSync):
                self._answer(effect.ticket, effect.response if persisted
                             else SyncResponse(ErrorCode.NOT_COORDINATOR))
        if not persisted:
            self._reload()
        self._deadline_changed.set()
        return persisted

    def _reload(self) -> None:
        for effect in self.manager.unload():
            if isinstance(effect, RespondJoin | RespondSync):
                self._answer(effect.ticket, effect.response)
        self._load()

    def _answer(self, ticket: int, response: JoinResponse | SyncResponse) -> None:
        slot = self._slots.get(ticket)
        if slot is None or slot.response is not None:
            return  # its request is gone (cancelled), or already answered
        slot.response = response
        slot.answered.set()
