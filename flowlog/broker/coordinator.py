"""The group coordinator's trio shell around the sans-IO GroupManager.

The manager decides; this shell owns what it may not: the clock, the timer
task, the parked JoinGroup/SyncGroup requests and __consumer_offsets. Every
manager call is followed, without an await in between, by carrying out its
effects: Persist records are appended first (leader appends), then the
responses of the same list are handed to their parked requests. A response
whose group was written goes out only once the partition's high watermark
passed the write (acks=all), so an acknowledged write survives the death of
this broker; if it does not commit, the client hears a coordinator error.

This broker serves the groups of the __consumer_offsets partitions it leads
(coordinator_partitions.py has the rules): it loads a partition's groups when
it becomes the leader and unloads them when it stops; other groups are
refused with NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while loading).

A JoinGroup or SyncGroup parks on a slot keyed by its ticket until the manager
answers the ticket (now or from a later call or tick). A slot lives exactly as
long as its request: a cancelled request (broker shutdown) removes it, and an
answer for a ticket with no slot is dropped.
"""

from __future__ import annotations

import functools
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import attrs
import trio

from flowlog.broker.cluster import ClusterMetadata
from flowlog.broker.config import BrokerConfig
from flowlog.broker.coordinator_log import OFFSETS_TOPIC, Appended, OffsetsLog
from flowlog.broker.coordinator_partitions import (
    Action,
    CoordinatorPartitions,
    Load,
    Unload,
    write_error,
)
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
# How long a group write may wait for the high watermark (Kafka's offsets.commit.timeout.ms).
OFFSETS_COMMIT_TIMEOUT_MS = 5_000
# OffsetFetch waits for writes that arrive while it waits this many times at most.
SETTLE_ROUNDS_MAX = 3

PartitionKey = tuple[str, int]
# Replication.wait_for_acks: {partition: (leader epoch, end offset)}, timeout -> errors.
WaitCommitted = Callable[
    [dict[PartitionKey, tuple[int, int]], int], Awaitable[dict[PartitionKey, ErrorCode]]
]


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

    partition: int  # of its group: the write its answer may wait for
    answered: trio.Event = attrs.field(factory=trio.Event)
    response: JoinResponse | SyncResponse | None = None
    write: Appended | None = None


