"""The metadata log file: append-only entries, each fsynced, with torn-tail recovery.

Plain synchronous file I/O (the broker calls it from a worker thread or accepts the
short block; metadata changes are rare). Entry layout, big-endian:

    0  length   uint32  bytes after the crc field (12 + payload size)
    4  crc      uint32  CRC-32C of bytes 8..end of the entry
    8  offset   int64   strictly increasing from entry to entry
    16 epoch    int32   never decreasing (the writer's term; 0 for the single writer)
    20 payload

Opening the file scans it and cuts it at the first entry that is short or fails its
length or CRC check: that is a write torn by a crash, and the append it belonged to
never returned, so nobody was told it was durable.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import attrs
import crc32c

LOG_FILE_NAME = "metadata.log"
ENTRY_HEADER = struct.Struct(">IIqi")
ENTRY_HEADER_SIZE_BYTES = ENTRY_HEADER.size
# length counts offset + epoch + payload.
LENGTH_COVERED_HEADER_SIZE_BYTES = 12
CRC_START_AT = 8
ENTRY_PAYLOAD_SIZE_MAX_BYTES = 64 * 1024 * 1024
EPOCH_MAX = 2**31 - 1


class CorruptMetadataLogError(Exception):
    """Entries that pass their CRC but break the log's order: not a torn tail, so the
    log is refused rather than silently cut."""


@attrs.frozen
class LogEntry:
    offset: int
    epoch: int
    payload: bytes


@attrs.frozen
class RecoveryReport:
    """What open() found: entries kept and bytes cut from a torn tail."""

    entry_count: int
    truncated_bytes: int


class MetadataLog:
    """One writer appends; any number of reads. Use open() to construct."""

    def __init__(self, path: Path, file_descriptor: int, recovery: RecoveryReport) -> None:
        self.path = path
        self.recovery = recovery
        self._file_descriptor = file_descriptor
        # (offset, file position) per entry, for read_from without a scan.
        self._positions: list[tuple[int, int]] = []
        self._end_position_bytes = 0
        self._last_offset = -1
        self._last_epoch = 0

    @classmethod
    def open(cls, directory: Path) -> MetadataLog:
        """Open or create the log in `directory`, recovering a torn tail."""
        if not directory.exists():
            directory.mkdir(parents=True)
            _fsync_directory(directory.parent)
        path = directory / LOG_FILE_NAME
        created = not path.exists()
        file_descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if created:
                # The new name must survive power loss too, not only the bytes.
                os.fsync(file_descriptor)
                _fsync_directory(directory)
            log = cls(path, file_descriptor, RecoveryReport(0, 0))
            log._recover()
        except BaseException:
            os.close(file_descriptor)
            raise
        return log

    @property
    def last_offset(self) -> int:
        """Offset of the last entry; -1 when the log is empty."""
        return self._last_offset

    @property
    def last_epoch(self) -> int:
        return self._last_epoch

    @property
    def size_bytes(self) -> int:
        return self._end_position_bytes

    def append(self, offset: int, epoch: int, payload: bytes) -> None:
        """Write one entry and fsync it; returns once it is durable."""
        if offset <= self._last_offset:
            raise ValueError(f"offset {offset} is not after the last offset {self._last_offset}")
        if not self._last_epoch <= epoch <= EPOCH_MAX:
            raise ValueError(f"epoch {epoch} is outside [{self._last_epoch}, {EPOCH_MAX}]")
        if len(payload) > ENTRY_PAYLOAD_SIZE_MAX_BYTES:
            raise ValueError(
                f"payload of {len(payload)} bytes is over {ENTRY_PAYLOAD_SIZE_MAX_BYTES}"
            )
        entry = _encode_entry(offset, epoch, payload)
        position = self._end_position_bytes
        try:
            _write_all(self._file_descriptor, entry, position)
            os.fsync(self._file_descriptor)
        except OSError:
            # Drop the partial entry so a later append does not sit behind garbage.
            os.ftruncate(self._file_descriptor, position)
            raise
        self._positions.append((offset, position))
        self._end_position_bytes = position + len(entry)
        self._last_offset = offset
        self._last_epoch = epoch

    def read_from(self, offset: int) -> Iterator[LogEntry]:
        """Entries whose offset is >= `offset`, in order (read lazily)."""
        start_index = bisect.bisect_left(self._positions, offset, key=lambda item: item[0])
        for _, position in self._positions[start_index:]:
            entry, _ = _read_entry(self._file_descriptor, position, self._end_position_bytes)
            assert entry is not None, f"entry at {position} was valid when recovered"
            yield entry

    def close(self) -> None:
        if self._file_descriptor >= 0:
            os.close(self._file_descriptor)
            self._file_descriptor = -1

    def __enter__(self) -> MetadataLog:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def _recover(self) -> None:
        file_size_bytes = os.fstat(self._file_descriptor).st_size
        position = 0
        # Each pass consumes at least one header, so the scan ends within this bound.
        entries_max = file_size_bytes // ENTRY_HEADER_SIZE_BYTES + 1
        for _ in range(entries_max):
            entry, size_bytes = _read_entry(self._file_descriptor, position, file_size_bytes)
            if entry is None:
                break
            if entry.offset <= self._last_offset or entry.epoch < self._last_epoch:
                raise CorruptMetadataLogError(
                    f"{self.path}: entry at byte {position} has offset {entry.offset} epoch "
                    f"{entry.epoch} after offset {self._last_offset} epoch {self._last_epoch}"
                )
            self._positions.append((entry.offset, position))
            self._last_offset = entry.offset
            self._last_epoch = entry.epoch
            position += size_bytes
        self._end_position_bytes = position
        if position < file_size_bytes:
            os.ftruncate(self._file_descriptor, position)
            os.fsync(self._file_descriptor)
        self.recovery = RecoveryReport(len(self._positions), file_size_bytes - position)


def _encode_entry(offset: int, epoch: int, payload: bytes) -> bytes:
    covered = struct.pack(">qi", offset, epoch) + payload
    header = struct.pack(">II", len(covered), crc32c.crc32c(covered))
    return header + covered


def _read_entry(
    file_descriptor: int, position: int, end_position: int
) -> tuple[LogEntry | None, int]:
    """The entry at `position` and its size, or (None, 0) if it is torn or corrupt."""
    if end_position - position < ENTRY_HEADER_SIZE_BYTES:
        return None, 0
    header = os.pread(file_descriptor, ENTRY_HEADER_SIZE_BYTES, position)
    length, crc, _, _ = ENTRY_HEADER.unpack(header)
    payload_size = length - LENGTH_COVERED_HEADER_SIZE_BYTES
    if not 0 <= payload_size <= ENTRY_PAYLOAD_SIZE_MAX_BYTES:
        return None, 0
    size_bytes = ENTRY_HEADER_SIZE_BYTES + payload_size
    if end_position - position < size_bytes:
        return None, 0
    data = header + os.pread(file_descriptor, payload_size, position + ENTRY_HEADER_SIZE_BYTES)
    if len(data) != size_bytes or crc32c.crc32c(data[CRC_START_AT:]) != crc:
        return None, 0
    _, _, offset, epoch = ENTRY_HEADER.unpack_from(data)
    return LogEntry(offset, epoch, data[ENTRY_HEADER_SIZE_BYTES:]), size_bytes


def _write_all(file_descriptor: int, data: bytes, position: int) -> None:
    written = 0
    # pwrite may write less than asked; each pass writes at least one byte or raises.
    for _ in range(len(data) + 1):
        if written == len(data):
            return
        count = os.pwrite(file_descriptor, data[written:], position + written)
        if count <= 0:
            raise OSError(f"pwrite wrote {count} bytes")
        written += count
    raise AssertionError("unreachable: pwrite loop exceeded its bound")


def _fsync_directory(directory: Path) -> None:
    directory_descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)
