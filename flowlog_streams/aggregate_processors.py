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
from flowlog_streams.windows import SessionWindows, TimeWindows, Window, Windowed

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


class ToStreamProcessor(Processor):
    """KTable.to_stream(): each update's new value (a deletion travels as None, a tombstone)."""

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._forward = context.forward

    def process(self, record: Record) -> None:
        change = record.value
        value = change.new if isinstance(change, Change) else change
        self._forward(Record(record.key, value, record.timestamp, record.headers))
