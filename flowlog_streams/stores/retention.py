"""Segments and retention of window and session stores (Kafka Streams' AbstractSegments).

Time is the window start (window store) or the session end (session store).
The store's observed stream time is the highest time ever written. A time is
live iff time >= observed - retention + 1; writes of dead times are refused,
reads skip them, and whole segments below the live one are range-deleted.
"""

from __future__ import annotations

from flowlog_streams.stores.key_schema import check_timestamp

MIN_DEFAULT_SEGMENT_INTERVAL_MS = 60_000
NO_STREAM_TIME = -1


def default_segment_interval_ms(retention_ms: int) -> int:
    """Kafka Streams' default: max(retention / 2, 60 s)."""
    return max(retention_ms // 2, MIN_DEFAULT_SEGMENT_INTERVAL_MS)


class Retention:
    """Segment arithmetic for one store; holds no stream time itself (callers pass it)."""

    def __init__(self, retention_ms: int, segment_interval_ms: int | None) -> None:
        if retention_ms < 1:
            raise ValueError(f"retention_ms must be at least 1, got {retention_ms}")
        interval = default_segment_interval_ms(retention_ms) if segment_interval_ms is None else segment_interval_ms
        if interval < 1:
            raise ValueError(f"segment_interval_ms must be at least 1, got {interval}")
        self.retention_ms = retention_ms
        self.segment_interval_ms = interval

    def segment_of(self, timestamp_ms: int) -> int:
        check_timestamp(timestamp_ms)
        return timestamp_ms // self.segment_interval_ms

    def min_live_ms(self, observed_ms: int) -> int:
        """The lowest live time; below 0 while stream time is young (everything is live)."""
        return observed_ms - self.retention_ms + 1

    def is_expired(self, timestamp_ms: int, observed_ms: int) -> bool:
        return timestamp_ms < self.min_live_ms(observed_ms)

    def live_segment_floor(self, observed_ms: int) -> int:
        """Segments below this hold only dead times and can be deleted whole."""
        return self.segment_of(max(0, self.min_live_ms(observed_ms)))

    def max_segments_per_read(self) -> int:
        """A read of live times touches at most this many segments: the bound of read loops."""
        return self.retention_ms // self.segment_interval_ms + 2

    def live_segments(self, time_from_ms: int, time_to_ms: int, observed_ms: int) -> tuple[int, int, range]:
        """(low, high, segments) for a read of [time_from, time_to] clamped to live times.

        Every stored time is <= observed, so reads stop there; the range is empty
        when nothing live can match.
        """
        low = max(time_from_ms, self.min_live_ms(observed_ms), 0)
        high = min(time_to_ms, observed_ms)
        if low > high:
            return low, high, range(0)
        segments = range(self.segment_of(low), self.segment_of(high) + 1)
        assert len(segments) <= self.max_segments_per_read(), (low, high, len(segments))
        return low, high, segments
