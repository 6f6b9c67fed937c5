"""The segmented session store over any OrderedBytesBackend (RocksDB or memory).

Keys are laid out as key_schema.session_key, segmented and ordered by session
end: retention goes by end (as in Kafka Streams), and one key's sessions in
one segment are one contiguous range ordered by (end, start).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flowlog_streams.stores.api import Checkpoint
from flowlog_streams.stores.key_schema import (
    MAX_TIMESTAMP_MS,
    check_key,
    check_timestamp,
    check_value,
    decode_session_key,
    segment_prefix,
    session_key,
)
from flowlog_streams.stores.segmented_store import SegmentedStore

SessionPut = tuple[bytes, int, int, bytes | None]


class SessionStore(SegmentedStore):
    """SessionBytesStore: (key, start, end) -> value, dropping sessions that ended past retention.

    Per key, sessions come ordered by (end, start). all() returns them by
    segment of end, then key (shorter keys first, then byte order), then
    (end, start): the stored order.
    """

    def put(self, key: bytes, start_ms: int, end_ms: int, value: bytes | None) -> bool:
        """Write (None deletes) one session; False (nothing written) if it ended past retention."""
        return self._write([(key, start_ms, end_ms, value)], None) == 1

    def write(self, puts: Iterable[SessionPut], checkpoint: Checkpoint | None = None) -> None:
        self._write(puts, checkpoint)

    def find_sessions(self, key: bytes, earliest_end_ms: int, latest_start_ms: int) -> Iterator[tuple[int, int, bytes]]:
        check_key(key)
        low, high, segments = self._retention.live_segments(earliest_end_ms, MAX_TIMESTAMP_MS, self._observed_ms)
        if latest_start_ms < 0:
            segments = range(0)
        return self._find_sessions(key, low, high, latest_start_ms, segments)

    def fetch(self, key: bytes) -> Iterator[tuple[int, int, bytes]]:
        """Every live session of key, by (end, start)."""
        return self.find_sessions(key, 0, MAX_TIMESTAMP_MS)

    def fetch_session(self, key: bytes, start_ms: int, end_ms: int) -> bytes | None:
        check_key(key)
        observed = self._observed_ms
        if not 0 <= start_ms <= end_ms <= observed or self._retention.is_expired(end_ms, observed):
            return None
        return self._backend.get(session_key(self._retention.segment_of(end_ms), key, end_ms, start_ms))

    def all(self) -> Iterator[tuple[bytes, int, int, bytes]]:
        low, _, segments = self._retention.live_segments(0, MAX_TIMESTAMP_MS, self._observed_ms)
        return self._all(low, segments)

    def _write(self, puts: Iterable[SessionPut], checkpoint: Checkpoint | None) -> int:
        """Commit puts, skipping expired ones; returns how many were accepted."""
        batch = self._backend.new_batch()
        observed = self._observed_ms
        accepted = dropped = 0
        for key, start_ms, end_ms, value in puts:  # bounded by the caller's batch
            check_key(key)
            check_timestamp(start_ms)
            check_timestamp(end_ms)
            check_value(value)
            if start_ms > end_ms:
                raise ValueError(f"session start {start_ms} is after its end {end_ms}")
            observed = max(observed, end_ms)
            if self._retention.is_expired(end_ms, observed):
                dropped += 1
                continue
            stored = session_key(self._retention.segment_of(end_ms), key, end_ms, start_ms)
            if value is None:
                batch.delete(stored)
            else:
                batch.put(stored, value)
            accepted += 1
        self._commit(batch, observed, checkpoint, dropped)
        return accepted

    def _find_sessions(
        self, key: bytes, low: int, high: int, latest_start_ms: int, segments: range
    ) -> Iterator[tuple[int, int, bytes]]:
        for segment in segments:
            # One key's sessions in one segment are contiguous, ordered by (end, start).
            lower = session_key(segment, key, low, 0)
            upper = session_key(segment, key, high, MAX_TIMESTAMP_MS)
            for stored, value in self._backend.scan(lower, upper):
                _, start_ms, end_ms = decode_session_key(stored)
                if start_ms <= latest_start_ms:
                    yield start_ms, end_ms, value

    def _all(self, low: int, segments: range) -> Iterator[tuple[bytes, int, int, bytes]]:
        for segment in segments:
            for stored, value in self._backend.scan(segment_prefix(segment), segment_prefix(segment + 1)):
                key, start_ms, end_ms = decode_session_key(stored)
                if end_ms >= low:
                    yield key, start_ms, end_ms, value
