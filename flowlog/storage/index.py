"""Sparse segment indexes: fixed-size big-endian entries appended to a file.

    .index      8 bytes per entry: int32 relative offset, int32 file position
                (relative offset = last offset of the indexed batch - segment base)
    .timeindex  12 bytes per entry: int64 timestamp, int32 relative offset
                (the running max timestamp of the segment and the last offset of
                the batch where that max was first reached)

Files grow by appending (no preallocation, no mmap): the size of the file is
the entry count, so nothing needs trimming on close. Entries live in memory as
two typed arrays per index (4 or 8 bytes a number: 20 bytes an indexed batch
for both indexes, where lists of ints took 160), where lookups bisect them;
new entries reach the file in one write at flush, roll and close (like
Kafka's mmap'd indexes, the file lags until then; any segment not flushed
before a crash is re-indexed by recovery anyway). Loading parses and checks a
file with C loops (struct.iter_unpack, zip, map), not a Python loop per entry.
"""

from __future__ import annotations

import bisect
import operator
import os
import struct
import sys
from array import array
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

from flowlog.storage.errors import CorruptLogError

OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")
# struct field code -> array typecode of the same width ('i' is 4 bytes on every
# platform CPython supports; 'q' is 8).
_ARRAY_TYPECODE = {"i": "i", "q": "q"}


def floor_position(keys: Sequence[int], target: int) -> int:
    """Index of the largest key <= target in increasing `keys`, or -1."""
    return bisect.bisect_right(keys, target) - 1


