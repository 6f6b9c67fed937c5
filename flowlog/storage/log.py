"""PartitionLog: one partition's segmented log on disk.

Synchronous file I/O, no trio. The broker calls it from the event loop and runs
flush() (fsync) in a worker thread. flush() may run alongside append() and
read(), but not alongside truncate_to, truncate_fully_and_start_at,
delete_records_before, apply_retention, compact or close (they close files):
the caller serialises those, e.g. with one lock per partition.
"""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from flowlog.protocol.record_batch import (
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_PREFIX_SIZE,
    BatchHeader,
    InvalidBatchError,
    pack_offset_and_epoch,
    pack_offset_and_epoch_into,
    set_log_append_time,
    validate_batch,
)
from flowlog.storage import checkpoint
from flowlog.storage.cleaner import CompactionResult, compact_log
from flowlog.storage.config import INT64_MAX, LogConfig
from flowlog.storage.errors import (
    InvalidAppendOffsetError,
    LogClosedError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
)
from flowlog.storage.file_batches import write_all
from flowlog.storage.file_slice import FileSlice
from flowlog.storage.leader_epoch import LeaderEpochCache
from flowlog.storage.log_loader import load_partition
from flowlog.storage.offsets import (
    retention_delete_count,
    roll_reason,
    segment_for_offset,
)
from flowlog.storage.segment import NO_FAST_APPEND, LogSegment
from flowlog.storage.timestamp_lookup import find_max_timestamp_offset, find_offset_for_timestamp

# The prefix the log rewrites: base offset, batch length, partition leader epoch.
REWRITTEN_PREFIX_SIZE = 16


_write = os.write
_writev = os.writev
# The header fields every append reads, in one C call (a NamedTuple's named access
# is a descriptor call per field).
_append_fields = operator.itemgetter(*(BatchHeader._fields.index(name) for name in (
    "batch_length", "last_offset_delta", "max_timestamp", "records_count")))


def _stamped(batch: bytes | bytearray | memoryview, now_ms: int) -> bytearray | memoryview:
    """`batch` marked LogAppendTime at `now_ms`: in place when writable, else a copy
    (the timestamp lies inside the CRC, so it cannot go in a separate prefix)."""
    writable = batch if type(batch) is bytearray or (
        type(batch) is memoryview and not batch.readonly) else bytearray(batch)
    set_log_append_time(writable, now_ms)
    return writable


