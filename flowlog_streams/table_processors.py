"""The processors behind KTable operations, and value getters (how a join reads a table).

Kafka Streams' rules (`ki/KTableSource.java`, `KTableFilter.java`,
`KTableMapValues.java`, `KTableRepartitionMap.java`, `KTableAggregate.java`,
`KTableReduce.java`):
- a table update travels as `Change(new, old)`; old values always travel
  (Kafka Streams sends them only when downstream asks: `sendOldValues`), so
  a filter that drops both sides of an update forwards nothing;
- a source table drops records with a null key (counted); a null value
  deletes the key;
- a regrouped table sends the old value to its old group to be subtracted and
  the new value to its new group to be added (one record when both map to
  the same group); the aggregation subtracts before it adds, and its
  timestamp is the max of the record's and the stored aggregate's.

A *value getter* answers "what is this table's value for key k now": a store
lookup for a materialized table, else its parent's getter passed through the
operation (filter, map_values, join). Joins read the other side this way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from flowlog_streams.aggregate_processors import (
    DROP_NULL_KEY,
    Aggregator,
    Change,
    Initializer,
)
from flowlog_streams.errors import StreamsException
from flowlog_streams.processor import Processor, ProcessorContext, Record

Getter = Callable[[Any], "tuple[Any, int] | None"]  # key -> (value, timestamp) or None


@attrs.frozen
class ValueGetterSupplier:
    """How a processor reads a table: the stores it must be connected to, and the getter."""

    stores: tuple[str, ...]
    make: Callable[[ProcessorContext], Getter]


def store_getter(store_name: str) -> ValueGetterSupplier:
    def make(context: ProcessorContext) -> Getter:
        store = context.get_state_store(store_name)
        getter: Getter = store.get_with_timestamp
        return getter

    return ValueGetterSupplier((store_name,), make)


def filter_getter(parent: ValueGetterSupplier, keep: Callable[[Any, Any], bool]) -> ValueGetterSupplier:
    def make(context: ProcessorContext) -> Getter:
        get = parent.make(context)

        def filtered(key: Any) -> tuple[Any, int] | None:
            found = get(key)
            return found if found is not None and keep(key, found[0]) else None

        return filtered

    return ValueGetterSupplier(parent.stores, make)


def map_values_getter(parent: ValueGetterSupplier, mapper: Callable[[Any], Any]) -> ValueGetterSupplier:
    def make(context: ProcessorContext) -> Getter:
        get = parent.make(context)

        def mapped(key: Any) -> tuple[Any, int] | None:
            found = get(key)
            return None if found is None else (mapper(found[0]), found[1])

        return mapped

    return ValueGetterSupplier(parent.stores, make)


class _Materializing(Processor):
    """A table operation whose result may be kept in a store (then it emits through it)."""

    def __init__(self, store_name: str | None) -> None:
        self._store_name = store_name

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._forward = context.forward
        self._store = None
        if self._store_name is not None:
            self._store = context.get_state_store(self._store_name)
            self._store.listener = self._emit

    def _emit(self, key: Any, new: Any, old: Any, timestamp: int) -> None:
        self._forward(Record(key, Change(new, old), timestamp))

    def _send(self, record: Record, new: Any, old: Any, timestamp: int | None = None) -> None:
        stamp = record.timestamp if timestamp is None else timestamp
        store = self._store
        if store is None:
            self._forward(Record(record.key, Change(new, old), stamp, record.headers))
            return
        stored = store.get(record.key)
        if new is None and stored is None:
            return  # nothing to delete
        store.put(record.key, new, stamp, stored)


class KTableSourceProcessor(_Materializing):
    """builder.table(): each record is the key's new value (None deletes it)."""

    def __init__(self, store_name: str) -> None:
        super().__init__(store_name)

    def process(self, record: Record) -> None:
        if record.key is None:
            self.context.record_dropped(DROP_NULL_KEY, self._store_name or "")  # type: ignore[attr-defined]
            return
        assert self._store is not None
        old = self._store.get(record.key)
        if record.value is None and old is None:
            return  # deleting a key the table never had: nothing changes downstream
        self._store.put(record.key, record.value, record.timestamp, old)