class GroupCoordinator:
    def __init__(
        self,
        config: BrokerConfig,
        metadata: ClusterMetadata,
        replicas: ReplicaManager,
        wait_committed: WaitCommitted,
        clock_ms: Callable[[], int],
    ) -> None:
        self.config = group_config(config)
        self._clock_ms = clock_ms
        self._replicas = replicas
        self._wait_committed = wait_committed
        self.offsets_log = OffsetsLog(
            metadata, replicas, config.offsets_topic_num_partitions,
            config.offsets_topic_replication_factor,
        )
        self._standalone = config.is_standalone
        self.manager = GroupManager(self.config, new_member_id, clock_ms())
        self.partitions = CoordinatorPartitions()
        self._slots: dict[int, _Slot] = {}
        self._tickets = itertools.count(1)
        self._deadline_changed = trio.Event()
        self._loads_changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._queued_loads: list[Load] = []
        # The latest group write per partition: reads wait until it is committed.
        self._last_writes: dict[int, Appended] = {}

    # ------------------------------------------------------------ life cycle

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run partition loads and the group timers until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for load in self._queued_loads:
                nursery.start_soon(self._load, load)
            self._queued_loads.clear()
            nursery.start_soon(self._run_timers)
            task_status.started()

    async def open(self) -> None:
        """Create __consumer_offsets if missing (standalone) and wait until the groups of
        the partitions led now are loaded, so the first clients find them."""
        # A cluster creates it on the first FindCoordinator, once brokers have joined, so
        # its replicas spread over them; a standalone broker has nobody to wait for.
        if self._standalone:
            await self.offsets_log.ensure_topic()
        self.on_roles_changed()
        while self.partitions.loading:
            changed = self._loads_changed = trio.Event()
            await changed.wait()

    @property
    def parked_requests(self) -> int:
        return len(self._slots)

    # ------------------------------------------------------------ partition ownership

    def on_roles_changed(self) -> None:
        """After every change of partition roles: load what this broker now leads and
        unload what it no longer does (or leads at another epoch)."""
        self.offsets_log.refresh_partition_count()
        led: dict[int, int] = {}
        for index in range(self.offsets_log.partition_count):
            partition = self._replicas.get(OFFSETS_TOPIC, index)
            if partition is not None and partition.leader_core is not None:
                led[index] = partition.leader_core.leader_epoch
        self._apply(self.partitions.update(led))

    def _apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Unload):
                self._last_writes.pop(action.index, None)
                effects = self.manager.unload(functools.partial(self._in_partition, action.index))
                self._answer_all(effects, {})
                log.info("%s-%d: groups unloaded", OFFSETS_TOPIC, action.index)
            elif self._nursery is not None:
                self._nursery.start_soon(self._load, action)
            else:
                self._queued_loads.append(action)
        self._deadline_changed.set()
        self._loads_changed.set()  # an unload may end the wait in open()

    async def _load(self, load: Load) -> None:
        now_ms = self._clock_ms()
        loaded = GroupManager(self.config, new_member_id, now_ms)
        try:
            count = await self.offsets_log.replay_partition(load.index, loaded, now_ms)
        except Exception:
            if self.partitions.leader_epoch(load.index) == load.leader_epoch:
                raise  # a log that cannot be read stops the broker, as at start before
            # The partition moved or closed under the load: nothing is lost.
            log.info("%s-%d: load dropped", OFFSETS_TOPIC, load.index, exc_info=True)
            return
        if self.partitions.finish_load(load.index, load.leader_epoch):
            self.manager.adopt(loaded)
            log.info("%s-%d: loaded %d records, %d groups (leader epoch %d)", OFFSETS_TOPIC,
                     load.index, count, len(loaded.groups), load.leader_epoch)
            self._loads_changed.set()
            self._deadline_changed.set()

    def _in_partition(self, index: int, group_id: str) -> bool:
        return self._partition_of(group_id) == index

    def _partition_of(self, group_id: str) -> int:
        return self.offsets_log.partition_of(group_id)

    def _refusal(self, group_id: str) -> ErrorCode | None:
        """NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS unless this broker serves the
        group now; an empty id goes on to the manager (INVALID_GROUP_ID)."""
        if group_id == "":
            return None
        return self.partitions.error_for(self._partition_of(group_id))

    # ------------------------------------------------------------ timers

    async def _run_timers(self) -> None:
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

    # ------------------------------------------------------------ parked requests

    async def join(self, group_id: str, request: JoinRequest) -> JoinResponse:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return JoinResponse(refusal, member_id=request.member_id)
        if len(self._slots) >= PARKED_REQUESTS_MAX:
            return JoinResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=request.member_id)
        ticket, slot = self._open_slot(group_id)
        try:
            self._carry_out(self.manager.join(group_id, ticket, request, self._clock_ms()))
            await slot.answered.wait()
            error = await self._committed(slot.write)
        finally:
            del self._slots[ticket]
        if error is not ErrorCode.NONE:
            return JoinResponse(error, member_id=request.member_id)
        assert isinstance(slot.response, JoinResponse)
        return slot.response

    async def sync(self, group_id: str, request: SyncRequest) -> SyncResponse:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return SyncResponse(refusal)
        if len(self._slots) >= PARKED_REQUESTS_MAX:
            return SyncResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        ticket, slot = self._open_slot(group_id)
        try:
            self._carry_out(self.manager.sync(group_id, ticket, request, self._clock_ms()))
            await slot.answered.wait()
            error = await self._committed(slot.write)
        finally:
            del self._slots[ticket]
        if error is not ErrorCode.NONE:
            return SyncResponse(error)
        assert isinstance(slot.response, SyncResponse)
        return slot.response

    def _open_slot(self, group_id: str) -> tuple[int, _Slot]:
        ticket = next(self._tickets)
        slot = _Slot(self._partition_of(group_id) if group_id else -1)
        self._slots[ticket] = slot
        return ticket, slot

    # ------------------------------------------------------------ direct answers

    def heartbeat(
        self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> ErrorCode:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return refusal
        error = self.manager.heartbeat(
            group_id, member_id, generation_id, group_instance_id, self._clock_ms()
        )
        self._deadline_changed.set()
        return error

    async def leave(
        self, group_id: str, identities: Sequence[MemberIdentity]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return refusal, [refusal] * len(identities)
        error, member_errors, effects = self.manager.leave(group_id, identities, self._clock_ms())
        written = self._carry_out(effects)
        failed = await self._committed(written.get(self._partition_of(group_id)))
        if failed is not ErrorCode.NONE:
            return failed, [failed] * len(member_errors)
        return error, member_errors

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        commits: Sequence[OffsetCommit],
        retention_ms: int,
    ) -> list[ErrorCode]:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return [refusal] * len(commits)
        errors, effects = self.manager.commit_offsets(
            group_id, member_id, generation_id, group_instance_id, commits,
            self._clock_ms(), retention_ms,
        )
        written = self._carry_out(effects)
        failed = await self._committed(written.get(self._partition_of(group_id)) if group_id else None)
        if failed is not ErrorCode.NONE:
            return [failed] * len(errors)
        return errors

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition] | None
    ) -> tuple[ErrorCode, list[FetchedOffset]]:
        """(group error, offsets); with an error, the asked partitions carry it too
        (OffsetFetch v1 has no group-level error).

        Memory runs ahead of the log by the writes not yet committed; a read first waits
        for them, so it never returns a commit that a failover could still take back
        (Kafka keeps such commits apart as pending). Writes arriving meanwhile are
        waited for too, a few rounds at most."""
        refusal = self._refusal(group_id)
        if refusal is None and group_id:
            refusal = await self._settled(self._partition_of(group_id))
        if refusal is not None:
            return refusal, [
                FetchedOffset(where.topic, where.partition, -1, -1, "", refusal)
                for where in partitions or ()
            ]
        return ErrorCode.NONE, self.manager.fetch_offsets(group_id, partitions)

    async def _settled(self, index: int) -> ErrorCode | None:
        """None once no write to partition `index` is waiting for the high watermark,
        else the retriable error a read answers."""
        for _ in range(SETTLE_ROUNDS_MAX):
            last = self._last_writes.get(index)
            partition = self._replicas.get(OFFSETS_TOPIC, index)
            if last is None or partition is None or partition.high_watermark >= last.end_offset:
                return None
            error = await self._committed(last)
            if error is not ErrorCode.NONE:
                return error
            refusal = self.partitions.error_for(index)
            if refusal is not None:
                return refusal
        return None

    async def delete_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return refusal, []
        error, partition_errors, effects = self.manager.delete_offsets(group_id, partitions)
        written = self._carry_out(effects)
        failed = await self._committed(written.get(self._partition_of(group_id)))
        if failed is not ErrorCode.NONE:
            return failed, []
        return error, partition_errors

    async def delete_groups(self, group_ids: Sequence[str]) -> list[ErrorCode]:
        refusals = {group_id: self._refusal(group_id) for group_id in group_ids}
        served = [group_id for group_id in group_ids if refusals[group_id] is None]
        errors, effects = self.manager.delete_groups(served, self._clock_ms())
        written = self._carry_out(effects)
        committed = await self._all_committed(written)
        outcome = dict(zip(served, errors, strict=True))
        answers = []
        for group_id in group_ids:
            refusal = refusals[group_id]
            if refusal is not None:
                answers.append(refusal)
                continue
            failed = committed.get(self._partition_of(group_id), ErrorCode.NONE)
            answers.append(failed if failed is not ErrorCode.NONE else outcome[group_id])
        return answers

    def describe(self, group_id: str) -> GroupDescription:
        refusal = self._refusal(group_id)
        if refusal is not None:
            return GroupDescription(group_id, refusal, "", "", "")
        return self.manager.describe(group_id)

    def list_groups(
        self, states: Collection[GroupState] | None
    ) -> tuple[ErrorCode, list[GroupListing]]:
        """The groups loaded here; COORDINATOR_LOAD_IN_PROGRESS too while some load (Kafka)."""
        error = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS if self.partitions.loading else ErrorCode.NONE
        return error, self.manager.list_groups(states)

    # ------------------------------------------------------------ effects

    def _carry_out(self, effects: Sequence[Effect]) -> dict[int, Appended]:
        """Append, then answer; synchronous so no other call slips in between. Returns
        the last write per partition, for the answers that must wait for it.

        If an append fails, memory is ahead of the log: the partition's groups are
        reloaded from the log (their parked requests hear NOT_COORDINATOR)."""
        now_ms = self._clock_ms()
        written: dict[int, Appended] = {}
        for effect in effects:
            if isinstance(effect, Persist):
                index = self._partition_of(effect.group_id)
                previous = written.get(index)
                if previous is None or previous.error is ErrorCode.NONE:
                    written[index] = appended = self.offsets_log.append(effect, now_ms)
                    if appended.error is ErrorCode.NONE:
                        self._last_writes[index] = appended
        self._answer_all(effects, written)
        for index, appended in written.items():
            if appended.error is not ErrorCode.NONE:
                self._apply(self.partitions.reload(index))
        self._deadline_changed.set()
        return written

    def _answer_all(self, effects: Sequence[Effect], written: dict[int, Appended]) -> None:
        for effect in effects:
            if isinstance(effect, RespondJoin | RespondSync):
                slot = self._slots.get(effect.ticket)
                if slot is None or slot.response is not None:
                    continue  # its request is gone (cancelled), or already answered
                slot.response = effect.response
                slot.write = written.get(slot.partition)
                slot.answered.set()

    async def _committed(self, appended: Appended | None) -> ErrorCode:
        """NONE once the write (if any) is committed, else the error to answer."""
        if appended is None:
            return ErrorCode.NONE
        return (await self._all_committed({appended.index: appended}))[appended.index]

    async def _all_committed(self, written: dict[int, Appended]) -> dict[int, ErrorCode]:
        results = {index: write_error(a.error) for index, a in written.items()}
        required = {
            (OFFSETS_TOPIC, index): (a.leader_epoch, a.end_offset)
            for index, a in written.items() if a.error is ErrorCode.NONE
        }
        if required:
            waited = await self._wait_committed(required, OFFSETS_COMMIT_TIMEOUT_MS)
            for (_, index), error in waited.items():
                results[index] = write_error(error)
        return results
