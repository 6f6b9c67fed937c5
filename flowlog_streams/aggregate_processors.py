"""The processors behind aggregations: per key, and per key and time window.

Kafka Streams' rules (`ki/KStreamAggregate.java`, `ki/KStreamWindowAggregate.java`):
- records with a null key or a null value are not aggregated: they are
  dropped and counted (and dead-lettered when configured);
- the result's timestamp is the max of the record's and the stored one's;
- a time window is updated iff its end > close, where close = the
  operator's observed stream time - grace; each window a record is too late
  for counts one dropped record;
- updates leave through the store: with caching they are emitted when the
  cache flushes (commit or eviction), else at once, as `Change(new, old)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from flowlog_streams.processor import Processor, ProcessorContext, Record
from flowlog_streams.windows import SessionWindows, SlidingWindows, TimeWindows, Window, Windowed

Initializer = Callable[[], Any]
Aggregator = Callable[[Any, Any, Any], Any]  # (key, value, aggregate) -> new aggregate

DROP_NULL_KEY = "null_key"
DROP_NULL_VALUE = "null_value"
DROP_LATE = "late"


@attrs.frozen(slots=True)
class Change:
    """A table update as it travels between processors: the new and the previous value."""

    new: Any
    old: Any = None


class _StoreAggregate(Processor):
    """What every aggregation shares: its store (whose flushes it forwards) and null checks."""

    def __init__(self, store_name: str, initializer: Initializer, aggregator: Aggregator) -> None:
        self._store_name = store_name
        self._initializer = initializer
        self._aggregator = aggregator
        # This operator's own stream time (Kafka Streams keeps one per operator, not persisted).
        self._observed_ms = -1

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._store = context.get_state_store(self._store_name)
        self._store.listener = self._emit
        self._forward = context.forward

    def _emit(self, key: Any, new: Any, old: Any, timestamp: int) -> None:
        self._forward(Record(key, Change(new, old), timestamp))

    def _accept(self, record: Record) -> bool:
        """False (and the record counted as dropped) for a null key or value."""
        if record.key is not None and record.value is not None:
            if record.timestamp > self._observed_ms:
                self._observed_ms = record.timestamp
            return True
        self._dropped(DROP_NULL_KEY if record.key is None else DROP_NULL_VALUE)
        return False

    def _dropped(self, reason: str, window: Window | None = None,
                 late_by_ms: int | None = None) -> None:
        self.context.record_dropped(  # type: ignore[attr-defined]
            reason, self._store_name, window=window, late_by_ms=late_by_ms
        )


class KStreamAggregateProcessor(_StoreAggregate):
    def process(self, record: Record) -> None:
        if not self._accept(record):
            return
        key = record.key
        found = self._store.get_with_timestamp(key)
        if found is None:
            old, timestamp = None, record.timestamp
            aggregate = self._initializer()
        else:
            old, stored_timestamp = found
            aggregate = old
            timestamp = max(record.timestamp, stored_timestamp)
        new = self._aggregator(key, record.value, aggregate)
        self._store.put(key, new, timestamp, old)


class KStreamWindowAggregateProcessor(_StoreAggregate):
    def __init__(self, store_name: str, windows: TimeWindows, initializer: Initializer,
                 aggregator: Aggregator) -> None:
        super().__init__(store_name, initializer, aggregator)
        self._windows = windows
        self._size_ms = windows.size_ms

    def _emit(self, key: Any, new: Any, old: Any, timestamp: int) -> None:
        inner, start = key
        self._forward(Record(Windowed(inner, Window(start, start + self._size_ms)),
                             Change(new, old), timestamp))

    def process(self, record: Record) -> None:
        if not self._accept(record):
            return
        key = record.key
        timestamp = record.timestamp
        close_ms = self._observed_ms - self._windows.grace_ms
        store = self._store
        for window in self._windows.windows_for(timestamp):
            if window.end <= close_ms:
                self._dropped(DROP_LATE, window, close_ms - window.end)
                continue
            found = store.fetch_with_timestamp(key, window.start)
            if found is None:
                old, stored_timestamp = None, timestamp
                aggregate = self._initializer()
            else:
                old, stored_timestamp = found
                aggregate = old
            new = self._aggregator(key, record.value, aggregate)
            if not store.put(key, window.start, new, max(timestamp, stored_timestamp), old):
                self._dropped(DROP_LATE, window, 0)  # past the store's retention


Merger = Callable[[Any, Any, Any], Any]  # (key, aggregate_one, aggregate_two) -> merged


class KStreamSessionWindowAggregateProcessor(_StoreAggregate):
    """Session windows (`ki/KStreamSessionWindowAggregate.java`).

    A record at t joins every session of its key with end >= t - gap and
    start <= t + gap: they merge into one session [min start, max end]
    (`merger` folds their aggregates, then `aggregator` adds the record).
    close = observed stream time - grace - gap; the record is late if the
    merged session's end < close. Sessions merged away are deleted downstream
    (`Change(None, old)` at their end time); the merged one is emitted at its end.
    """

    def __init__(self, store_name: str, windows: SessionWindows, initializer: Initializer,
                 aggregator: Aggregator, merger: Merger) -> None:
        super().__init__(store_name, initializer, aggregator)
        self._windows = windows
        self._merger = merger

    def _emit(self, key: Any, new: Any, old: Any, timestamp: int) -> None:
        inner, start, end = key
        self._forward(Record(Windowed(inner, Window(start, end)), Change(new, old), end))

    def process(self, record: Record) -> None:
        if not self._accept(record):
            return
        key = record.key
        timestamp = record.timestamp
        gap = self._windows.gap_ms
        close_ms = self._observed_ms - self._windows.grace_ms - gap
        store = self._store
        overlapping = store.find_sessions(key, timestamp - gap, timestamp + gap)
        start, end = timestamp, timestamp
        aggregate = self._initializer()
        for session_start, session_end, session_aggregate in overlapping:
            aggregate = self._merger(key, aggregate, session_aggregate)
            start = min(start, session_start)
            end = max(end, session_end)
        if end < close_ms:
            self._dropped(DROP_LATE, Window(start, end), close_ms - end)
            return
        aggregate = self._aggregator(key, record.value, aggregate)
        previous = None
        for session_start, session_end, session_aggregate in overlapping:
            if (session_start, session_end) == (start, end):
                previous = session_aggregate
                continue
            store.put(key, session_start, session_end, None, session_end, session_aggregate)
        store.put(key, start, end, aggregate, end, previous)


class KStreamSlidingWindowAggregateProcessor(_StoreAggregate):
    """Sliding windows (`ki/KStreamSlidingWindowAggregate.java`, in-order variant).

    Windows are [start, start + d], both ends inclusive, and exist only where
    records make them: each record gets a left window [t - d, t] and, when a
    later record of its key is within d, a right window [t + 1, t + 1 + d];
    a window is never empty. The record is late if t + d < close (stream time
    - grace); a window is updated iff its end >= close.
    """

    def __init__(self, store_name: str, windows: SlidingWindows, initializer: Initializer,
                 aggregator: Aggregator) -> None:
        super().__init__(store_name, initializer, aggregator)
        self._difference_ms = windows.time_difference_ms
        self._grace_ms = windows.grace_ms

    def _emit(self, key: Any, new: Any, old: Any, timestamp: int) -> None:
        inner, start = key
        self._forward(Record(Windowed(inner, Window(start, start + self._difference_ms)),
                             Change(new, old), timestamp))

    def process(self, record: Record) -> None:
        if not self._accept(record):
            return
        t = record.timestamp
        d = self._difference_ms
        close_ms = self._observed_ms - self._grace_ms
        if t + d < close_ms:
            self._dropped(DROP_LATE, Window(t, t + d), close_ms - (t + d))
            return
        if t < d:
            self._process_early(record, close_ms)
        else:
            self._process_in_order(record, close_ms)

    def _process_in_order(self, record: Record, close_ms: int) -> None:
        key, t, d = record.key, record.timestamp, self._difference_ms
        starts: set[int] = set()
        left_aggregate: tuple[Any, int] | None = None
        right_aggregate: tuple[Any, int] | None = None
        left_created = right_created = False
        previous_timestamp: int | None = None
        for start, value, timestamp in self._store.fetch_range_with_timestamps(
                key, max(0, t - 2 * d), t + 1):
            starts.add(start)
            end = start + d
            if end < t:
                left_aggregate = (value, timestamp)
                previous_timestamp = timestamp
            elif end == t:
                left_created = True
                if timestamp < t:
                    previous_timestamp = timestamp
                self._update(record, start, (value, timestamp), close_ms)
            elif start <= t:
                right_aggregate = (value, timestamp)
                self._update(record, start, (value, timestamp), close_ms)
            elif start == t + 1:
                right_created = True
        if previous_timestamp is not None:
            previous_right = previous_timestamp + 1
            if previous_right not in starts and previous_right + d >= t:
                self._update(record, previous_right, (self._initializer(), t), close_ms)
        if not left_created:
            if previous_timestamp is not None and t - d <= previous_timestamp:
                assert left_aggregate is not None
                seed = (left_aggregate[0], t)
            else:
                seed = (self._initializer(), t)
            self._update(record, t - d, seed, close_ms)
        if not right_created and right_aggregate is not None and right_aggregate[1] > t:
            self._create_right(key, t, right_aggregate)

    def _process_early(self, record: Record, close_ms: int) -> None:
        """t < d: windows cannot start before 0, so [0, d] stands in for the left window."""
        key, t = record.key, record.timestamp
        starts: set[int] = set()
        combined: tuple[int, Any, int] | None = None
        right_aggregate: tuple[Any, int] | None = None
        right_created = False
        previous_timestamp: int | None = None
        for start, value, timestamp in self._store.fetch_range_with_timestamps(key, 0, t + 1):
            starts.add(start)
            if start == 0:
                combined = (start, value, timestamp)
                if timestamp < t:
                    previous_timestamp = timestamp
            elif start <= t:
                right_aggregate = (value, timestamp)
                self._update(record, start, (value, timestamp), close_ms)
            elif start == t + 1:
                right_created = True
        if right_aggregate is None and combined is not None and combined[2] > t:
            right_aggregate = (combined[1], combined[2])
        if not right_created and right_aggregate is not None and right_aggregate[1] > t:
            self._create_right(key, t, right_aggregate)
        if previous_timestamp is not None and previous_timestamp + 1 not in starts:
            self._update(record, previous_timestamp + 1, (self._initializer(), t), close_ms)
        if combined is None:
            self._update(record, 0, (self._initializer(), t), close_ms)
        else:
            self._update(record, 0, (combined[1], combined[2]), close_ms)

    def _create_right(self, key: Any, t: int, aggregate: tuple[Any, int]) -> None:
        """[t + 1, t + 1 + d] holds what the window the record fell into held after it."""
        self._store.put(key, t + 1, aggregate[0], aggregate[1], None)

    def _update(self, record: Record, start: int, current: tuple[Any, int], close_ms: int) -> None:
        if start + self._difference_ms < close_ms:
            self._dropped(DROP_LATE, Window(start, start + self._difference_ms),
                          close_ms - (start + self._difference_ms))
            return
        old, timestamp = current
        new = self._aggregator(record.key, record.value, old)
        self._store.put(record.key, start, new, max(record.timestamp, timestamp), old)


class ToStreamProcessor(Processor):
    """KTable.to_stream(): each update's new value (a deletion travels as None, a tombstone)."""

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._forward = context.forward

    def process(self, record: Record) -> None:
        change = record.value
        value = change.new if isinstance(change, Change) else change
        self._forward(Record(record.key, value, record.timestamp, record.headers))
