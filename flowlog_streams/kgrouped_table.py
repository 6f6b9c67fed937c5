"""KGroupedTable: a table regrouped by `KTable.group_by`, re-aggregated with adder and subtractor.

    table.group_by(lambda user, u: (u.region, 1)).count()
    table.group_by(sel).aggregate(initializer, adder, subtractor)   # adder(key, value, agg)
    table.group_by(sel).reduce(adder, subtractor)                    # adder(agg, value)

Each upstream update goes through the repartition topic
`<application_id>-<store>-repartition` as `Change(new, old)` (ChangeSerde):
the old value to its old group, where the subtractor takes it out, and the
new value to its new group, where the adder puts it in (one record when
both groups are the same). So moving a row between groups keeps every
group's aggregate exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowlog_streams.aggregate_processors import Aggregator, Initializer
from flowlog_streams.change_serde import ChangeSerde
from flowlog_streams.kgrouped import check_callable, values_as
from flowlog_streams.ktable import KTable
from flowlog_streams.materialized import Materialized
from flowlog_streams.serdes import Serde, Serdes
from flowlog_streams.table_processors import KTableAggregateProcessor
from flowlog_streams.topology import KEY_VALUE, StoreSpec

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder

Reducer = Callable[[Any, Any], Any]  # (aggregate, value) -> new aggregate


class KGroupedTable:
    def __init__(self, builder: StreamsBuilder, select_node: str, key_serde: Serde | None,
                 value_serde: Serde | None, name: str | None) -> None:
        self._builder = builder
        self._select_node = select_node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._name = name

    def count(self, materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        materialized = materialized or Materialized()
        if materialized.value_serde is None:
            materialized = materialized.with_value_serde(Serdes.long())
        return self._build(_zero, _plus_one, _minus_one, materialized, name)

    def reduce(self, adder: Reducer, subtractor: Reducer,
               materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        check_callable(adder, "reduce adder")
        check_callable(subtractor, "reduce subtractor")
        return self._build(
            None, lambda k, v, agg: adder(agg, v), lambda k, v, agg: subtractor(agg, v),
            values_as(materialized, self.value_serde), name,
        )

    def aggregate(self, initializer: Initializer, adder: Aggregator, subtractor: Aggregator,
                  materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        check_callable(initializer, "aggregate initializer")
        check_callable(adder, "aggregate adder")
        check_callable(subtractor, "aggregate subtractor")
        return self._build(initializer, adder, subtractor, materialized or Materialized(), name)

    def _build(self, initializer: Initializer | None, adder: Aggregator, subtractor: Aggregator,
               materialized: Materialized, name: str | None) -> KTable:
        from flowlog_streams.kstream import repartition_through

        builder = self._builder
        builder._check_open()
        store_name = materialized.store_name or builder.new_name("KTABLE-AGGREGATE-STATE-STORE-")
        source = repartition_through(
            builder, self._select_node, self._name or store_name, self.key_serde,
            ChangeSerde(self.value_serde), None, None, generated=False,
        )
        node_name = name or builder.new_name("KTABLE-AGGREGATE-")
        builder.topology.add_processor(
            node_name,
            lambda: KTableAggregateProcessor(store_name, initializer, adder, subtractor),
            source,
        )
        key_serde = materialized.key_serde or self.key_serde
        value_serde = materialized.value_serde
        builder.topology.add_state_store(StoreSpec(
            store_name, KEY_VALUE, logging=materialized.logging, caching=materialized.caching,
            in_memory=materialized.in_memory, key_serde=key_serde, value_serde=value_serde,
        ), node_name)
        return KTable(builder, node_name, store_name, key_serde, value_serde)


def _zero() -> int:
    return 0


def _plus_one(key: Any, value: Any, aggregate: int) -> int:
    return aggregate + 1


def _minus_one(key: Any, value: Any, aggregate: int) -> int:
    return aggregate - 1