class PartitionLog:
    def __init__(self, directory: Path, config: LogConfig, segments: list[LogSegment],
                 log_start_offset: int, recovery_point: int,
                 epoch_cache: LeaderEpochCache, now_ms: int) -> None:
        assert segments, "a log always has an active segment"
        self.directory = directory
        self.segments = segments
        self.base_offsets = [segment.base_offset for segment in segments]
        self.segment_created_ms = {segment.base_offset: now_ms for segment in segments}
        self._log_start_offset = log_start_offset
        self.recovery_point = recovery_point
        self.epoch_cache = epoch_cache
        # The cache's latest epoch, read on every append; refreshed by
        # _write_epoch_checkpoint(), which follows every change to the cache.
        self._latest_epoch = epoch_cache.latest_epoch
        # Batches appended / covered by a flush: each written by one side only (append on
        # the event loop, flush() under _flush_lock), so append needs no lock.
        self._appended_batches = 0
        self._flushed_batches = 0
        self.first_unflushed_ms = 0
        # Rolled segments not fsynced yet (the active one is flushed when written to).
        self.unflushed_segments: list[LogSegment] = []
        self.directory_dirty = False
        self.closed = False
        # Guards the flush bookkeeping, which flush() reads from a worker thread.
        self._flush_lock = threading.Lock()
        self._use_config(config)

    def _use_config(self, config: LogConfig) -> None:
        self.config = config
        # Plain attributes of the log for what every append reads: the config object
        # is one more object for the append path to touch.
        self._log_append_time = config.log_append_time
        self._max_message_bytes = config.max_message_bytes
        self._index_interval_bytes = config.index_interval_bytes
        self._flushes_by_policy = config.flush_messages < INT64_MAX or config.flush_ms < INT64_MAX

    # --- opening and closing ------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, config: LogConfig, now_ms: int) -> PartitionLog:
        """Open the log in `directory`, creating it if absent and recovering it if needed."""
        loaded = load_partition(directory, config)
        log = cls(directory, config, loaded.segments, loaded.log_start_offset,
                  loaded.recovery_point, loaded.epoch_cache, now_ms)
        if loaded.epochs_changed:
            log._write_epoch_checkpoint()
        if loaded.log_start_changed:
            log._write_log_start_checkpoint()
        if loaded.clean_shutdown:
            # Removed durably before any append, or a later crash would look clean.
            (directory / checkpoint.CLEAN_SHUTDOWN_MARKER).unlink()
            checkpoint.fsync_directory(directory)
        return log

    def close(self) -> None:
        """Flush everything and mark the shutdown clean, so the next open skips recovery."""
        if self.closed:
            return
        self.active_segment.on_roll()
        self.flush()
        self.active_segment.flush()  # its indexes too: a clean restart trusts them
        checkpoint.write_single_offset(
            self.directory / checkpoint.RECOVERY_POINT_CHECKPOINT, self.log_end_offset)
        for segment in self.segments:
            segment.close()
        marker = self.directory / checkpoint.CLEAN_SHUTDOWN_MARKER
        marker.touch()
        checkpoint.fsync_directory(self.directory)
        self.closed = True

    def abandon(self) -> None:
        """Drop everything not yet written as a process crash would: unwritten index
        entries are lost, no flush, no clean-shutdown marker. (Batches are written
        on append, so they are all in the page cache.)"""
        for segment in self.segments:
            segment.close(write_indexes=False)
        self.closed = True

    # --- properties ----------------------------------------------------------------------

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The next offset to assign."""
        return self.active_segment.next_offset

    @property
    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self.segments)

    @property
    def latest_epoch(self) -> int:
        return self.epoch_cache.latest_epoch

    # --- append --------------------------------------------------------------------------

    def append(self, batch: bytes | bytearray | memoryview, *, leader_epoch: int, now_ms: int,
               assign_offsets: bool = True,
               validated_header: BatchHeader | None = None) -> int:
        """Validate one v2 batch, append it and return its base offset.

        The rest of what the append did follows from the header and the log: the
        last offset is base + last_offset_delta, and with
        message.timestamp.type=LogAppendTime the batch's timestamp is `now_ms`.

        validated_header: what record_batch.validate_batch returned for this very
        batch, when the caller has validated it already; the CRC is then not
        computed a second time (the header's batch length must match the bytes).

        assign_offsets=True (leader): the batch gets the log end offset and
        `leader_epoch` in its first 16 bytes (outside the CRC), the rest is never
        copied. A writable batch (bytearray, or a memoryview of one) is rewritten
        in place and written with one write(), as Kafka assigns offsets inside
        its buffer: the caller's bytes then carry the stored offsets (a failed
        append may have rewritten them too). A read-only batch is left untouched
        and written with a writev of a new prefix and the rest.
        assign_offsets=False (follower): the batch is stored byte for byte; its
        base offset must be >= the log end offset and its own partition leader
        epoch goes into the epoch cache (`leader_epoch` unused).
        """
        if validated_header is None:
            header = validate_batch(batch)
        else:
            header = validated_header
            if header.batch_length + BATCH_LENGTH_PREFIX_SIZE != len(batch):
                raise InvalidBatchError("validated_header does not describe this batch")
        return self.append_validated(batch, header, leader_epoch, now_ms, assign_offsets)

    def append_validated(self, batch: bytes | bytearray | memoryview, header: BatchHeader,
                         leader_epoch: int, now_ms: int, assign_offsets: bool = True) -> int:
        """append() of a batch whose header validate_batch returned for these very
        bytes (the produce path validates once, in Partition.append). Trusted, not
        checked again: the hot path, with positional arguments.

        Header fields unpacked with one C call, the roll rule checked against
        limits the segment was given (roll_reason() otherwise), the segment
        update inlined, the epoch cache consulted only when the epoch changes, no
        lock (see flush()). A closed log is caught by the full roll check, which
        close() forces.
        """
        batch_length, last_offset_delta, max_timestamp, records_count = _append_fields(header)
        size_bytes = batch_length + BATCH_LENGTH_PREFIX_SIZE
        if size_bytes > self._max_message_bytes:
            raise RecordBatchTooLargeError(
                f"record batch of {size_bytes} bytes is above max.message.bytes "
                f"{self._max_message_bytes}")
        active = self.segments[-1]
        prefix = None  # a new first 16 bytes, for a read-only batch
        if assign_offsets:
            if records_count != last_offset_delta + 1:
                raise InvalidBatchError(
                    f"record batch holds {records_count} records but its last offset "
                    f"delta is {last_offset_delta}")
            base_offset = active.next_offset
            epoch = leader_epoch
            if self._log_append_time:
                batch = _stamped(batch, now_ms)
                max_timestamp = now_ms
            if type(batch) is bytearray or (type(batch) is memoryview and not batch.readonly):
                pack_offset_and_epoch_into(batch, 0, base_offset, batch_length, epoch)
            else:
                prefix = pack_offset_and_epoch(base_offset, batch_length, epoch)
        else:
            base_offset = header.base_offset
            epoch = header.partition_leader_epoch
            if base_offset < active.next_offset:
                raise InvalidAppendOffsetError(
                    f"replicated batch base offset {base_offset} is below the log end "
                    f"offset {active.next_offset}")
        last_offset = base_offset + last_offset_delta
        # Roll check against the limits the active segment was given (see
        # LogSegment.set_roll_limits); anything else goes through roll_reason().
        position = active.size_bytes
        if not (position + size_bytes <= active.roll_limit_bytes
                and 0 <= max_timestamp < active.roll_at_timestamp
                and last_offset <= active.last_offset_limit):
            active = self._segment_for_append(base_offset, last_offset, max_timestamp,
                                              size_bytes, now_ms)
            position = active.size_bytes
            if position == 0:
                # Set before the write; a failed write leaves the segment empty, and
                # the next append (slow path again) sets it anew.
                active.first_batch_timestamp = max_timestamp
        # LogSegment.append inlined: one write (or writev), then the bookkeeping.
        fd = active.fd
        try:
            if prefix is None:
                written = _write(fd, batch)
            else:
                written = _writev(fd, (prefix, memoryview(batch)[REWRITTEN_PREFIX_SIZE:]))
            if written != size_bytes:  # a short write: start the batch over
                os.ftruncate(fd, position)
                write_all(fd, [batch] if prefix is None else
                          [prefix, memoryview(batch)[REWRITTEN_PREFIX_SIZE:]], size_bytes)
        except OSError:
            os.ftruncate(fd, position)  # never leave half a batch behind a live segment
            raise
        active.next_offset = last_offset + 1
        if max_timestamp > active.max_timestamp:
            active.max_timestamp = max_timestamp
            active.offset_of_max_timestamp = last_offset
        if active.bytes_since_last_index_entry > self._index_interval_bytes:
            # LogSegment.index_batch inlined (the roll limit bounds how many).
            active.index_pending += (last_offset, position, active.max_timestamp,
                                     active.offset_of_max_timestamp)
            active.bytes_since_last_index_entry = size_bytes
        else:
            active.bytes_since_last_index_entry += size_bytes
        active.size_bytes = position + size_bytes
        # Same epoch as the latest: assign() would be a no-op, skip it on the hot path.
        if epoch != self._latest_epoch and epoch >= 0 and self.epoch_cache.assign(
                epoch, base_offset):
            self._write_epoch_checkpoint()
        # Flush bookkeeping without a lock: only append writes _appended_batches and
        # only flush() writes _flushed_batches (see flush() for why races are safe).
        if self._appended_batches == self._flushed_batches:
            self.first_unflushed_ms = now_ms
        self._appended_batches += 1
        return base_offset

    def _segment_for_append(self, base_offset: int, last_offset: int, max_timestamp: int,
                            size_bytes: int, now_ms: int) -> LogSegment:
        """The segment to append to, rolling first if roll_reason() says so (the slow
        path: append() checks the common case inline), with its roll limits set."""
        self._check_open()
        active = self.active_segment
        config = self.config
        reason = roll_reason(
            segment_size_bytes=active.size_bytes,
            segment_base_offset=active.base_offset,
            first_batch_timestamp=active.first_batch_timestamp,
            segment_created_ms=self.segment_created_ms.get(active.base_offset, now_ms),
            batch_size_bytes=size_bytes,
            batch_last_offset=last_offset,
            batch_max_timestamp=max_timestamp,
            indexes_full=active.indexes_full,
            now_ms=now_ms,
            segment_bytes=config.segment_bytes,
            segment_ms=config.segment_ms,
        )
        if reason is not None:
            active = self.roll(now_ms, base_offset=base_offset)
        active.set_roll_limits(config.segment_bytes, config.segment_ms,
                               config.index_interval_bytes)
        return active

    def roll(self, now_ms: int, *, base_offset: int | None = None) -> LogSegment:
        """Close the active segment and start a new one at `base_offset` (the log end)."""
        self._check_open()
        new_base = self.log_end_offset if base_offset is None else base_offset
        assert new_base >= self.log_end_offset
        active = self.active_segment
        if active.size_bytes == 0:
            if new_base == active.base_offset:
                return active
            # An empty segment cannot hold a batch this far ahead: replace it.
            self._drop_segment(len(self.segments) - 1)
            if not self.segments:
                # Nothing lies between: the log now starts where the next batch will.
                self._log_start_offset = new_base
                self._write_log_start_checkpoint()
        else:
            active.on_roll()
            with self._flush_lock:
                if active not in self.unflushed_segments:
                    self.unflushed_segments.append(active)
        segment = LogSegment.create(self.directory, new_base, self.config.segment_index_bytes)
        self.segments.append(segment)
        self.base_offsets.append(new_base)
        self.segment_created_ms[new_base] = now_ms
        self.directory_dirty = True
        return segment

    # --- read ----------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, *,
             max_offset: int | None = None) -> bytes | memoryview:
        """Whole batches from the batch holding `offset`, within one segment.

        At least one batch even above max_bytes; never a batch whose last offset
        is >= max_offset (so a batch straddling it is left out); empty at the log
        end. Raises OffsetOutOfRangeError outside [log start, log end].
        """
        found = self._read_span(offset, max_bytes, max_offset)
        if found is None:
            return b""
        segment, position, end = found
        return os.pread(segment.fd, end - position, position)

    def read_slice(self, offset: int, max_bytes: int, *,
                   max_offset: int | None = None) -> FileSlice | None:
        """What read() would return, as an open file slice instead of bytes (None
        where read() returns b""), for a zero-copy os.sendfile. The caller closes it.

        The slice holds its own file descriptor (os.dup), so retention, compaction
        or closing the log cannot make it read another file; a truncation of the
        same segment can shorten it (FileSlice.send reports that).
        """
        found = self._read_span(offset, max_bytes, max_offset)
        if found is None:
            return None
        segment, position, end = found
        return FileSlice(os.dup(segment.fd), position, end - position)

    def _read_span(self, offset: int, max_bytes: int,
                   max_offset: int | None) -> tuple[LogSegment, int, int] | None:
        """(segment, start, end) of a non-empty read, or None for an empty one."""
        self._check_open()
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._check_in_range(offset)
        if offset == self.log_end_offset:
            return None
        first = segment_for_offset(self.base_offsets, offset)
        for segment in self.segments[first:]:
            span = segment.read_span(offset, max_bytes, max_offset)
            if span is None:
                continue  # nothing at or after `offset` here (a gap): the next segment
            start, end = span
            return (segment, start, end) if end > start else None
        return None

    def iter_batch_headers(self, from_offset: int = 0) -> Iterator[BatchHeader]:
        """Headers of every batch holding offsets >= `from_offset`, in order."""
        self._check_open()
        first = segment_for_offset(self.base_offsets, from_offset)
        for segment in list(self.segments[first:]):
            found = segment.find_batch(from_offset)
            if found is None:
                continue
            for _position, header in segment.iter_headers(found[0]):
                yield header

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `timestamp_ms`.

        Kafka's ListOffsets semantics: the first batch whose max timestamp is >=
        the target is decoded, and the exact offset and timestamp of its first
        record with timestamp >= target is returned (never below the log start).
        None when no record is that recent.
        """
        self._check_open()
        return find_offset_for_timestamp(self.segments, timestamp_ms, self._log_start_offset)

    def offset_of_max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets -3)."""
        self._check_open()
        return find_max_timestamp_offset(self.segments, self._log_start_offset)

    def update_config(self, config: LogConfig) -> None:
        """Use `config` from now on; index sizes apply to segments created later."""
        self._use_config(config)
        self.active_segment.roll_limit_bytes = NO_FAST_APPEND  # limits come from the config

    # --- truncation and deletion ---------------------------------------------------------

    def truncate_to(self, offset: int) -> bool:
        """Drop every batch holding an offset >= `offset` (a straddling batch goes too).

        The log end becomes the end of the last batch kept. Returns whether
        anything changed.
        """
        self._check_open()
        if offset >= self.log_end_offset:
            # A former leader's epoch may start at the log end with no batch in it; a
            # follower must drop it, or it claims that epoch in every fetch (Kafka's
            # UnifiedLog.truncateTo does the same).
            if self.epoch_cache.truncate_from_end(self.log_end_offset):
                self._write_epoch_checkpoint()
            return False
        if offset <= self._log_start_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        while len(self.segments) > 1 and self.active_segment.base_offset >= offset:
            self._drop_segment(len(self.segments) - 1)
        self.active_segment.truncate_to(offset)
        log_end_offset = self.log_end_offset
        self.unflushed_segments = [s for s in self.unflushed_segments if s in self.segments]
        if log_end_offset < self._log_start_offset:
            self._log_start_offset = log_end_offset
            self._write_log_start_checkpoint()
        if self.epoch_cache.truncate_from_end(log_end_offset):
            self._write_epoch_checkpoint()
        self._lower_recovery_point(log_end_offset)
        self._lower_cleaner_checkpoint(log_end_offset)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment; the log restarts empty at `offset`."""
        self._check_open()
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        for segment in self.segments:
            segment.delete()
        segment = LogSegment.create(self.directory, offset, self.config.segment_index_bytes)
        self.segments = [segment]
        self.base_offsets = [offset]
        self.unflushed_segments = []
        self._log_start_offset = offset
        self._write_log_start_checkpoint()
        if self.epoch_cache.clear():
            self._write_epoch_checkpoint()
        self._lower_recovery_point(offset, force=True)
        self._lower_cleaner_checkpoint(offset)
        checkpoint.fsync_directory(self.directory)

    def delete_records_before(self, offset: int) -> int:
        """Move the log start offset up to `offset` (DeleteRecords); returns the log start."""
        self._check_open()
        if offset > self.log_end_offset or offset < 0:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, self.log_end_offset)
        if offset > self._log_start_offset:
            self._advance_log_start(offset)
        return self._log_start_offset

    def apply_retention(self, now_ms: int) -> int:
        """Delete closed segments past retention.ms or retention.bytes; returns how many."""
        self._check_open()
        if not self.config.delete:
            return 0
        closed = self.segments[:-1]
        count = retention_delete_count(
            closed_sizes_bytes=[segment.size_bytes for segment in closed],
            closed_max_timestamps=[segment.max_timestamp for segment in closed],
            total_size_bytes=self.size_bytes,
            now_ms=now_ms,
            retention_ms=self.config.retention_ms,
            retention_bytes=self.config.retention_bytes,
        )
        if count:
            self._advance_log_start(max(self._log_start_offset, self.segments[count].base_offset))
        return count

    def _advance_log_start(self, offset: int) -> None:
        # Checkpoint first: a crash before the deletions leaves extra data, never a gap.
        self._log_start_offset = offset
        self._write_log_start_checkpoint()
        while len(self.segments) > 1 and self.segments[1].base_offset <= offset:
            self._drop_segment(0)
        if self.epoch_cache.truncate_from_start(offset):
            self._write_epoch_checkpoint()

    def _drop_segment(self, position: int) -> None:
        segment = self.segments.pop(position)
        self.base_offsets.pop(position)
        self.segment_created_ms.pop(segment.base_offset, None)
        if segment in self.unflushed_segments:
            self.unflushed_segments.remove(segment)
        segment.delete()
        self.directory_dirty = True

    def compact(self, now_ms: int, *, force: bool = False,
                last_batches: dict[int, int] | None = None) -> CompactionResult | None:
        """Run compaction if cleanup.policy has compact and the dirty ratio asks for it.

        last_batches: producer id -> base offset of its last batch in the log, from
        a caller that tracks producers (the broker); without it the cleaner reads
        every batch header of the log to find them.
        """
        self._check_open()
        if not self.config.compact:
            return None
        return compact_log(self, now_ms, force=force, last_batches=last_batches)

    def replace_segment(self, position: int, segment: LogSegment) -> None:
        """Put a compacted segment in place of the one at `position` (same base offset)."""
        old = self.segments[position]
        assert segment.base_offset == old.base_offset
        self.segments[position] = segment
        self.unflushed_segments = [s for s in self.unflushed_segments if s is not old]

    # --- leader epochs -------------------------------------------------------------------

    def assign_epoch(self, epoch: int, start_offset: int) -> None:
        self._check_open()
        if self.epoch_cache.assign(epoch, start_offset):
            self._write_epoch_checkpoint()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) as OffsetForLeaderEpoch answers; (-1, -1) if unknown."""
        return self.epoch_cache.end_offset_for(epoch, self.log_end_offset)

    # --- flush ---------------------------------------------------------------------------

    @property
    def unflushed_batches(self) -> int:
        """Batches appended since the last flush() took its snapshot."""
        return self._appended_batches - self._flushed_batches

    def needs_flush(self, now_ms: int) -> bool:
        """Whether flush.messages or flush.ms asks for an fsync now."""
        if not self._flushes_by_policy:  # both unset: the OS writes back (the default)
            return False
        unflushed = self._appended_batches - self._flushed_batches
        if unflushed <= 0:
            return False
        if unflushed >= self.config.flush_messages:
            return True
        return now_ms - self.first_unflushed_ms >= self.config.flush_ms

    def flush(self) -> None:
        """fsync every segment written since the last flush (safe in a worker thread).

        What was appended before the call is durable when it returns. An fsync
        error propagates; treat the log as failed then (Kafka takes the disk offline).
        """
        self._check_open()
        with self._flush_lock:
            # Snapshot the count before the log end: append() bumps the count after the
            # log end, so a batch between the two is inside flushed_to (it was written
            # before the log end moved) and counted unflushed: one fsync too many at
            # worst, never one too few.
            appended = self._appended_batches
            active = self.segments[-1]
            flushed_to = active.next_offset
            pending, self.unflushed_segments = self.unflushed_segments, []
            # The active segment holds unsynced bytes when anything was appended since
            # the last flush or the log end passed the recovery point (a truncation
            # lowered it, or an append slipped in between the two reads above).
            if ((appended != self._flushed_batches or flushed_to > self.recovery_point)
                    and active not in pending):
                pending.append(active)
            self._flushed_batches = max(self._flushed_batches, appended)
            directory_dirty, self.directory_dirty = self.directory_dirty, False
        for segment in pending:
            # A segment rolled meanwhile is queued again by roll(), indexes and all.
            segment.flush(indexes=segment is not active)
        if directory_dirty:
            checkpoint.fsync_directory(self.directory)
        with self._flush_lock:
            self._raise_recovery_point(flushed_to)

    def _raise_recovery_point(self, offset: int) -> None:
        # Recovery works per segment, so the checkpoint is rewritten only when the
        # flushed point enters a new segment: cheap enough for flush.messages=1.
        old_base = self.base_offsets[segment_for_offset(self.base_offsets, self.recovery_point)]
        new_base = self.base_offsets[segment_for_offset(self.base_offsets, offset)]
        self.recovery_point = max(self.recovery_point, offset)
        if new_base != old_base:
            checkpoint.write_single_offset(
                self.directory / checkpoint.RECOVERY_POINT_CHECKPOINT, self.recovery_point)

    def _lower_cleaner_checkpoint(self, offset: int) -> None:
        path = self.directory / checkpoint.CLEANER_OFFSET_CHECKPOINT
        stored = checkpoint.read_single_offset(path)
        if stored is not None and stored > offset:
            checkpoint.write_single_offset(path, offset)

    def _lower_recovery_point(self, offset: int, *, force: bool = False) -> None:
        if force or offset < self.recovery_point:
            self.recovery_point = offset
            checkpoint.write_single_offset(
                self.directory / checkpoint.RECOVERY_POINT_CHECKPOINT, offset)

    # --- helpers -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise LogClosedError(f"log {self.directory} is closed")

    def _check_in_range(self, offset: int) -> None:
        if not self._log_start_offset <= offset <= self.log_end_offset:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, self.log_end_offset)

    def _write_epoch_checkpoint(self) -> None:
        self._latest_epoch = self.epoch_cache.latest_epoch
        checkpoint.write_checkpoint(self.directory / checkpoint.LEADER_EPOCH_CHECKPOINT,
                                    [(epoch, start) for epoch, start in self.epoch_cache.entries])

    def _write_log_start_checkpoint(self) -> None:
        checkpoint.write_single_offset(
            self.directory / checkpoint.LOG_START_OFFSET_CHECKPOINT, self._log_start_offset)

    def __repr__(self) -> str:
        return (f"PartitionLog({self.directory}, start={self._log_start_offset}, "
                f"end={self.log_end_offset}, segments={len(self.segments)})")


assert BATCH_HEADER_SIZE > REWRITTEN_PREFIX_SIZE
