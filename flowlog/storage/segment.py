"""One log segment: a .log file of batches with its .index and .timeindex.

Files are named by the segment's base offset, zero-padded to 20 digits
(00000000000000000000.log), as Kafka names them.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from flowlog.protocol.record_batch import (
    BATCH_HEADER_SIZE,
    BatchHeader,
    InvalidBatchError,
    parse_header,
    validate_batch,
)
from flowlog.storage.errors import CorruptLogError
from flowlog.storage.file_batches import iter_stored_batches, read_header_at, write_all
from flowlog.storage.index import OFFSET_ENTRY, TIME_ENTRY, IndexFile, OffsetIndex, TimeIndex

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)
INT32_MAX = 2**31 - 1
NO_TIMESTAMP = -1
# A roll_limit_bytes no batch fits under: the next append takes the full roll check.
NO_FAST_APPEND = -1
# Index entries queued on the append path before the full roll check applies them.
PENDING_INDEX_ENTRIES_MAX = 4096
# index.interval.bytes of indexes rebuilt when a lazily loaded one is found damaged.
REBUILT_INDEX_INTERVAL_BYTES = 4096

logger = logging.getLogger(__name__)


def segment_path(directory: Path, base_offset: int, suffix: str) -> Path:
    return directory / f"{base_offset:020d}{suffix}"


def parse_base_offset(name: str) -> int | None:
    """Base offset of a segment file name such as 00000000000000000042.log."""
    stem = name.split(".", 1)[0]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


class LogSegment:
    def __init__(self, directory: Path, base_offset: int, index_size_bytes_max: int,
                 file_suffix: str = "") -> None:
        self.directory = directory
        self.base_offset = base_offset
        # Compaction writes a replacement segment under names ending in ".cleaned".
        self.file_suffix = file_suffix
        self.log_path = segment_path(directory, base_offset, LOG_SUFFIX + file_suffix)
        self.index_size_bytes_max = index_size_bytes_max
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        # None until first used when the segment was opened with lazy_indexes (a
        # closed segment of a cleanly shut down log: most are never read again).
        self._offset_index: OffsetIndex | None = None
        self._time_index: TimeIndex | None = None
        # Index entries not yet in the indexes, 4 ints each (last offset, position, max
        # timestamp so far, its offset): the append path only extends this list, and
        # the offset_index / time_index properties move them over before any use.
        self.index_pending: list[int] = []
        self.size_bytes = 0
        # Offset after the last stored batch (base_offset while empty).
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = base_offset
        # segment.ms counts from the first batch's max timestamp, as Kafka does.
        self.first_batch_timestamp = NO_TIMESTAMP
        self.bytes_since_last_index_entry = 0
        # The active segment's roll limits, for PartitionLog.append's fast path: a batch
        # whose end stays <= roll_limit_bytes, whose max timestamp lies in
        # [0, roll_at_timestamp) and whose last offset is <= last_offset_limit needs
        # no roll. The log sets them (set_roll_limits) once the segment has a first
        # batch; anything that could change the answer resets roll_limit_bytes to
        # NO_FAST_APPEND, which sends the next append through the full roll check.
        self.roll_limit_bytes = NO_FAST_APPEND
        self.roll_at_timestamp = 0
        self.last_offset_limit = base_offset + INT32_MAX

    def set_roll_limits(self, segment_bytes: int, segment_ms: int,
                        index_interval_bytes: int) -> None:
        """Allow fast appends until segment.ms after the first batch's timestamp and
        up to an end position that segment.bytes and the room left in the indexes
        both allow, when the segment has a first batch with a timestamp (otherwise
        every append takes the full roll check).

        Index room as bytes: an index entry needs more than index.interval.bytes,
        and at least one batch header, since the previous one, so appends ending
        at or before size + (room - 1) * step add fewer than `room` entries. The
        room is capped at PENDING_INDEX_ENTRIES_MAX, and reading the indexes here
        applies the queued entries, so the queue stays bounded even if nothing
        reads the log.
        """
        offsets, times = self.offset_index.file, self.time_index.file
        room = min(offsets.entries_max - len(offsets), times.entries_max - len(times),
                   PENDING_INDEX_ENTRIES_MAX)
        if self.size_bytes and self.first_batch_timestamp >= 0 and room >= 2:
            step = max(index_interval_bytes + 1, BATCH_HEADER_SIZE)
            self.roll_limit_bytes = min(segment_bytes, self.size_bytes + (room - 1) * step)
            self.roll_at_timestamp = self.first_batch_timestamp + segment_ms

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, base_offset: int, index_size_bytes_max: int,
               file_suffix: str = "") -> LogSegment:
        for suffix in SEGMENT_SUFFIXES:
            segment_path(directory, base_offset, suffix + file_suffix).unlink(missing_ok=True)
        segment = cls(directory, base_offset, index_size_bytes_max, file_suffix)
        segment._create_indexes()
        return segment

    @classmethod
    def load(cls, directory: Path, base_offset: int, index_size_bytes_max: int, *,
             lazy_indexes: bool = False) -> LogSegment:
        """Open a segment trusting its files after sanity checks.

        Raises CorruptLogError on any doubt; the caller then recovers it instead.
        lazy_indexes: check only the last entry of each index now, and read the
        whole indexes when first used (as Kafka's lazy indexes); an index found
        damaged then is rebuilt from the segment's batch headers.
        """
        segment = cls(directory, base_offset, index_size_bytes_max)
        try:
            segment._load_checked(lazy_indexes)
        except CorruptLogError:
            segment.close()
            raise
        return segment

    @classmethod
    def recover(
        cls, directory: Path, base_offset: int, index_size_bytes_max: int,
        index_interval_bytes: int, expected_min_offset: int,
    ) -> tuple[LogSegment, bool]:
        """Validate every batch (length, CRC, offsets), cut the file at the first bad one,
        and rebuild both indexes. Returns the segment and whether anything was cut."""
        segment = cls(directory, base_offset, index_size_bytes_max)
        segment._create_indexes()
        file_size = os.fstat(segment.fd).st_size
        expected = max(base_offset, expected_min_offset)
        valid_end = 0
        for position, batch in iter_stored_batches(segment.fd, 0, file_size):
            try:
                header = validate_batch(batch)
            except InvalidBatchError:
                break
            if header.base_offset < expected or header.last_offset - base_offset > INT32_MAX:
                break
            segment._account(header.last_offset, header.max_timestamp, header.size, position,
                             index_interval_bytes)
            expected = header.next_offset
            valid_end = position + header.size
        truncated = valid_end < file_size
        if truncated:
            os.ftruncate(segment.fd, valid_end)
        segment.size_bytes = valid_end
        return segment, truncated

    @property
    def offset_index(self) -> OffsetIndex:
        if self.index_pending or self._offset_index is None:
            self._prepare_indexes()
        assert self._offset_index is not None
        return self._offset_index

    @property
    def time_index(self) -> TimeIndex:
        if self.index_pending or self._time_index is None:
            self._prepare_indexes()
        assert self._time_index is not None
        return self._time_index

    def _prepare_indexes(self) -> None:
        """Load lazily opened indexes, then apply queued entries."""
        if self._offset_index is None or self._time_index is None:
            try:
                self._offset_index = OffsetIndex.load(
                    self._index_path(INDEX_SUFFIX), self.base_offset, self.index_size_bytes_max)
                self._time_index = TimeIndex.load(
                    self._index_path(TIME_INDEX_SUFFIX), self.base_offset,
                    self.index_size_bytes_max)
            except CorruptLogError as error:
                logger.warning("%s: %s; rebuilding its indexes", self.log_path, error)
                self._rebuild_indexes()
        if self.index_pending:
            self._apply_pending_index_entries()

    def _rebuild_indexes(self) -> None:
        """Fresh indexes from the batch headers (any index density is correct; this
        one is Kafka's default). They reach the files at flush or close."""
        self._create_indexes()
        since_entry = 0
        max_timestamp, offset_of_max = NO_TIMESTAMP, self.base_offset
        for position, header in self.iter_headers():
            if header.max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = header.max_timestamp, header.last_offset
            if since_entry > REBUILT_INDEX_INTERVAL_BYTES:
                self.index_pending += (header.last_offset, position, max_timestamp,
                                       offset_of_max)
                since_entry = 0
            since_entry += header.size
        self._apply_pending_index_entries()
        if max_timestamp != NO_TIMESTAMP:
            self.time_index.maybe_append(max_timestamp, offset_of_max)

    def _index_path(self, suffix: str) -> Path:
        return segment_path(self.directory, self.base_offset, suffix + self.file_suffix)

    @property
    def indexes_full(self) -> bool:
        """Either index holds its maximum entry count (the log rolls)."""
        return self.offset_index.file.is_full or self.time_index.file.is_full

    def _create_indexes(self) -> None:
        self._offset_index = OffsetIndex.create(
            self._index_path(INDEX_SUFFIX), self.base_offset, self.index_size_bytes_max)
        self._time_index = TimeIndex.create(
            self._index_path(TIME_INDEX_SUFFIX), self.base_offset, self.index_size_bytes_max)

    def _load_checked(self, lazy_indexes: bool = False) -> None:
        last_offset_entry: tuple[int, int] | None  # (relative offset, position)
        last_time_entry: tuple[int, int] | None  # (timestamp, relative offset)
        if lazy_indexes:
            _, last_offset_entry = IndexFile.peek(self._index_path(INDEX_SUFFIX), OFFSET_ENTRY)
            _, last_time_entry = IndexFile.peek(self._index_path(TIME_INDEX_SUFFIX), TIME_ENTRY)
            if last_offset_entry is not None and min(last_offset_entry) < 0:
                raise CorruptLogError(f"{self.log_path}: negative last index entry")
        else:
            offsets = OffsetIndex.load(
                self._index_path(INDEX_SUFFIX), self.base_offset, self.index_size_bytes_max)
            times = TimeIndex.load(
                self._index_path(TIME_INDEX_SUFFIX), self.base_offset, self.index_size_bytes_max)
            self._offset_index, self._time_index = offsets, times
            last_offset_entry = (offsets.file.keys[-1], offsets.file.values[-1]) if len(
                offsets.file) else None
            last_time_entry = (times.file.keys[-1], times.file.values[-1]) if len(
                times.file) else None
        file_size = os.fstat(self.fd).st_size
        indexed_offset, indexed_position = self.base_offset - 1, 0
        if last_offset_entry is not None:
            indexed_offset = self.base_offset + last_offset_entry[0]
            indexed_position = last_offset_entry[1]
            header = read_header_at(self.fd, indexed_position)
            if header is None or header.last_offset != indexed_offset:
                raise CorruptLogError(f"{self.log_path}: last index entry points at no batch")
        expected = self.base_offset
        end = indexed_position
        for position, batch in iter_stored_batches(self.fd, indexed_position, file_size):
            header = parse_header(batch)
            if header.base_offset < expected or header.magic != 2:
                raise CorruptLogError(f"{self.log_path}: offsets go back at position {position}")
            self._note_batch(header.last_offset, header.max_timestamp)
            expected = header.next_offset
            end = position + header.size
        if end != file_size:
            raise CorruptLogError(f"{self.log_path}: tail does not end on a batch boundary")
        self.size_bytes = file_size
        self.bytes_since_last_index_entry = file_size - indexed_position
        if last_time_entry is not None:
            timestamp, offset = last_time_entry[0], self.base_offset + last_time_entry[1]
            if offset >= max(self.next_offset, self.base_offset + 1):
                raise CorruptLogError(f"{self.log_path}: time index points past the log end")
            if timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = timestamp, offset
        if file_size:
            first = read_header_at(self.fd, 0)
            assert first is not None
            self.first_batch_timestamp = first.max_timestamp

    # --- writing -------------------------------------------------------------------------

    def append(self, buffers: Sequence[bytes | bytearray | memoryview], base_offset: int,
               last_offset: int, max_timestamp: int, size_bytes: int,
               index_interval_bytes: int) -> None:
        """Write one batch given as `buffers` whose final offsets are given.

        The general path (compaction's cleaned segments). PartitionLog.append
        inlines the same steps for the active segment.
        """
        assert base_offset >= self.next_offset, "offsets must increase"
        position = self.size_bytes
        try:
            write_all(self.fd, buffers, size_bytes)
        except OSError:
            os.ftruncate(self.fd, position)  # never leave half a batch behind a live segment
            raise
        self._account(last_offset, max_timestamp, size_bytes, position, index_interval_bytes)
        self.size_bytes = position + size_bytes

    def _account(self, last_offset: int, max_timestamp: int, size_bytes: int, position: int,
                 index_interval_bytes: int) -> None:
        """Update offsets, timestamps and sparse indexes for a batch now at `position`."""
        self._note_batch(last_offset, max_timestamp)
        if position == 0:
            self.first_batch_timestamp = max_timestamp
        if self.bytes_since_last_index_entry > index_interval_bytes:
            self.index_batch(last_offset, position)
            self.bytes_since_last_index_entry = size_bytes
        else:
            self.bytes_since_last_index_entry += size_bytes

    def index_batch(self, last_offset: int, position: int) -> None:
        """Index the batch ending at `last_offset` stored at `position`, and the max
        timestamp so far. PartitionLog.append_validated inlines this: keep the two alike."""
        self.index_pending += (last_offset, position, self.max_timestamp,
                               self.offset_of_max_timestamp)

    def _apply_pending_index_entries(self) -> None:
        """Move index_pending into the indexes, in bulk (list slices, one pass for the
        time index). Entries reach the files at flush, roll or close."""
        pending, self.index_pending = self.index_pending, []
        assert self._offset_index is not None and self._time_index is not None
        offsets, times = self._offset_index.file, self._time_index.file
        base_offset = self.base_offset
        # Appended in offset order: the keys increase, as IndexFile.append checks.
        offsets.keys.extend([last_offset - base_offset for last_offset in pending[0::4]])
        offsets.values.extend(pending[1::4])
        time_keys, time_values = times.keys, times.values
        latest = time_keys[-1] if time_keys else NO_TIMESTAMP - 1
        room = times.entries_max - len(time_keys)
        for max_timestamp, offset in zip(pending[2::4], pending[3::4], strict=True):
            if max_timestamp > latest and room > 0:
                time_keys.append(max_timestamp)
                time_values.append(offset - base_offset)
                latest = max_timestamp
                room -= 1

    def _note_batch(self, last_offset: int, max_timestamp: int) -> None:
        self.next_offset = last_offset + 1
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = last_offset

    def on_roll(self) -> None:
        """The segment stops being active: index its final max timestamp (retention reads it)."""
        self.roll_limit_bytes = NO_FAST_APPEND
        if self.max_timestamp != NO_TIMESTAMP:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)

    # --- reading -------------------------------------------------------------------------

    def find_batch(self, offset: int, start_position: int | None = None) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch whose last offset is >= `offset`."""
        position = self.offset_index.lookup(offset)[1] if start_position is None else start_position
        while position < self.size_bytes:
            header = read_header_at(self.fd, position)
            assert header is not None, f"{self.log_path}: header cut at {position}"
            if header.last_offset >= offset:
                return position, header
            position += header.size
        return None

    def read(self, offset: int, max_bytes: int, max_offset: int | None) -> bytes:
        """Whole batches from the one holding `offset`: at least one batch if any is
        allowed, none whose last offset is >= max_offset, no more than max_bytes after
        the first. One pread; batch boundaries come from the index, not a scan."""
        span = self.read_span(offset, max_bytes, max_offset)
        if span is None or span[0] == span[1]:
            return b""
        position, end = span
        return os.pread(self.fd, end - position, position)

    def read_span(self, offset: int, max_bytes: int,
                  max_offset: int | None) -> tuple[int, int] | None:
        """(start, end) file positions of what read() returns; None when no batch
        here holds `offset` or later, an empty span when max_offset stops the read."""
        found = self.find_batch(offset)
        if found is None:
            return None
        position, first = found
        if max_offset is not None and first.last_offset >= max_offset:
            return position, position
        limit = self.size_bytes
        if max_offset is not None and max_offset < self.next_offset:
            stop = self.find_batch(max_offset, self.offset_index.lookup(max_offset)[1])
            if stop is not None:
                limit = stop[0]  # the batch holding max_offset starts here
        wanted_end = min(limit, position + max(max_bytes, first.size))
        end = wanted_end if wanted_end == limit else self._batch_boundary_at_or_before(
            wanted_end, position + first.size)
        return position, end

    def _batch_boundary_at_or_before(self, position: int, lowest: int) -> int:
        """The largest batch boundary <= `position` (and >= `lowest`, itself one)."""
        positions = self.offset_index.file.values
        entry = bisect.bisect_right(positions, position) - 1
        boundary = max(lowest, positions[entry]) if entry >= 0 else lowest
        # From an indexed batch start, at most index.interval.bytes (plus one batch) to walk.
        while boundary < position:
            header = read_header_at(self.fd, boundary)
            assert header is not None, f"{self.log_path}: header cut at {boundary}"
            if boundary + header.size > position:
                break
            boundary += header.size
        return boundary

    def iter_headers(self, from_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        for position, batch in iter_stored_batches(self.fd, from_position, self.size_bytes):
            yield position, parse_header(batch)

    def iter_batches(self, from_position: int = 0) -> Iterator[tuple[int, memoryview]]:
        yield from iter_stored_batches(self.fd, from_position, self.size_bytes)

    def find_by_timestamp(self, timestamp_ms: int) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch with max timestamp >= target."""
        if self.max_timestamp < timestamp_ms:
            return None
        start_offset = self.time_index.lookup(timestamp_ms)
        start_position = self.offset_index.lookup(start_offset)[1]
        for position, header in self.iter_headers(start_position):
            if header.max_timestamp >= timestamp_ms:
                return position, header
        return None

    # --- truncation and lifecycle --------------------------------------------------------

    def truncate_to(self, offset: int) -> bool:
        """Drop every batch whose last offset is >= `offset`; return whether any was."""
        found = self.find_batch(offset)
        if found is None:
            return False
        position, header = found
        os.ftruncate(self.fd, position)
        self.roll_limit_bytes = NO_FAST_APPEND
        self.offset_index.truncate_to_position(position)
        self.time_index.truncate_to_offset(header.base_offset)
        self.size_bytes = position
        self._rescan()
        return True

    def _rescan(self) -> None:
        """Recompute offsets and timestamps from the batches (after a truncation)."""
        self.next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = self.base_offset
        self.first_batch_timestamp = NO_TIMESTAMP
        for position, header in self.iter_headers():
            self._note_batch(header.last_offset, header.max_timestamp)
            if position == 0:
                self.first_batch_timestamp = header.max_timestamp
        self.bytes_since_last_index_entry = self.size_bytes - self.offset_index.last_entry()[1]

    def flush(self, *, indexes: bool = True) -> None:
        """fsync the batches, and the indexes too unless told not to.

        The active segment's indexes can skip it: recovery re-indexes every segment
        from the one holding the recovery point on, so they are never trusted."""
        os.fsync(self.fd)
        if indexes and self._offset_index is not None:  # an unloaded index has no news
            self.offset_index.file.flush()
            self.time_index.file.flush()

    def close(self, *, write_indexes: bool = True) -> None:
        """Close the files; write_indexes=False drops unwritten index entries (a crash)."""
        self.roll_limit_bytes = NO_FAST_APPEND
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._offset_index is not None and self._time_index is not None:
            self.offset_index.file.close(write_pending=write_indexes)
            self.time_index.file.close(write_pending=write_indexes)

    def delete(self) -> None:
        self.close(write_indexes=False)
        for suffix in SEGMENT_SUFFIXES:
            segment_path(self.directory, self.base_offset, suffix + self.file_suffix).unlink(
                missing_ok=True)

    def __repr__(self) -> str:
        return (f"LogSegment(base={self.base_offset}, next={self.next_offset}, "
                f"size={self.size_bytes})")