class KTableFilterProcessor(_Materializing):
    def __init__(self, keep: Callable[[Any, Any], bool], store_name: str | None) -> None:
        super().__init__(store_name)
        self._keep = keep

    def process(self, record: Record) -> None:
        change: Change = record.value
        keep, key = self._keep, record.key
        new = change.new if change.new is not None and keep(key, change.new) else None
        old = change.old if change.old is not None and keep(key, change.old) else None
        if new is None and old is None:
            return  # not in the filtered table before or after
        self._send(record, new, old)


class KTableMapValuesProcessor(_Materializing):
    def __init__(self, mapper: Callable[[Any], Any], store_name: str | None) -> None:
        super().__init__(store_name)
        self._mapper = mapper

    def process(self, record: Record) -> None:
        change: Change = record.value
        mapper = self._mapper
        new = None if change.new is None else mapper(change.new)
        old = None if change.old is None else mapper(change.old)
        self._send(record, new, old)


class KTableRepartitionMapProcessor(Processor):
    """KTable.group_by(): the old value to its old group (subtract), the new to its new one (add)."""

    def __init__(self, selector: Callable[[Any, Any], tuple[Any, Any]]) -> None:
        self._selector = selector

    def init(self, context: ProcessorContext) -> None:
        self._forward = context.forward

    def process(self, record: Record) -> None:
        if record.key is None:
            raise StreamsException("a KTable being regrouped has a null key")
        change: Change = record.value
        new_pair = None if change.new is None else self._pair(record.key, change.new)
        old_pair = None if change.old is None else self._pair(record.key, change.old)
        if new_pair is not None and old_pair is not None and new_pair[0] == old_pair[0]:
            self._forward(Record(new_pair[0], Change(new_pair[1], old_pair[1]), record.timestamp, record.headers))
            return
        if old_pair is not None:
            self._forward(Record(old_pair[0], Change(None, old_pair[1]), record.timestamp, record.headers))
        if new_pair is not None:
            self._forward(Record(new_pair[0], Change(new_pair[1], None), record.timestamp, record.headers))

    def _pair(self, key: Any, value: Any) -> tuple[Any, Any] | None:
        pair = self._selector(key, value)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise StreamsException(f"KTable.group_by's selector must return (key, value), got {pair!r}")
        return None if pair[0] is None or pair[1] is None else pair


class KTableAggregateProcessor(Processor):
    """KGroupedTable.aggregate / reduce / count: subtract the old value, then add the new."""

    def __init__(self, store_name: str, initializer: Initializer | None, adder: Aggregator,
                 subtractor: Aggregator) -> None:
        # initializer None: reduce (the first value is the aggregate).
        self._store_name = store_name
        self._initializer = initializer
        self._adder = adder
        self._subtractor = subtractor

    def init(self, context: ProcessorContext) -> None:
        self._store = context.get_state_store(self._store_name)
        forward = context.forward
        self._store.listener = lambda key, new, old, ts: forward(Record(key, Change(new, old), ts))

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            raise StreamsException(f"KTable aggregation {self._store_name}: null key")
        change: Change = record.value
        found = self._store.get_with_timestamp(key)
        old_aggregate = None if found is None else found[0]
        aggregate = old_aggregate
        timestamp = record.timestamp
        if change.old is not None and found is not None:
            aggregate = self._subtractor(key, change.old, aggregate)
            timestamp = max(timestamp, found[1])
        if change.new is not None:
            if aggregate is None:
                aggregate = change.new if self._initializer is None else self._adder(
                    key, change.new, self._initializer()
                )
            else:
                aggregate = self._adder(key, change.new, aggregate)
            if found is not None:
                timestamp = max(timestamp, found[1])
        self._store.put(key, aggregate, timestamp, old_aggregate)
