"""The bytes-level store interfaces every store implementation provides (RocksDB or memory).

Keys and values are bytes (the typed layer above serializes). Ranges are
ordered by the unsigned byte order of the keys. Every store keeps, next to
its data, the changelog offset its data reflects (`checkpoint`), written in
the same atomic `write()` as the data, so after a crash data and checkpoint
never disagree.

Window and session stores are segmented by time: records older than the
retention are dropped by deleting whole segments (range deletes), and every
fetch by key and time is a range scan over the segments it touches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

# A write: (key, value) with value None meaning delete.
Put = tuple[bytes, bytes | None]
# Changelog offsets a store's content reflects: "topic:partition" -> next offset to restore from.
Checkpoint = Mapping[str, int]


class KeyValueBytesStore(Protocol):
    name: str

    def get(self, key: bytes) -> bytes | None: ...

    def write(self, puts: Iterable[Put], checkpoint: Checkpoint | None = None) -> None:
        """Apply puts (None deletes) and, if given, the checkpoint, atomically."""

    def range(self, from_key: bytes | None, to_key: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with from_key <= key <= to_key (None: unbounded), in key order."""

    def all(self) -> Iterator[tuple[bytes, bytes]]: ...

    def approximate_num_entries(self) -> int: ...

    def checkpoint(self) -> dict[str, int]:
        """The offsets last written with write(checkpoint=...); {} if none."""

    def flush(self) -> None:
        """Make what was written durable (RocksDB: flush memtables)."""

    def close(self) -> None: ...

    def destroy(self) -> None:
        """Close and delete all local data (a corrupt or unwanted store)."""


class WindowBytesStore(Protocol):
    """(key, window start) -> value, with retention; one value per key and start."""

    name: str
    retention_ms: int
    segment_interval_ms: int

    def put(self, key: bytes, window_start_ms: int, value: bytes | None) -> bool:
        """Write (None deletes); False (and nothing written) if the window is already expired."""

    def write(self, puts: Iterable[tuple[bytes, int, bytes | None]], checkpoint: Checkpoint | None = None) -> None:
        """Atomic batch of (key, window start, value) plus the checkpoint; expired ones are skipped."""

    def fetch(self, key: bytes, window_start_ms: int) -> bytes | None: ...

    def fetch_range(self, key: bytes, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[int, bytes]]:
        """(window start, value) for key with time_from <= start <= time_to, by start."""

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[bytes, int, bytes]]:
        """(key, start, value) with time_from <= start <= time_to."""

    def all(self) -> Iterator[tuple[bytes, int, bytes]]: ...

    def observed_stream_time_ms(self) -> int:
        """The highest window start written (drives expiry); -1 before any."""

    def approximate_num_entries(self) -> int: ...

    def checkpoint(self) -> dict[str, int]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def destroy(self) -> None: ...


class SessionBytesStore(Protocol):
    """(key, session start, session end) -> value, with retention by session end."""

    name: str
    retention_ms: int

    def put(self, key: bytes, start_ms: int, end_ms: int, value: bytes | None) -> bool: ...

    def write(self, puts: Iterable[tuple[bytes, int, int, bytes | None]], checkpoint: Checkpoint | None = None) -> None: ...

    def find_sessions(self, key: bytes, earliest_end_ms: int, latest_start_ms: int) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, value) of key's sessions with end >= earliest_end and start <= latest_start."""

    def fetch(self, key: bytes) -> Iterator[tuple[int, int, bytes]]: ...

    def all(self) -> Iterator[tuple[bytes, int, int, bytes]]: ...

    def observed_stream_time_ms(self) -> int:
        """The highest session end written (drives expiry); -1 before any."""

    def approximate_num_entries(self) -> int: ...

    def checkpoint(self) -> dict[str, int]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def destroy(self) -> None: ...