def _column(data: bytes, entry_size: int, field_at: int, typecode: str) -> array[int]:
    """One big-endian field of every fixed-size entry in `data`, as a native array:
    a strided byte copy per byte of the field, all in C."""
    column = array(typecode)
    width = column.itemsize
    gathered = bytearray(len(data) // entry_size * width)
    for byte in range(width):
        gathered[byte::width] = data[field_at + byte::entry_size]
    column.frombytes(gathered)
    if sys.byteorder == "little":
        column.byteswap()
    return column


def strictly_increasing(numbers: Sequence[int]) -> bool:
    return not any(map(operator.ge, numbers, islice(numbers, 1, None)))


def never_decreasing(numbers: Sequence[int]) -> bool:
    return not any(map(operator.gt, numbers, islice(numbers, 1, None)))


class IndexFile:
    """An append-only file of (key, value) entries with strictly increasing keys."""

    def __init__(self, path: Path, entry: struct.Struct, entries_max: int) -> None:
        self.path = path
        self.entry = entry
        self.entries_max = max(1, entries_max)
        self.keys: array[int] = array(_ARRAY_TYPECODE[entry.format[1]])
        self.values: array[int] = array(_ARRAY_TYPECODE[entry.format[2]])
        self.entries_written = 0
        self.unsynced = False

    @classmethod
    def create(cls, path: Path, entry: struct.Struct, entries_max: int) -> IndexFile:
        index = cls(path, entry, entries_max)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.close(fd)
        return index

    @classmethod
    def load(cls, path: Path, entry: struct.Struct, entries_max: int) -> IndexFile:
        """Read an index file. Raises CorruptLogError when it is missing or malformed."""
        index = cls(path, entry, entries_max)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptLogError(f"index file {path} is missing") from None
        if len(data) % entry.size:
            raise CorruptLogError(f"index file {path} size {len(data)} is not a multiple of "
                                  f"its {entry.size}-byte entry")
        key_size = index.keys.itemsize
        index.keys = _column(data, entry.size, 0, index.keys.typecode)
        index.values = _column(data, entry.size, key_size, index.values.typecode)
        if not strictly_increasing(index.keys):
            raise CorruptLogError(f"index file {path} keys are not increasing")
        index.entries_written = len(index.keys)
        return index

    @staticmethod
    def peek(path: Path, entry: struct.Struct) -> tuple[int, tuple[int, int] | None]:
        """(entry count, last entry) of an index file without loading it. Raises
        CorruptLogError when it is missing or not a whole number of entries."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise CorruptLogError(f"index file {path} is missing") from None
        if size % entry.size:
            raise CorruptLogError(f"index file {path} size {size} is not a multiple of "
                                  f"its {entry.size}-byte entry")
        if not size:
            return 0, None
        with open(path, "rb") as file:
            file.seek(size - entry.size)
            key, value = entry.unpack(file.read(entry.size))
        return size // entry.size, (key, value)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def is_full(self) -> bool:
        return len(self.keys) >= self.entries_max

    def append(self, key: int, value: int) -> None:
        assert not self.keys or key > self.keys[-1], f"index key {key} after {self.keys[-1]}"
        self.keys.append(key)
        self.values.append(value)

    def write_pending(self) -> bool:
        """Write entries not yet in the file; returns whether there were any."""
        if self.entries_written == len(self.keys):
            return False
        pending = b"".join(
            self.entry.pack(key, value)
            for key, value in zip(self.keys[self.entries_written:],
                                  self.values[self.entries_written:], strict=True)
        )
        # Opened per write (flush, roll, close only) so closed segments hold no index fds.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, pending)
        finally:
            os.close(fd)
        self.entries_written = len(self.keys)
        self.unsynced = True
        return True

    def truncate_entries(self, count: int) -> None:
        """Keep only the first `count` entries."""
        if count >= len(self.keys):
            return
        del self.keys[count:]
        del self.values[count:]
        if self.entries_written > count:
            os.truncate(self.path, count * self.entry.size)
            self.entries_written = count
            self.unsynced = True

    def flush(self) -> None:
        """Write pending entries and fsync the file."""
        self.write_pending()
        if self.unsynced:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.unsynced = False

    def close(self, *, write_pending: bool = True) -> None:
        """Write pending entries (without fsync) unless told not to."""
        if write_pending:
            self.write_pending()


class OffsetIndex:
    """Relative offset -> file position of the batch ending at that offset."""

    def __init__(self, file: IndexFile, base_offset: int) -> None:
        self.file = file
        self.base_offset = base_offset

    @classmethod
    def create(cls, path: Path, base_offset: int, size_bytes_max: int) -> OffsetIndex:
        return cls(IndexFile.create(path, OFFSET_ENTRY, size_bytes_max // OFFSET_ENTRY.size),
                   base_offset)

    @classmethod
    def load(cls, path: Path, base_offset: int, size_bytes_max: int) -> OffsetIndex:
        file = IndexFile.load(path, OFFSET_ENTRY, size_bytes_max // OFFSET_ENTRY.size)
        if not strictly_increasing(file.values):
            raise CorruptLogError(f"offset index {path} positions are not increasing")
        if file.keys and file.keys[0] < 0:
            raise CorruptLogError(f"offset index {path} has a negative relative offset")
        return cls(file, base_offset)

    def append(self, last_offset: int, position: int) -> None:
        self.file.append(last_offset - self.base_offset, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(indexed last offset, position) of the entry at or before `offset`.

        Every batch holding offsets above the returned one starts at or after the
        returned position. Without such an entry: (base_offset - 1, 0).
        """
        found = floor_position(self.file.keys, offset - self.base_offset)
        if found < 0:
            return self.base_offset - 1, 0
        return self.base_offset + self.file.keys[found], self.file.values[found]

    def last_entry(self) -> tuple[int, int]:
        if not self.file.keys:
            return self.base_offset - 1, 0
        return self.base_offset + self.file.keys[-1], self.file.values[-1]

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at or after `position` (the log file is cut there)."""
        self.file.truncate_entries(bisect.bisect_left(self.file.values, position))


class TimeIndex:
    """Max timestamp so far -> relative offset of the batch that reached it."""

    def __init__(self, file: IndexFile, base_offset: int) -> None:
        self.file = file
        self.base_offset = base_offset

    @classmethod
    def create(cls, path: Path, base_offset: int, size_bytes_max: int) -> TimeIndex:
        return cls(IndexFile.create(path, TIME_ENTRY, size_bytes_max // TIME_ENTRY.size),
                   base_offset)

    @classmethod
    def load(cls, path: Path, base_offset: int, size_bytes_max: int) -> TimeIndex:
        file = IndexFile.load(path, TIME_ENTRY, size_bytes_max // TIME_ENTRY.size)
        offsets = file.values
        if not never_decreasing(offsets):
            raise CorruptLogError(f"time index {path} offsets are decreasing")
        if offsets and offsets[0] < 0:
            raise CorruptLogError(f"time index {path} has a negative relative offset")
        return cls(file, base_offset)

    def maybe_append(self, timestamp_ms: int, offset: int) -> None:
        """Add an entry if `timestamp_ms` is above the last one (and the index has room)."""
        if self.file.keys and timestamp_ms <= self.file.keys[-1]:
            return
        if self.file.is_full:
            return
        self.file.append(timestamp_ms, offset - self.base_offset)

    def lookup(self, timestamp_ms: int) -> int:
        """Offset to start scanning from for the first batch with max timestamp >= target."""
        found = floor_position(self.file.keys, timestamp_ms)
        if found < 0:
            return self.base_offset
        return self.base_offset + self.file.values[found]

    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry."""
        if not self.file.keys:
            return None
        return self.file.keys[-1], self.base_offset + self.file.values[-1]

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries for offsets at or after `offset`."""
        self.file.truncate_entries(
            bisect.bisect_left(self.file.values, offset - self.base_offset)
        )
