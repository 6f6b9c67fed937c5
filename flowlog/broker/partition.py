"""A partition this broker leads: its log, high watermark, producer state and waiters.

Appends happen on the trio thread (writes land in the page cache in
microseconds); fsyncs demanded by the flush policy run in a worker thread so a
slow disk never stalls the event loop. Fetches that wait for data register a
trio.Event here and are woken by the next append: no polling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import trio

from flowlog.broker.producer_snapshots import (
    latest_snapshot,
    snapshot_offsets,
    snapshot_path,
    write_snapshot,
)
from flowlog.broker.producer_state import PartitionProducerState, Verdict
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.record_batch import (
    BATCH_LENGTH_PREFIX_SIZE,
    CONTROL_FLAG,
    CorruptBatchError,
    InvalidBatchError,
    iter_batch_spans,
    validate_batch,
)
from flowlog.replication.follower_core import FollowerConfig, PartitionFollower
from flowlog.replication.leader_core import LeaderConfig, PartitionLeader
from flowlog.replication.messages import NO_LEADER, PartitionState
from flowlog.storage import checkpoint
from flowlog.storage.config import LogConfig
from flowlog.storage.errors import CorruptLogError
from flowlog.storage.log import PartitionLog

log = logging.getLogger(__name__)

# Bound on fetches parked on one partition at a time.
WAITERS_PER_PARTITION_MAX = 10_000


def remove_snapshot(directory: Path, offset: int) -> None:
    snapshot_path(directory, offset).unlink(missing_ok=True)


class AppendOutcome(NamedTuple):
    """What an append did. A NamedTuple: one is built per produced batch, and a frozen
    attrs instance costs twice as much to make."""

    error: ErrorCode
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    message: str | None = None


# Builds the success outcome without the generated __new__ (the produce hot path).
_new_outcome = tuple.__new__


class Partition:
    def __init__(
        self,
        topic: str,
        topic_id: bytes,
        index: int,
        log_: PartitionLog,
        leader_epoch: int,
    ) -> None:
        self.topic = topic
        self.topic_id = topic_id
        self.index = index
        self.log = log_
        self.leader_epoch = leader_epoch
        self.producers = PartitionProducerState()
        self._waiters: set[trio.Event] = set()
        self._flush_lock = trio.Lock()
        # Replication roles (flowlog/broker/replication.py decides them from the
        # committed metadata): at most one of the two cores is set.
        self.state: PartitionState | None = None
        self.leader_core: PartitionLeader | None = None
        self.follower_core: PartitionFollower | None = None
        # The high watermark while neither core holds it (no role yet, no leader).
        self._high_watermark = 0
        self._checkpointed_high_watermark = 0
        # Called when the high watermark moves or the role changes (the produce
        # purgatory's wake-up); set by the replication shell.
        self.on_change: Callable[[Partition], None] | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        topic: str,
        topic_id: bytes,
        index: int,
        config: LogConfig,
        leader_epoch: int,
        now_ms: int,
    ) -> Partition:
        # The leader epoch goes into the log only when this broker becomes the leader
        # (become_leader): a follower's epochs are its leader's.
        partition = cls(topic, topic_id, index, PartitionLog.open(directory, config, now_ms), leader_epoch)
        partition.restore_producer_state()
        partition.load_high_watermark()
        return partition

    # --- the high-watermark checkpoint ---------------------------------------------------

    def load_high_watermark(self) -> None:
        """Start from the checkpointed high watermark (never past the log end), so a
        restarted replica serves what was committed before its ISR fetches again."""
        path = self.log.directory / checkpoint.HIGH_WATERMARK_CHECKPOINT
        try:
            stored = checkpoint.read_single_offset(path)
        except CorruptLogError as error:
            log.warning("%s; starting from high watermark 0", error)
            stored = None
        self._high_watermark = min(stored or 0, self.log.log_end_offset)
        self._checkpointed_high_watermark = self._high_watermark

    def high_watermark_to_checkpoint(self) -> int | None:
        """The high watermark if it moved since it was last checkpointed."""
        high_watermark = self.high_watermark
        return None if high_watermark == self._checkpointed_high_watermark else high_watermark

    def checkpoint_high_watermark(self, high_watermark: int) -> None:
        """Write it (blocking: fsyncs; the broker calls this from a worker thread).
        Never fatal: the checkpoint only shortens the wait after a restart."""
        try:
            checkpoint.write_single_offset(
                self.log.directory / checkpoint.HIGH_WATERMARK_CHECKPOINT, high_watermark)
        except OSError as error:  # a topic deleted meanwhile, a full disk
            log.debug("%s: high watermark not checkpointed: %s", self.log.directory, error)
            return
        self._checkpointed_high_watermark = high_watermark

    def restore_producer_state(self) -> None:
        """Idempotent producers survive a restart: the latest snapshot, then the batch
        headers after it (all of them without a usable snapshot)."""
        directory = self.log.directory
        replay_from = self.log.log_start_offset
        self.producers = PartitionProducerState()
        found = latest_snapshot(directory, self.log.log_end_offset)
        if found is not None:
            offset, data = found
            try:
                self.producers = PartitionProducerState.from_snapshot(data)
                replay_from = max(replay_from, offset)
            except ValueError as error:
                log.warning("%s: ignoring the producer snapshot at %d (%s); replaying the log",
                            directory, offset, error)
        for header in self.log.iter_batch_headers(replay_from):
            self.producers.record_append(header, header.base_offset)

    def _snapshot_producers(self, offset: int) -> None:
        """Save the producer state as of `offset` (every batch below it recorded).

        Never fatal: a snapshot only shortens the next start-up, and an error here
        must not fail an append that is already in the log (nor a close)."""
        try:
            write_snapshot(self.log.directory, offset, self.producers.snapshot())
        except OSError as error:
            log.warning("%s: producer snapshot at %d not written: %s",
                        self.log.directory, offset, error)

    def update(self, config: LogConfig, leader_epoch: int) -> None:
        """Take a changed topic config from the metadata (roles: become_leader/follower)."""
        if config != self.log.config:
            self.log.update_config(config)

    @property
    def high_watermark(self) -> int:
        leader = self.leader_core
        if leader is not None:
            return leader.high_watermark
        if self.follower_core is not None:
            return self.follower_core.high_watermark
        return self._high_watermark

    # --- replication roles ---------------------------------------------------------------

    def become_leader(self, node_id: int, state: PartitionState, now_ms: int,
                      config: LeaderConfig) -> None:
        """Lead at state.leader_epoch: the epoch starts at our log end (Kafka's
        makeLeader); the high watermark is the one we had, and moves once the ISR
        has fetched in this epoch."""
        self._leave_role()
        self.state = state
        log_ = self.log
        if log_.latest_epoch < state.leader_epoch:
            log_.assign_epoch(state.leader_epoch, log_.log_end_offset)
        self.leader_epoch = state.leader_epoch
        end = log_.log_end_offset
        self.leader_core = PartitionLeader(
            node_id, state, log_, local_end_offset=end,
            high_watermark=min(self._high_watermark, end), epoch_start_offset=end,
            now_ms=now_ms, config=config)
        self.leader_core.on_local_end_offset(end)
        self.changed()

    def become_follower(self, node_id: int, state: PartitionState, config: FollowerConfig,
                        next_request_id: Callable[[], int]) -> None:
        self._leave_role()
        self.state = state
        self.leader_epoch = state.leader_epoch
        if state.leader != NO_LEADER:
            self.follower_core = PartitionFollower(
                node_id, state.leader, state.leader_epoch, self.log,
                high_watermark=min(self._high_watermark, self.log.log_end_offset),
                config=config, next_request_id=next_request_id)
        self.changed()

    def _leave_role(self) -> None:
        self._high_watermark = self.high_watermark
        self.leader_core = self.follower_core = None

    def changed(self) -> None:
        """The high watermark moved or the role changed: wake parked fetches and produces."""
        self._wake_waiters()
        if self.on_change is not None:
            self.on_change(self)

    def truncate_as_follower(self, offset: int) -> None:
        """The follower core's Truncate (also at the log end: it drops a trailing epoch)."""
        log_end = self.log.log_end_offset
        self.log.truncate_to(offset)
        if offset < log_end:
            self.restore_producer_state()  # drops the snapshots above the new log end

    def truncate_fully_as_follower(self, offset: int) -> None:
        self.log.truncate_fully_and_start_at(offset)
        for snapshot_offset in snapshot_offsets(self.log.directory):
            remove_snapshot(self.log.directory, snapshot_offset)
        self.producers = PartitionProducerState()

    def append_as_follower(self, records: bytes | memoryview, now_ms: int) -> None:
        """The leader's batches, byte for byte (offsets and epochs the leader's); the
        producer state follows them so a later leadership deduplicates retries."""
        view = memoryview(records)
        log_ = self.log
        for start, size in iter_batch_spans(view):
            batch = view[start:start + size]
            header = validate_batch(batch)
            active = log_.segments[-1]
            log_.append(batch, leader_epoch=-1, now_ms=now_ms, assign_offsets=False,
                        validated_header=header)
            if log_.segments[-1] is not active:
                self._snapshot_producers(header.base_offset)
            if not header.attributes & CONTROL_FLAG:
                self.producers.record_append(header, header.base_offset)
        self._wake_waiters()

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    def append(self, batch: bytes | memoryview, now_ms: int) -> AppendOutcome:
        """Validate and append one client batch; idempotent duplicates are not written twice.

        Only as the leader (or with no role yet, a partition opened by hand): a write
        into a follower's log (the group coordinator's, say) would diverge from its
        leader's within one epoch, which no epoch check could detect."""
        if self.leader_core is None and self.state is not None:
            return AppendOutcome(ErrorCode.NOT_LEADER_OR_FOLLOWER,
                                 message="this broker does not lead the partition")
        try:
            header = validate_batch(batch)
        except CorruptBatchError as error:
            return AppendOutcome(ErrorCode.CORRUPT_MESSAGE, message=str(error))
        except InvalidBatchError as error:
            return AppendOutcome(ErrorCode.INVALID_RECORD, message=str(error))
        if header.attributes & CONTROL_FLAG:
            return AppendOutcome(ErrorCode.INVALID_RECORD, message="clients may not write control batches")
        if header.records_count != header.last_offset_delta + 1 or header.records_count <= 0:
            return AppendOutcome(
                ErrorCode.INVALID_RECORD,
                message=f"record count {header.records_count} does not match last offset delta "
                f"{header.last_offset_delta}",
            )
        if header.producer_id >= 0 and header.base_sequence < 0:
            return AppendOutcome(
                ErrorCode.INVALID_RECORD, message="an idempotent batch needs a base sequence"
            )
        size_bytes = header.batch_length + BATCH_LENGTH_PREFIX_SIZE
        if size_bytes > self.log.config.max_message_bytes:
            return AppendOutcome(
                ErrorCode.MESSAGE_TOO_LARGE,
                message=f"batch of {size_bytes} bytes exceeds max.message.bytes "
                f"{self.log.config.max_message_bytes}",
            )
        check = self.producers.check(header)
        if check.verdict is Verdict.DUPLICATE:
            assert check.duplicate_of is not None
            return AppendOutcome(
                ErrorCode.NONE,
                base_offset=check.duplicate_of.base_offset,
                log_start_offset=self.log_start_offset,
            )
        if check.verdict is Verdict.OUT_OF_ORDER:
            return AppendOutcome(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, message=check.detail)
        if check.verdict is Verdict.FENCED_EPOCH:
            return AppendOutcome(ErrorCode.INVALID_PRODUCER_EPOCH, message=check.detail)
        # Validated above: the log trusts the header (its hot path).
        log = self.log
        active = log.segments[-1]
        base_offset = log.append_validated(batch, header, self.leader_epoch, now_ms)
        if log.segments[-1] is not active:
            # The batch opened a new segment at base_offset: snapshot the state before it.
            self._snapshot_producers(base_offset)
        self.producers.record_append(header, base_offset)
        if self._waiters:
            self._wake_waiters()
        leader_core = self.leader_core
        if leader_core is not None and leader_core.on_local_end_offset(log.log_end_offset):
            self.changed()
        log_append_time_ms = now_ms if log.config.log_append_time else -1
        return _new_outcome(AppendOutcome, (ErrorCode.NONE, base_offset, log_append_time_ms,
                                            log.log_start_offset, None))

    async def flush_if_due(self, now_ms: int) -> None:
        """Run the fsync the flush policy asks for, off the event loop."""
        if not self.log.needs_flush(now_ms):
            return
        async with self._flush_lock:
            if self.log.needs_flush(now_ms):
                await trio.to_thread.run_sync(self.log.flush)

    async def enforce_retention(self, now_ms: int) -> None:
        """Delete segments past retention and compact compacted topics.

        Holds the flush lock: an fsync running in a worker thread must not see
        segments disappear under it.
        """
        async with self._flush_lock:
            self.log.apply_retention(now_ms)
            if self.log.config.compact:
                self.log.compact(now_ms, last_batches=self.producers.last_batches())

    async def delete_records_before(self, offset: int) -> int:
        """Move the log start offset (DeleteRecords); returns the new one."""
        async with self._flush_lock:
            return self.log.delete_records_before(offset)

    def add_waiter(self, event: trio.Event) -> bool:
        if len(self._waiters) >= WAITERS_PER_PARTITION_MAX:
            return False
        self._waiters.add(event)
        return True

    def remove_waiter(self, event: trio.Event) -> None:
        self._waiters.discard(event)

    def _wake_waiters(self) -> None:
        for event in self._waiters:
            event.set()
        self._waiters.clear()

    def close(self) -> None:
        self._wake_waiters()
        if not self.log.closed:
            self._snapshot_producers(self.log.log_end_offset)  # a restart replays nothing
            moved = self.high_watermark_to_checkpoint()
            if moved is not None:
                self.checkpoint_high_watermark(moved)
        self.log.close()
