"""KTable: a changelog stream, each key's latest value.

Tables come from `builder.table(topic)`, aggregations and table operations.
Updates travel between table processors as `Change(new, old)`;
`to_stream()` turns them into a record stream of new values (a deleted key
becomes a tombstone). A table that is not materialized is read by joins
through its value getter (table_processors.py): its parent's store passed
through the operations in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowlog_streams.aggregate_processors import ToStreamProcessor
from flowlog_streams.errors import TopologyException
from flowlog_streams.materialized import Materialized
from flowlog_streams.serdes import Serde
from flowlog_streams.suppress import BufferedValueSerde, KTableSuppressProcessor, Suppressed
from flowlog_streams.table_joins import (
    INNER,
    LEFT,
    OUTER,
    Joiner,
    KTableKTableJoinSide,
    join_getter,
)
from flowlog_streams.table_processors import (
    KTableFilterProcessor,
    KTableMapValuesProcessor,
    KTableRepartitionMapProcessor,
    ValueGetterSupplier,
    filter_getter,
    map_values_getter,
    store_getter,
)
from flowlog_streams.topology import KEY_VALUE, StoreSpec
from flowlog_streams.windows import SessionWindows, SlidingWindows, TimeWindows

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder
    from flowlog_streams.kgrouped_table import KGroupedTable
    from flowlog_streams.kstream import KStream


class KTable:
    def __init__(self, builder: StreamsBuilder, node_name: str, store_name: str | None,
                 key_serde: Serde | None, value_serde: Serde | None,
                 windows: TimeWindows | SlidingWindows | SessionWindows | None = None,
                 getter: ValueGetterSupplier | None = None) -> None:
        self.builder = builder
        self.node_name = node_name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._store_name = store_name
        # The windows of a windowed aggregation's table: suppress() needs their grace.
        self.windows = windows
        # How joins read this table (None: it cannot be read, e.g. a suppressed table).
        self.getter = getter if getter is not None or store_name is None or windows is not None \
            else store_getter(store_name)

    @property
    def queryable_store_name(self) -> str | None:
        """The store holding this table (for interactive queries), if it is materialized."""
        return self._store_name

    def suppress(self, suppressed: Suppressed, *, name: str | None = None) -> KTable:
        """Hold updates back: final results per window, or at most one per time limit."""
        if suppressed.until_close and self.windows is None:
            raise TopologyException("until_window_closes() needs a windowed table")
        if self.key_serde is None or self.value_serde is None:
            raise TopologyException(
                "suppress() keeps its buffer in a changelogged store: materialize the table "
                "with key and value serdes"
            )
        builder = self.builder
        builder._check_open()
        node_name = name or builder.new_name("KTABLE-SUPPRESS-")
        store_name = f"{node_name}-store"
        windows = self.windows
        builder.topology.add_processor(
            node_name, lambda: KTableSuppressProcessor(store_name, suppressed, windows),
            self.node_name,
        )
        builder.topology.add_state_store(StoreSpec(
            store_name, KEY_VALUE, caching=False, in_memory=True,
            key_serde=self.key_serde, value_serde=BufferedValueSerde(self.value_serde),
        ), node_name)
        return KTable(builder, node_name, None, self.key_serde, self.value_serde, windows)

    # ---------------------------------------------------------------- stateless operations

    def filter(self, predicate: Callable[[Any, Any], bool], materialized: Materialized | None = None,
               *, name: str | None = None) -> KTable:
        """Keep rows with `predicate(key, value)`; a row that stops matching is deleted."""
        _check_callable(predicate, "filter")
        return self._filtered(predicate, materialized, name)

    def filter_not(self, predicate: Callable[[Any, Any], bool],
                   materialized: Materialized | None = None, *, name: str | None = None) -> KTable:
        _check_callable(predicate, "filter_not")
        return self._filtered(lambda k, v: not predicate(k, v), materialized, name)

    def _filtered(self, keep: Callable[[Any, Any], bool], materialized: Materialized | None,
                  name: str | None) -> KTable:
        getter = filter_getter(self.getter, keep) if self.getter is not None else None
        return self._derive(
            "KTABLE-FILTER-", lambda store: KTableFilterProcessor(keep, store), materialized, name,
            self.value_serde, getter,
        )

    def map_values(self, mapper: Callable[[Any], Any], materialized: Materialized | None = None,
                   *, name: str | None = None) -> KTable:
        """`mapper(value)` for every row (the key stays, so no repartitioning)."""
        _check_callable(mapper, "map_values")
        getter = map_values_getter(self.getter, mapper) if self.getter is not None else None
        value_serde = materialized.value_serde if materialized is not None else None
        return self._derive(
            "KTABLE-MAPVALUES-", lambda store: KTableMapValuesProcessor(mapper, store),
            materialized, name, value_serde, getter,
        )

    def _derive(self, prefix: str, supplier: Callable[[str | None], Any],
                materialized: Materialized | None, name: str | None,
                value_serde: Serde | None, getter: ValueGetterSupplier | None,
                parents: tuple[str, ...] = ()) -> KTable:
        """A table operation's node (below `parents`, by default this table), kept in a
        store when `materialized` is given: joins then read that store."""
        builder = self.builder
        builder._check_open()
        node_name = name or builder.new_name(prefix)
        store_name = None
        if materialized is not None:
            store_name = materialized.store_name or builder.new_name(prefix + "STATE-STORE-")
        builder.topology.add_processor(
            node_name, lambda: supplier(store_name), *(parents or (self.node_name,))
        )
        key_serde = self.key_serde
        if materialized is not None and store_name is not None:
            key_serde = materialized.key_serde or key_serde
            value_serde = materialized.value_serde or value_serde
            builder.topology.add_state_store(StoreSpec(
                store_name, KEY_VALUE, logging=materialized.logging, caching=materialized.caching,
                in_memory=materialized.in_memory, key_serde=key_serde, value_serde=value_serde,
            ), node_name)
            getter = store_getter(store_name)
        return KTable(builder, node_name, store_name, key_serde, value_serde, self.windows, getter)

    # ---------------------------------------------------------------- regrouping

    def group_by(self, selector: Callable[[Any, Any], tuple[Any, Any]], *,
                 key_serde: Serde | None = None, value_serde: Serde | None = None,
                 name: str | None = None) -> KGroupedTable:
        """Regroup rows by `selector(key, value) -> (new_key, new_value)` (always repartitions)."""
        from flowlog_streams.kgrouped_table import KGroupedTable

        _check_callable(selector, "group_by")
        builder = self.builder
        builder._check_open()
        node_name = builder.new_name("KTABLE-SELECT-")
        builder.topology.add_processor(
            node_name, lambda: KTableRepartitionMapProcessor(selector), self.node_name
        )
        return KGroupedTable(builder, node_name, key_serde, value_serde, name)

    # ---------------------------------------------------------------- table-table joins

    def join(self, other: KTable, *args: Any, name: str | None = None, **kwargs: Any) -> KTable:
        """Inner join: a row while both tables have a value.

        - `join(other, joiner[, materialized])`: on equal keys;
        - `join(other, foreign_key_extractor, joiner[, materialized])`: this table's row
          joins `other`'s row `foreign_key_extractor(value)` (a foreign-key join)."""
        return self._join_any(other, args, kwargs, INNER, name)

    def left_join(self, other: KTable, *args: Any, name: str | None = None, **kwargs: Any) -> KTable:
        """A row for every row of this table; `joiner(left, None)` while `other` lacks it
        (equal keys, or a foreign key as in join())."""
        return self._join_any(other, args, kwargs, LEFT, name)

    def _join_any(self, other: KTable, args: tuple[Any, ...], kwargs: dict[str, Any], kind: str,
                  name: str | None) -> KTable:
        from flowlog_streams.fk_join import foreign_key_join

        extractor = kwargs.pop("foreign_key_extractor", None)
        positional = list(args)
        if extractor is None and len(positional) >= 2 and callable(positional[1]):
            extractor = positional.pop(0)
        if not positional and "joiner" not in kwargs:
            raise TopologyException(f"KTable.{_JOIN_METHOD[kind]}() needs a joiner")
        joiner = kwargs.pop("joiner") if "joiner" in kwargs else positional.pop(0)
        materialized = kwargs.pop("materialized", positional.pop(0) if positional else None)
        if positional or kwargs:
            raise TopologyException(
                f"KTable.{_JOIN_METHOD[kind]}(): unexpected arguments {positional or sorted(kwargs)}"
            )
        if extractor is None:
            return self._join(other, joiner, kind, materialized, name)
        if not isinstance(other, KTable):
            raise TopologyException("a foreign-key join joins another KTable")
        return foreign_key_join(self, other, extractor, joiner, left_join=kind == LEFT,
                                materialized=materialized, name=name)

    def outer_join(self, other: KTable, joiner: Joiner, materialized: Materialized | None = None,
                   *, name: str | None = None) -> KTable:
        """A row for every key of either table (the missing side is None)."""
        return self._join(other, joiner, OUTER, materialized, name)

    def _join(self, other: KTable, joiner: Joiner, kind: str,
              materialized: Materialized | None, name: str | None) -> KTable:
        if not isinstance(other, KTable):
            raise TopologyException(
                f"KTable.{_JOIN_METHOD[kind]}() joins another KTable (for a foreign-key join "
                f"pass foreign_key_extractor=...), got {type(other).__name__}"
            )
        _check_callable(joiner, "joiner")
        if other.builder is not self.builder:
            raise TopologyException("a join needs two tables of the same StreamsBuilder")
        for table in (self, other):
            if table.getter is None:
                raise TopologyException(
                    f"table {table.node_name} cannot be read by a join (a suppressed or windowed "
                    f"table): materialize it first"
                )
        assert self.getter is not None and other.getter is not None
        builder = self.builder
        builder._check_open()
        prefix = {INNER: "KTABLE-JOIN", LEFT: "KTABLE-LEFTJOIN", OUTER: "KTABLE-OUTERJOIN"}[kind]
        this_name = builder.new_name(f"{prefix}THIS-")
        other_name = builder.new_name(f"{prefix}OTHER-")
        this_getter, other_getter = self.getter, other.getter
        topology = builder.topology
        topology.add_processor(
            this_name, lambda: KTableKTableJoinSide(other_getter, joiner, kind, this_is_left=True),
            self.node_name, stores=other_getter.stores,
        )
        topology.add_processor(
            other_name, lambda: KTableKTableJoinSide(this_getter, joiner, kind, this_is_left=False),
            other.node_name, stores=this_getter.stores,
        )
        topology.copartition(
            source_topics_of(topology, self.node_name) + source_topics_of(topology, other.node_name)
        )
        # Both sides' results meet in one node (Kafka Streams' KTable-KTable join merger).
        sides = KTable(builder, "", None, self.key_serde, None, None,
                       join_getter(this_getter, other_getter, joiner, kind))
        return sides._derive(
            "KTABLE-MERGE-", lambda store: KTableMapValuesProcessor(_identity, store),
            materialized, name, None, sides.getter, parents=(this_name, other_name),
        )

    def to_stream(self, *, name: str | None = None) -> KStream:
        from flowlog_streams.kstream import KStream

        self.builder._check_open()
        node_name = name or self.builder.new_name("KTABLE-TOSTREAM-")
        self.builder.topology.add_processor(node_name, ToStreamProcessor, self.node_name)
        return KStream(self.builder, node_name, self.key_serde, self.value_serde,
                       repartition_required=False)


_JOIN_METHOD = {INNER: "join", LEFT: "left_join", OUTER: "outer_join"}


def _identity(value: Any) -> Any:
    return value


def _check_callable(function: Any, what: str) -> None:
    if not callable(function):
        raise TopologyException(f"{what}: expected a function, got {type(function).__name__}")


def source_topics_of(topology: Any, node_name: str) -> list[str]:
    """The source topics whose records reach `node_name` (walking parents, stopping at sources)."""
    from flowlog_streams.topology import SourceNode

    found: list[str] = []
    seen: set[str] = set()
    pending = [node_name]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = topology.nodes[name]
        if isinstance(node, SourceNode):
            found.extend(t for t in node.topics if t not in found)
        else:
            pending.extend(node.parents)
    return found
