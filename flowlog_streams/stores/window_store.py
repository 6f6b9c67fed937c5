"""The segmented window store over any OrderedBytesBackend (RocksDB or memory).

Keys are laid out as key_schema.window_key: segment first, so expiry is one
range delete of the dead segments and a read by time touches only the
segments of its time range.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flowlog_streams.stores.api import Checkpoint
from flowlog_streams.stores.key_schema import (
    MAX_TIMESTAMP_MS,
    check_key,
    check_timestamp,
    check_value,
    decode_window_key,
    segment_prefix,
    window_key,
)
from flowlog_streams.stores.segmented_store import SegmentedStore

WindowPut = tuple[bytes, int, bytes | None]


class WindowStore(SegmentedStore):
    """WindowBytesStore: (key, window start) -> value, dropping windows past retention.

    fetch_all() and all() return entries by segment, then key (shorter keys
    first, then byte order), then window start: the stored order.
    """

    def put(self, key: bytes, window_start_ms: int, value: bytes | None) -> bool:
        return self._write([(key, window_start_ms, value)], None) == 1

    def write(self, puts: Iterable[WindowPut], checkpoint: Checkpoint | None = None) -> None:
        self._write(puts, checkpoint)

    def fetch(self, key: bytes, window_start_ms: int) -> bytes | None:
        check_key(key)
        observed = self._observed_ms
        if not 0 <= window_start_ms <= observed or self._retention.is_expired(window_start_ms, observed):
            return None
        return self._backend.get(window_key(self._retention.segment_of(window_start_ms), key, window_start_ms))

    def fetch_range(self, key: bytes, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[int, bytes]]:
        check_key(key)
        low, high, segments = self._retention.live_segments(time_from_ms, time_to_ms, self._observed_ms)
        return self._fetch_range(key, low, high, segments)

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[bytes, int, bytes]]:
        low, high, segments = self._retention.live_segments(time_from_ms, time_to_ms, self._observed_ms)
        return self._fetch_all(low, high, segments)

    def all(self) -> Iterator[tuple[bytes, int, bytes]]:
        return self.fetch_all(0, MAX_TIMESTAMP_MS)

    def _write(self, puts: Iterable[WindowPut], checkpoint: Checkpoint | None) -> int:
        """Commit puts, skipping expired ones; returns how many were accepted."""
        batch = self._backend.new_batch()
        observed = self._observed_ms
        accepted = dropped = 0
        for key, start_ms, value in puts:  # bounded by the caller's batch
            check_key(key)
            check_timestamp(start_ms)
            check_value(value)
            observed = max(observed, start_ms)
            if self._retention.is_expired(start_ms, observed):
                dropped += 1
                continue
            stored = window_key(self._retention.segment_of(start_ms), key, start_ms)
            if value is None:
                batch.delete(stored)
            else:
                batch.put(stored, value)
            accepted += 1
        self._commit(batch, observed, checkpoint, dropped)
        return accepted

    def _fetch_range(self, key: bytes, low: int, high: int, segments: range) -> Iterator[tuple[int, bytes]]:
        for segment in segments:
            # All starts of one key in one segment are one contiguous range.
            entries = self._backend.scan(window_key(segment, key, low), window_key(segment, key, high))
            for stored, value in entries:
                yield decode_window_key(stored)[1], value

    def _fetch_all(self, low: int, high: int, segments: range) -> Iterator[tuple[bytes, int, bytes]]:
        for segment in segments:
            # segment_prefix(segment + 1) is shorter than any stored key, so as an
            # inclusive upper bound it ends the segment.
            for stored, value in self._backend.scan(segment_prefix(segment), segment_prefix(segment + 1)):
                key, start = decode_window_key(stored)
                if low <= start <= high:
                    yield key, start, value
