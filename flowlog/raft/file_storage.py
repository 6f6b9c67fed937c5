"""Durable Raft state in one directory: hard state, snapshot and an entry log, fsynced.

Plain blocking file I/O; the trio driver calls it from a worker thread.

    hard_state   term i64, voted_for i32, CRC-32C of those 12 bytes; replaced atomically
    snapshot     index i64, term i64, CRC-32C of index + term + data, data; replaced atomically
    entries.log  records: length u32 (bytes after the crc), crc u32 (CRC-32C of the rest),
                 index i64, term i64, kind u8, payload

A replaced file is written to a temporary name, fsynced, renamed over the old one and
the directory fsynced. Opening the entry log cuts it at the first torn or corrupt
record: the write it belonged to never completed, so no message claimed it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import crc32c

from flowlog.raft.log_core import RaftLog
from flowlog.raft.messages import Entry, EntryKind, HardState, Snapshot
from flowlog.raft.ready import PersistedState, Ready

HARD_STATE_FILE = "hard_state"
SNAPSHOT_FILE = "snapshot"
ENTRIES_FILE = "entries.log"
HARD_STATE = struct.Struct(">qiI")
SNAPSHOT_HEADER = struct.Struct(">qqI")
RECORD_HEADER = struct.Struct(">II")
RECORD_BODY = struct.Struct(">qqB")
RECORD_PAYLOAD_SIZE_MAX_BYTES = 64 * 1024 * 1024


class CorruptRaftStateError(Exception):
    """A hard state or snapshot file that fails its check: refused, never guessed."""


class FileRaftStorage:
    """Use open() to construct. Not thread-safe: one writer (the driver) at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hard_state = HardState()
        self.snapshot = Snapshot()
        self._entries: list[Entry] = []
        # File position of each entry in _entries, and the end of the last one.
        self._positions: list[int] = []
        self._end_position = 0
        self._file_descriptor = -1

    @classmethod
    def open(cls, directory: Path) -> FileRaftStorage:
        directory.mkdir(parents=True, exist_ok=True)
        storage = cls(directory)
        storage._load()
        return storage

    def persisted_state(self) -> PersistedState:
        return PersistedState(self.hard_state, self.snapshot, tuple(self._entries))

    def persist(self, ready: Ready) -> None:
        """Make a Ready's snapshot, entries and hard state durable, in that order."""
        if ready.snapshot is not None:
            self._replace_file(SNAPSHOT_FILE, _encode_snapshot(ready.snapshot))
            self.snapshot = ready.snapshot
            self._truncate_entries(0)
        if ready.entries:
            first_index = ready.entries[0].index
            keep = sum(1 for entry in self._entries if entry.index < first_index)
            self._truncate_entries(keep)
            self._append_entries(ready.entries)
        if ready.hard_state is not None:
            state = ready.hard_state
            body = struct.pack(">qi", state.term, state.voted_for)
            self._replace_file(HARD_STATE_FILE, body + struct.pack(">I", crc32c.crc32c(body)))
            self.hard_state = state

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """The application's own snapshot; entries it covers are dropped from the log."""
        self._replace_file(SNAPSHOT_FILE, _encode_snapshot(snapshot))
        self.snapshot = snapshot
        kept = [entry for entry in self._entries if entry.index > snapshot.index]
        # Rewrite under a new name: a crash half way must not lose the kept entries.
        records = [_encode_record(entry) for entry in kept]
        self._replace_file(ENTRIES_FILE, b"".join(records))
        os.close(self._file_descriptor)
        self._file_descriptor = os.open(self.directory / ENTRIES_FILE, os.O_RDWR)
        self._entries = kept
        self._positions = []
        position = 0
        for record in records:
            self._positions.append(position)
            position += len(record)
        self._end_position = position

    def close(self) -> None:
        if self._file_descriptor >= 0:
            os.close(self._file_descriptor)
            self._file_descriptor = -1

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> None:
        hard_state_path = self.directory / HARD_STATE_FILE
        if hard_state_path.exists():
            data = hard_state_path.read_bytes()
            if len(data) != HARD_STATE.size:
                raise CorruptRaftStateError(f"{hard_state_path}: {len(data)} bytes")
            term, voted_for, crc = HARD_STATE.unpack(data)
            if crc32c.crc32c(data[:12]) != crc:
                raise CorruptRaftStateError(f"{hard_state_path}: CRC mismatch")
            self.hard_state = HardState(term, voted_for)
        snapshot_path = self.directory / SNAPSHOT_FILE
        if snapshot_path.exists():
            self.snapshot = _decode_snapshot(snapshot_path.read_bytes(), snapshot_path)
        path = self.directory / ENTRIES_FILE
        self._file_descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._recover_entries()
        # Check the whole thing is a log now rather than at the node's first step.
        RaftLog(self.snapshot, self._entries)

    def _recover_entries(self) -> None:
        data = os.pread(self._file_descriptor, os.fstat(self._file_descriptor).st_size, 0)
        position = 0
        while position + RECORD_HEADER.size <= len(data):
            length, crc = RECORD_HEADER.unpack_from(data, position)
            body_start = position + RECORD_HEADER.size
            body_end = body_start + length
            if length < RECORD_BODY.size or length > RECORD_BODY.size + RECORD_PAYLOAD_SIZE_MAX_BYTES:
                break
            if body_end > len(data) or crc32c.crc32c(data[body_start:body_end]) != crc:
                break
            index, term, kind = RECORD_BODY.unpack_from(data, body_start)
            payload = data[body_start + RECORD_BODY.size : body_end]
            self._entries.append(Entry(index, term, payload, EntryKind(kind)))
            self._positions.append(position)
            position = body_end
        self._end_position = position
        if position < len(data):
            os.ftruncate(self._file_descriptor, position)
            os.fsync(self._file_descriptor)

    # -- writing -------------------------------------------------------------------------

    def _truncate_entries(self, keep: int) -> None:
        if keep >= len(self._entries):
            return
        self._end_position = self._positions[keep]
        del self._entries[keep:]
        del self._positions[keep:]
        os.ftruncate(self._file_descriptor, self._end_position)

    def _append_entries(self, entries: tuple[Entry, ...] | list[Entry]) -> None:
        chunks = []
        position = self._end_position
        for entry in entries:
            record = _encode_record(entry)
            chunks.append(record)
            self._entries.append(entry)
            self._positions.append(position)
            position += len(record)
        data = b"".join(chunks)
        written = 0
        # pwrite may write less than asked; each pass writes at least one byte or raises.
        while written < len(data):
            count = os.pwrite(self._file_descriptor, data[written:], self._end_position + written)
            if count <= 0:
                raise OSError(f"pwrite wrote {count} bytes")
            written += count
        self._end_position = position
        os.fsync(self._file_descriptor)

    def _replace_file(self, name: str, data: bytes) -> None:
        temporary = self.directory / f"{name}.tmp"
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / name)
        directory_descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)


def _encode_record(entry: Entry) -> bytes:
    body = RECORD_BODY.pack(entry.index, entry.term, entry.kind) + entry.payload
    return RECORD_HEADER.pack(len(body), crc32c.crc32c(body)) + body


def _encode_snapshot(snapshot: Snapshot) -> bytes:
    header = struct.pack(">qq", snapshot.index, snapshot.term)
    crc = crc32c.crc32c(header + snapshot.data)
    return header + struct.pack(">I", crc) + snapshot.data


def _decode_snapshot(data: bytes, path: Path) -> Snapshot:
    if len(data) < SNAPSHOT_HEADER.size:
        raise CorruptRaftStateError(f"{path}: {len(data)} bytes")
    index, term, crc = SNAPSHOT_HEADER.unpack_from(data)
    body = data[SNAPSHOT_HEADER.size :]
    if crc32c.crc32c(data[:16] + body) != crc:
        raise CorruptRaftStateError(f"{path}: CRC mismatch")
    return Snapshot(index, term, body)
