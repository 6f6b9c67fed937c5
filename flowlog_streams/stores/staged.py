"""Writes staged between commits, applied to the store together with their changelog offset.

A task writes to its stores as it processes; those writes are also sent to
the store's changelog. Only once the producer has flushed (the changelog
records are acknowledged and their offsets known) are the staged writes
applied to the bytes store, in one atomic write with the checkpoint. Reads
see staged writes first, so processors read their own writes. After a crash
the store holds exactly what its checkpoint says: restoring replays the
changelog from there.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from flowlog_streams.stores.api import (
    Checkpoint,
    KeyValueBytesStore,
    SessionBytesStore,
    WindowBytesStore,
)

_DELETED = None


class StagedKeyValueStore:
    def __init__(self, store: KeyValueBytesStore) -> None:
        self.store = store
        self.name = store.name
        self.staged: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        staged = self.staged
        if key in staged:
            return staged[key]
        return self.store.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        self.staged[key] = value

    def range(self, from_key: bytes | None, to_key: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """The store's range overlaid with staged writes (staged deletes hide entries)."""
        staged_keys = sorted(
            k for k in self.staged
            if (from_key is None or k >= from_key) and (to_key is None or k <= to_key)
        )
        if not staged_keys:
            yield from self.store.range(from_key, to_key)
            return
        staged = self.staged
        stored = ((k, v) for k, v in self.store.range(from_key, to_key) if k not in staged)
        overlay = ((k, staged[k]) for k in staged_keys)
        for key, value in heapq.merge(stored, overlay, key=lambda item: item[0]):
            if value is not _DELETED:
                yield key, value

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self.range(None, None)

    def approximate_num_entries(self) -> int:
        return self.store.approximate_num_entries() + sum(1 for v in self.staged.values() if v)

    def apply(self, checkpoint: Checkpoint | None) -> int:
        """Write what is staged and the checkpoint atomically; returns how many writes."""
        count = len(self.staged)
        if count or checkpoint:
            self.store.write(list(self.staged.items()), checkpoint)
            self.staged = {}
        return count


class StagedWindowStore:
    def __init__(self, store: WindowBytesStore) -> None:
        self.store = store
        self.name = store.name
        self.retention_ms = store.retention_ms
        # key -> window start -> value (None deletes)
        self.staged: dict[bytes, dict[int, bytes | None]] = {}
        self._observed_ms = store.observed_stream_time_ms()

    def observed_stream_time_ms(self) -> int:
        return self._observed_ms

    def refresh(self) -> None:
        """Restoring wrote to the bytes store directly: take its stream time."""
        self._observed_ms = max(self._observed_ms, self.store.observed_stream_time_ms())

    def expired(self, window_start_ms: int) -> bool:
        return window_start_ms <= self._observed_ms - self.retention_ms

    def fetch(self, key: bytes, window_start_ms: int) -> bytes | None:
        windows = self.staged.get(key)
        if windows is not None and window_start_ms in windows:
            return windows[window_start_ms]
        if self.expired(window_start_ms):
            return None
        return self.store.fetch(key, window_start_ms)

    def put(self, key: bytes, window_start_ms: int, value: bytes | None) -> bool:
        """Stage a write; False if the window is already past retention (not written)."""
        if self.expired(window_start_ms):
            return False
        self.staged.setdefault(key, {})[window_start_ms] = value
        if window_start_ms > self._observed_ms:
            self._observed_ms = window_start_ms
        return True

    def fetch_range(self, key: bytes, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[int, bytes]]:
        low = max(time_from_ms, self._observed_ms - self.retention_ms + 1)
        staged = self.staged.get(key)
        if staged is None:  # nothing staged for the key: the store's range, already by start
            return self.store.fetch_range(key, low, time_to_ms)
        return self._merged_range(key, staged, low, time_to_ms)

    def _merged_range(self, key: bytes, staged: dict[int, bytes | None], low: int,
                      time_to_ms: int) -> Iterator[tuple[int, bytes]]:
        merged: dict[int, bytes | None] = dict(self.store.fetch_range(key, low, time_to_ms))
        merged.update((s, v) for s, v in staged.items() if low <= s <= time_to_ms)
        for start in sorted(merged):
            value = merged[start]
            if value is not _DELETED:
                yield start, value

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[bytes, int, bytes]]:
        low = max(time_from_ms, self._observed_ms - self.retention_ms + 1)
        merged: dict[tuple[bytes, int], bytes | None] = {
            (k, s): v for k, s, v in self.store.fetch_all(low, time_to_ms)
        }
        for key, windows in self.staged.items():
            merged.update(((key, s), v) for s, v in windows.items() if low <= s <= time_to_ms)
        for (key, start) in sorted(merged):
            value = merged[(key, start)]
            if value is not _DELETED:
                yield key, start, value

    def approximate_num_entries(self) -> int:
        return self.store.approximate_num_entries() + sum(len(w) for w in self.staged.values())

    def apply(self, checkpoint: Checkpoint | None) -> int:
        count = sum(len(w) for w in self.staged.values())
        if count or checkpoint:
            puts = [(k, s, v) for k, windows in self.staged.items() for s, v in windows.items()]
            self.store.write(puts, checkpoint)
            self.staged = {}
        return count


class StagedSessionStore:
    """Session writes staged until the commit, as StagedWindowStore (retention by session end)."""

    def __init__(self, store: SessionBytesStore) -> None:
        self.store = store
        self.name = store.name
        self.retention_ms = store.retention_ms
        # key -> (start, end) -> value (None deletes)
        self.staged: dict[bytes, dict[tuple[int, int], bytes | None]] = {}
        self._observed_ms = store.observed_stream_time_ms()

    def refresh(self) -> None:
        self._observed_ms = max(self._observed_ms, self.store.observed_stream_time_ms())

    def expired(self, end_ms: int) -> bool:
        return end_ms <= self._observed_ms - self.retention_ms

    def put(self, key: bytes, start_ms: int, end_ms: int, value: bytes | None) -> bool:
        if self.expired(end_ms):
            return False
        self.staged.setdefault(key, {})[(start_ms, end_ms)] = value
        if end_ms > self._observed_ms:
            self._observed_ms = end_ms
        return True

    def find_sessions(self, key: bytes, earliest_end_ms: int,
                      latest_start_ms: int) -> list[tuple[int, int, bytes]]:
        """(start, end, value) with end >= earliest_end and start <= latest_start, by (end, start)."""
        low = max(earliest_end_ms, self._observed_ms - self.retention_ms + 1)
        found: dict[tuple[int, int], bytes | None] = {
            (start, end): value
            for start, end, value in self.store.find_sessions(key, low, latest_start_ms)
        }
        for (start, end), value in self.staged.get(key, {}).items():
            if end >= low and start <= latest_start_ms:
                found[(start, end)] = value
        return sorted(
            ((start, end, value) for (start, end), value in found.items() if value is not _DELETED),
            key=lambda session: (session[1], session[0]),
        )

    def approximate_num_entries(self) -> int:
        return self.store.approximate_num_entries() + sum(len(s) for s in self.staged.values())

    def apply(self, checkpoint: Checkpoint | None) -> int:
        count = sum(len(s) for s in self.staged.values())
        if count or checkpoint:
            puts = [(k, start, end, v) for k, sessions in self.staged.items()
                    for (start, end), v in sessions.items()]
            self.store.write(puts, checkpoint)
            self.staged = {}
        return count
