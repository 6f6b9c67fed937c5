"""Joins that read a table: stream-table, stream-globaltable and table-table (equal keys).

Kafka Streams' rules (`ki/KStreamKTableJoinProcessor.java`,
`KTableKTableInnerJoin.java`, `KTableKTableLeftJoin.java`,
`KTableKTableRightJoin.java`, `KTableKTableOuterJoin.java`):

stream-table / stream-globaltable: each stream record looks the table up
(through its value getter, key = the record's key or `key_mapper(key,
value)`); inner emits only on a match, left emits `joiner(value, None)`
without one; the result keeps the stream record's key and timestamp. A
record with a null value is dropped (counted); a null key (or mapped key)
too, except in a left join, where it joins with None. Table updates never
emit.

table-table: an update on either side reads the other side's current value
and emits `Change(joiner(new, other), joiner(old, other))` at the max of
both timestamps; inner emits only when the other side has a value; left
also when the right side is missing (`joiner(left, None)`), and an update of
the right side emits only while the left side has a value; outer emits
whenever either side has one. A result that disappears is a `Change(None,
old)`, a tombstone downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from flowlog_streams.aggregate_processors import DROP_NULL_KEY, DROP_NULL_VALUE, Change
from flowlog_streams.processor import Processor, ProcessorContext, Record
from flowlog_streams.table_processors import Getter, ValueGetterSupplier

Joiner = Callable[[Any, Any], Any]  # (left value, right value) -> result

INNER: Final = "inner"
LEFT: Final = "left"
OUTER: Final = "outer"
JOIN_KINDS: Final = (INNER, LEFT, OUTER)


class KStreamTableJoinProcessor(Processor):
    def __init__(self, table: ValueGetterSupplier, joiner: Joiner, *, left: bool,
                 key_mapper: Callable[[Any, Any], Any] | None = None) -> None:
        self._table = table
        self._joiner = joiner
        self._left = left
        self._key_mapper = key_mapper

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._get = self._table.make(context)
        self._forward = context.forward

    def process(self, record: Record) -> None:
        key, value = record.key, record.value
        table_key = key if self._key_mapper is None else self._key_mapper(key, value)
        if value is None or (table_key is None and not (self._left and key is None)):
            reason = DROP_NULL_VALUE if value is None else DROP_NULL_KEY
            self.context.record_dropped(reason, self._table.stores[0])  # type: ignore[attr-defined]
            return
        found = None if table_key is None else self._get(table_key)
        if found is None and not self._left:
            return
        other = None if found is None else found[0]
        self._forward(Record(key, self._joiner(value, other), record.timestamp, record.headers))


class KTableKTableJoinSide(Processor):
    """One side's updates in a table-table join; `this_is_left` says how to call the joiner."""

    def __init__(self, other: ValueGetterSupplier, joiner: Joiner, kind: str,
                 *, this_is_left: bool) -> None:
        self._other = other
        self._joiner = joiner
        self._kind = kind
        self._this_is_left = this_is_left

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._get = self._other.make(context)
        self._forward = context.forward

    def _join(self, this: Any, other: Any) -> Any:
        return self._joiner(this, other) if self._this_is_left else self._joiner(other, this)

    def process(self, record: Record) -> None:
        if record.key is None:
            self.context.record_dropped(DROP_NULL_KEY, self._other.stores[0])  # type: ignore[attr-defined]
            return
        change: Change = record.value
        found = self._get(record.key)
        other = None if found is None else found[0]
        kind = self._kind
        # Does this side's value alone make a result (left join's left side, outer's both)?
        this_suffices = kind == OUTER or (kind == LEFT and self._this_is_left)
        # Does the other side's value alone (left join seen from its right side)?
        other_suffices = kind == OUTER or (kind == LEFT and not self._this_is_left)
        if other is None and not this_suffices:
            return
        if other is None and change.new is None and change.old is None:
            return
        timestamp = record.timestamp if found is None else max(record.timestamp, found[1])

        def result(value: Any) -> Any:
            if value is not None and (other is not None or this_suffices):
                return self._join(value, other)
            if value is None and other is not None and other_suffices:
                return self._join(None, other)
            return None

        self._forward(Record(record.key, Change(result(change.new), result(change.old)),
                             timestamp, record.headers))


def join_getter(left: ValueGetterSupplier, right: ValueGetterSupplier, joiner: Joiner,
                kind: str) -> ValueGetterSupplier:
    """The joined table's value for a key, from both sides' getters (an unmaterialized join)."""

    def make(context: ProcessorContext) -> Getter:
        get_left, get_right = left.make(context), right.make(context)

        def joined(key: Any) -> tuple[Any, int] | None:
            found_left, found_right = get_left(key), get_right(key)
            if found_left is None and (kind != OUTER or found_right is None):
                return None
            if found_right is None and kind == INNER:
                return None
            left_value = None if found_left is None else found_left[0]
            right_value = None if found_right is None else found_right[0]
            timestamp = max(f[1] for f in (found_left, found_right) if f is not None)
            return joiner(left_value, right_value), timestamp

        return joined

    return ValueGetterSupplier(left.stores + right.stores, make)
