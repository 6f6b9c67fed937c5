"""KGroupedStream and TimeWindowedKStream: count, reduce and aggregate into KTables.

Argument orders as Kafka Streams': `reducer(aggregate, value)`,
`aggregator(key, value, aggregate)`, `initializer()`. A grouping after a
key-changing operation first goes through a repartition topic named after
the store (`<application_id>-<store>-repartition`), so every key's records
meet in one task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowlog_streams.aggregate_processors import (
    Aggregator,
    Initializer,
    KStreamAggregateProcessor,
    KStreamSessionWindowAggregateProcessor,
    KStreamSlidingWindowAggregateProcessor,
    KStreamWindowAggregateProcessor,
    Merger,
)
from flowlog_streams.ktable import KTable
from flowlog_streams.materialized import Materialized
from flowlog_streams.serdes import Serde, Serdes
from flowlog_streams.topology import KEY_VALUE, SESSION, WINDOW, StoreSpec
from flowlog_streams.windows import (
    SessionWindows,
    SlidingWindows,
    TimeWindows,
    WindowedSerde,
    check_windows,
)

if TYPE_CHECKING:
    from flowlog_streams.kstream import KStream

Reducer = Callable[[Any, Any], Any]  # (aggregate, value) -> new aggregate


def _count(key: Any, value: Any, aggregate: int) -> int:
    return aggregate + 1


def _zero() -> int:
    return 0


class KGroupedStream:
    def __init__(self, stream: KStream, key_serde: Serde | None, value_serde: Serde | None,
                 name: str | None = None) -> None:
        self._stream = stream
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._name = name  # the Grouped name: prefix of the repartition topic

    # ---------------------------------------------------------------- aggregations

    def count(self, materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        materialized = values_as(materialized, Serdes.long())
        return self.aggregate(_zero, _count, materialized, name=name)

    def reduce(self, reducer: Reducer, materialized: Materialized | None = None, *,
               name: str | None = None) -> KTable:
        check_callable(reducer, "reduce")
        materialized = values_as(materialized, self.value_serde)
        return self._aggregate_with(_Reduce(reducer).initial, _Reduce(reducer), materialized, name)

    def aggregate(self, initializer: Initializer, aggregator: Aggregator,
                  materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        check_callable(initializer, "aggregate (initializer)")
        check_callable(aggregator, "aggregate (aggregator)")
        return self._aggregate_with(initializer, aggregator, materialized or Materialized(), name)

    def windowed_by(self, windows: TimeWindows | SlidingWindows | SessionWindows) -> Any:
        """Time or sliding windows -> TimeWindowedKStream (as Kafka Streams); sessions ->
        SessionWindowedKStream."""
        check_windows(windows)
        if isinstance(windows, SessionWindows):
            return SessionWindowedKStream(self, windows)
        return TimeWindowedKStream(self, windows)

    # ---------------------------------------------------------------- building

    def _aggregate_with(self, initializer: Initializer, aggregator: Aggregator,
                        materialized: Materialized, name: str | None) -> KTable:
        return self._build(
            initializer, aggregator, materialized, name, KEY_VALUE, 0,
            lambda store: KStreamAggregateProcessor(store, initializer, aggregator),
            windowed=None,
        )

    def _build(self, initializer: Initializer, aggregator: Aggregator, materialized: Materialized,
               name: str | None, kind: str, retention_ms: int,
               supplier: Callable[[str], Any],
               windowed: TimeWindows | SlidingWindows | SessionWindows | None) -> KTable:
        builder = self._stream.builder
        builder._check_open()
        store_name = materialized.store_name or builder.new_name("KSTREAM-AGGREGATE-STATE-STORE-")
        key_serde = materialized.key_serde or self.key_serde
        value_serde = materialized.value_serde
        parent = self._repartition_if_needed(store_name)
        node_name = name or builder.new_name("KSTREAM-AGGREGATE-")
        builder.topology.add_processor(node_name, lambda: supplier(store_name), parent)
        builder.topology.add_state_store(StoreSpec(
            store_name, kind, logging=materialized.logging, caching=materialized.caching,
            in_memory=materialized.in_memory, retention_ms=retention_ms,
            key_serde=key_serde, value_serde=value_serde,
        ), node_name)
        table_key_serde = (
            WindowedSerde(key_serde) if windowed is not None and key_serde is not None else key_serde
        )
        return KTable(builder, node_name, store_name, table_key_serde, value_serde, windowed)

    def _repartition_if_needed(self, store_name: str) -> str:
        from flowlog_streams.kstream import repartition_through

        stream = self._stream
        if not stream.repartition_required:
            return stream.node_name
        prefix = self._name or store_name
        return repartition_through(
            stream.builder, stream.node_name, prefix, self.key_serde, self.value_serde,
            None, None, generated=False, drop_null_keys=True,
        )


class TimeWindowedKStream:
    def __init__(self, grouped: KGroupedStream, windows: TimeWindows | SlidingWindows) -> None:
        self._grouped = grouped
        self._windows = windows

    def count(self, materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        materialized = values_as(materialized, Serdes.long())
        return self.aggregate(_zero, _count, materialized, name=name)

    def reduce(self, reducer: Reducer, materialized: Materialized | None = None, *,
               name: str | None = None) -> KTable:
        check_callable(reducer, "reduce")
        materialized = values_as(materialized, self._grouped.value_serde)
        reduce = _Reduce(reducer)
        return self._windowed(reduce.initial, reduce, materialized, name)

    def aggregate(self, initializer: Initializer, aggregator: Aggregator,
                  materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        check_callable(initializer, "aggregate (initializer)")
        check_callable(aggregator, "aggregate (aggregator)")
        return self._windowed(initializer, aggregator, materialized or Materialized(), name)

    def _windowed(self, initializer: Initializer, aggregator: Aggregator,
                  materialized: Materialized, name: str | None) -> KTable:
        windows = self._windows
        retention = max(materialized.retention_ms or 0, windows.retention_ms)
        def supplier(store: str) -> Any:
            if isinstance(windows, SlidingWindows):
                return KStreamSlidingWindowAggregateProcessor(store, windows, initializer, aggregator)
            return KStreamWindowAggregateProcessor(store, windows, initializer, aggregator)

        return self._grouped._build(
            initializer, aggregator, materialized, name, WINDOW, retention, supplier,
            windowed=windows,
        )


class SessionWindowedKStream:
    def __init__(self, grouped: KGroupedStream, windows: SessionWindows) -> None:
        self._grouped = grouped
        self._windows = windows

    def count(self, materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        materialized = values_as(materialized, Serdes.long())
        return self.aggregate(_zero, _count, _add, materialized, name=name)

    def reduce(self, reducer: Reducer, materialized: Materialized | None = None, *,
               name: str | None = None) -> KTable:
        check_callable(reducer, "reduce")
        materialized = values_as(materialized, self._grouped.value_serde)
        reduce = _Reduce(reducer)

        def merge(key: Any, first: Any, second: Any) -> Any:
            return reduce(key, second, first)

        return self._sessions(reduce.initial, reduce, merge, materialized, name)

    def aggregate(self, initializer: Initializer, aggregator: Aggregator, merger: Merger,
                  materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        """`merger(key, aggregate_one, aggregate_two)` joins two sessions' aggregates."""
        check_callable(initializer, "aggregate (initializer)")
        check_callable(aggregator, "aggregate (aggregator)")
        check_callable(merger, "aggregate (merger)")
        return self._sessions(initializer, aggregator, merger, materialized or Materialized(), name)

    def _sessions(self, initializer: Initializer, aggregator: Aggregator, merger: Merger,
                  materialized: Materialized, name: str | None) -> KTable:
        windows = self._windows
        retention = max(materialized.retention_ms or 0, windows.retention_ms)
        return self._grouped._build(
            initializer, aggregator, materialized, name, SESSION, retention,
            lambda store: KStreamSessionWindowAggregateProcessor(
                store, windows, initializer, aggregator, merger),
            windowed=windows,
        )


def _add(key: Any, first: int, second: int) -> int:
    return first + second


class _Reduce:
    """reduce() as an aggregation: the first value is the aggregate, then reducer(aggregate, value)."""

    _NOTHING = object()

    def __init__(self, reducer: Reducer) -> None:
        self._reducer = reducer

    def initial(self) -> Any:
        return _Reduce._NOTHING

    def __call__(self, key: Any, value: Any, aggregate: Any) -> Any:
        if aggregate is _Reduce._NOTHING:
            return value
        return self._reducer(aggregate, value)


def values_as(materialized: Materialized | None, serde: Serde | None) -> Materialized:
    """The store's value serde: the Materialized's own, else `serde` (count: long)."""
    materialized = materialized or Materialized()
    if materialized.value_serde is None and serde is not None:
        materialized = materialized.with_value_serde(serde)
    return materialized


def check_callable(function: Any, what: str) -> None:
    if not callable(function):
        raise TypeError(f"{what} needs a callable, got {function!r}")

