"""KStream: a record stream and its stateless operations (Kafka Streams' names in Python spelling).

Functions receive `(key, value)`; the `*_values` variants receive the value.
Each operation adds one named processor (generated `KSTREAM-<OP>-<index>`
names unless `name=` is given) and returns a new KStream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flowlog_streams.errors import TopologyException
from flowlog_streams.kstream_processors import (
    BranchProcessor,
    DropNullKeysProcessor,
    FilterNotProcessor,
    FilterProcessor,
    FlatMapProcessor,
    FlatMapValuesProcessor,
    ForeachProcessor,
    MapProcessor,
    MapValuesProcessor,
    PassThroughProcessor,
    PeekProcessor,
    Predicate,
    SelectKeyProcessor,
)
from flowlog_streams.processor import ProcessorSupplier
from flowlog_streams.serdes import Serde
from flowlog_streams.topology import Partitioner, TopicChooser

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder
    from flowlog_streams.kgrouped import KGroupedStream

REPARTITION_SUFFIX = "-repartition"


class KStream:
    def __init__(
        self,
        builder: StreamsBuilder,
        node_name: str,
        key_serde: Serde | None,
        value_serde: Serde | None,
        *,
        repartition_required: bool,
    ) -> None:
        self.builder = builder
        self.node_name = node_name
        self.key_serde = key_serde
        self.value_serde = value_serde
        # A key-changing operation ran upstream: grouping or joining must repartition first.
        self.repartition_required = repartition_required

    # ---------------------------------------------------------------- helpers

    def _add(
        self,
        prefix: str,
        supplier: ProcessorSupplier,
        name: str | None,
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        keep_key_serde: bool = True,
        keep_value_serde: bool = True,
        key_changed: bool = False,
        stores: tuple[str, ...] = (),
    ) -> KStream:
        self.builder._check_open()
        node_name = name or self.builder.new_name(prefix)
        self.builder.topology.add_processor(node_name, supplier, self.node_name, stores=stores)
        return KStream(
            self.builder, node_name,
            self.key_serde if keep_key_serde else key_serde,
            self.value_serde if keep_value_serde else value_serde,
            repartition_required=self.repartition_required or key_changed,
        )

    # ---------------------------------------------------------------- stateless operations

    def filter(self, predicate: Predicate, *, name: str | None = None) -> KStream:
        _check_callable(predicate, "filter")
        return self._add("KSTREAM-FILTER-", lambda: FilterProcessor(predicate), name)

    def filter_not(self, predicate: Predicate, *, name: str | None = None) -> KStream:
        _check_callable(predicate, "filter_not")
        return self._add("KSTREAM-FILTER-", lambda: FilterNotProcessor(predicate), name)

    def map(self, mapper: Callable[[Any, Any], tuple[Any, Any]], *, name: str | None = None) -> KStream:
        _check_callable(mapper, "map")
        return self._add("KSTREAM-MAP-", lambda: MapProcessor(mapper), name,
                         keep_key_serde=False, keep_value_serde=False, key_changed=True)

    def map_values(self, mapper: Callable[[Any], Any], *, name: str | None = None) -> KStream:
        _check_callable(mapper, "map_values")
        return self._add("KSTREAM-MAPVALUES-", lambda: MapValuesProcessor(mapper), name,
                         keep_value_serde=False)

    def flat_map(
        self, mapper: Callable[[Any, Any], Iterable[tuple[Any, Any]]], *, name: str | None = None
    ) -> KStream:
        _check_callable(mapper, "flat_map")
        return self._add("KSTREAM-FLATMAP-", lambda: FlatMapProcessor(mapper), name,
                         keep_key_serde=False, keep_value_serde=False, key_changed=True)

    def flat_map_values(
        self, mapper: Callable[[Any], Iterable[Any]], *, name: str | None = None
    ) -> KStream:
        _check_callable(mapper, "flat_map_values")
        return self._add("KSTREAM-FLATMAPVALUES-", lambda: FlatMapValuesProcessor(mapper), name,
                         keep_value_serde=False)

    def select_key(self, mapper: Callable[[Any, Any], Any], *, name: str | None = None) -> KStream:
        _check_callable(mapper, "select_key")
        return self._add("KSTREAM-KEY-SELECT-", lambda: SelectKeyProcessor(mapper), name,
                         keep_key_serde=False, key_changed=True)

    def peek(self, action: Callable[[Any, Any], Any], *, name: str | None = None) -> KStream:
        _check_callable(action, "peek")
        return self._add("KSTREAM-PEEK-", lambda: PeekProcessor(action), name)

    def foreach(self, action: Callable[[Any, Any], Any], *, name: str | None = None) -> None:
        _check_callable(action, "foreach")
        self._add("KSTREAM-FOREACH-", lambda: ForeachProcessor(action), name)

    def process(
        self, processor_supplier: ProcessorSupplier, *store_names: str, name: str | None = None
    ) -> KStream:
        """A Processor API step: `processor_supplier()` makes one Processor per task."""
        _check_callable(processor_supplier, "process")
        return self._add("KSTREAM-PROCESSOR-", processor_supplier, name,
                         keep_key_serde=False, keep_value_serde=False, key_changed=True,
                         stores=tuple(store_names))

    def merge(self, other: KStream, *, name: str | None = None) -> KStream:
        if other.builder is not self.builder:
            raise TopologyException("merge() needs two streams of the same StreamsBuilder")
        self.builder._check_open()
        node_name = name or self.builder.new_name("KSTREAM-MERGE-")
        self.builder.topology.add_processor(
            node_name, PassThroughProcessor, self.node_name, other.node_name
        )
        same_keys = self.key_serde is other.key_serde
        same_values = self.value_serde is other.value_serde
        return KStream(
            self.builder, node_name,
            self.key_serde if same_keys else None,
            self.value_serde if same_values else None,
            repartition_required=self.repartition_required or other.repartition_required,
        )

    def group_by_key(self, *, key_serde: Serde | None = None, value_serde: Serde | None = None,
                     name: str | None = None) -> KGroupedStream:
        """Group by the current key (repartitioned first if an upstream step changed keys)."""
        from flowlog_streams.kgrouped import KGroupedStream

        return KGroupedStream(self, key_serde or self.key_serde, value_serde or self.value_serde,
                              name)

    def group_by(self, selector: Callable[[Any, Any], Any], *, key_serde: Serde | None = None,
                 value_serde: Serde | None = None, name: str | None = None) -> KGroupedStream:
        """Group by `selector(key, value)`: always through a repartition topic."""
        from flowlog_streams.kgrouped import KGroupedStream

        _check_callable(selector, "group_by")
        rekeyed = self._add("KSTREAM-KEY-SELECT-", lambda: SelectKeyProcessor(selector), None,
                            keep_key_serde=False, key_changed=True)
        return KGroupedStream(rekeyed, key_serde, value_serde or self.value_serde, name)

    def split(self, prefix: str | None = None) -> BranchedKStream:
        return BranchedKStream(self, prefix)

    # ---------------------------------------------------------------- joins

    def join(self, other: Any, *args: Any, name: str | None = None, **kwargs: Any) -> KStream:
        """Inner join, by what `other` is (Kafka Streams' argument orders):

        - `join(stream, joiner, windows[, stream_joined])`: every pair of records within
          the join windows gives `joiner(left, right)`;
        - `join(table, joiner)`: each record with the table's current value for its key;
        - `join(global_table, key_mapper, joiner)`: the table key is `key_mapper(key, value)`.
        A record without a partner emits nothing."""
        return self._join(other, args, kwargs, "join", name)

    def left_join(self, other: Any, *args: Any, name: str | None = None, **kwargs: Any) -> KStream:
        """As join(), but a left record without a partner emits `joiner(value, None)` (with a
        stream: once its window has closed)."""
        return self._join(other, args, kwargs, "left_join", name)

    def outer_join(self, other: KStream, joiner: Callable[[Any, Any], Any], windows: Any = None,
                   stream_joined: Any = None, *, name: str | None = None) -> KStream:
        """Outer join of two streams: unjoined records give `joiner(left, None)` or
        `joiner(None, right)` once their window has closed."""
        if not isinstance(other, KStream):
            raise TypeError(f"outer_join() takes a KStream, not {type(other).__name__}")
        return self._join(other, (joiner, windows, stream_joined), {}, "outer_join", name)

    def _join(self, other: Any, args: tuple[Any, ...], kwargs: dict[str, Any], method: str,
              name: str | None) -> KStream:
        from flowlog_streams.global_table import GlobalKTable
        from flowlog_streams.ktable import KTable
        from flowlog_streams.stream_stream_join import join_streams
        from flowlog_streams.stream_table_join import join_global_table, join_table

        left = method != "join"
        if isinstance(other, KStream):
            return join_streams(self, other, *args, name=name, left_outer=left,
                                right_outer=method == "outer_join", **kwargs)
        if isinstance(other, KTable):
            return join_table(self, other, *args, left=left, name=name, **kwargs)
        if isinstance(other, GlobalKTable):
            return join_global_table(self, other, *args, left=left, name=name, **kwargs)
        raise TypeError(
            f"{method}() joins a KStream, KTable or GlobalKTable, not {type(other).__name__}"
        )

    # ---------------------------------------------------------------- topics

    def to(
        self,
        topic: str | TopicChooser,
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        partitioner: Partitioner | None = None,
        name: str | None = None,
    ) -> None:
        """Write to a topic, or to the topic `topic(key, value, record_metadata)` names."""
        self.builder._check_open()
        node_name = name or self.builder.new_name("KSTREAM-SINK-")
        self.builder.topology.add_sink(
            node_name, topic, self.node_name,
            key_serde=key_serde or self.key_serde,
            value_serde=value_serde or self.value_serde,
            partitioner=partitioner,
        )

    def repartition(
        self,
        *,
        name: str | None = None,
        num_partitions: int | None = None,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        partitioner: Partitioner | None = None,
    ) -> KStream:
        """Write through `<application_id>-<name>-repartition` and read it back (a new sub-topology)."""
        builder = self.builder
        builder._check_open()
        prefix = name or builder.new_name("KSTREAM-REPARTITION-")
        key_serde = key_serde or self.key_serde
        value_serde = value_serde or self.value_serde
        source_name = repartition_through(
            builder, self.node_name, prefix, key_serde, value_serde, partitioner, num_partitions,
            generated=name is None,
        )
        return KStream(builder, source_name, key_serde, value_serde, repartition_required=False)


def repartition_through(
    builder: StreamsBuilder,
    parent: str,
    prefix: str,
    key_serde: Serde | None,
    value_serde: Serde | None,
    partitioner: Partitioner | None,
    num_partitions: int | None,
    *,
    generated: bool,
    drop_null_keys: bool = False,
) -> str:
    """filter -> sink -> internal topic -> source, named as Kafka Streams names them; the source's name."""
    topic = prefix if prefix.endswith(REPARTITION_SUFFIX) else prefix + REPARTITION_SUFFIX
    # Generated names burn three indexes, as Kafka Streams' do, so later names match its own.
    sink_name = builder.new_name("KSTREAM-SINK-")
    filter_name = builder.new_name("KSTREAM-FILTER-")
    source_name = builder.new_name("KSTREAM-SOURCE-")
    if not generated:
        sink_name, filter_name, source_name = (
            f"{topic}-sink", f"{topic}-filter", f"{topic}-source"
        )
    topology = builder.topology
    topology.add_internal_topic(topic, num_partitions)
    if drop_null_keys:
        topology.add_processor(filter_name, lambda: DropNullKeysProcessor(prefix), parent)
    else:
        topology.add_processor(filter_name, PassThroughProcessor, parent)
    topology.add_sink(sink_name, topic, filter_name, key_serde=key_serde,
                      value_serde=value_serde, partitioner=partitioner)
    topology.add_source(source_name, topic, key_serde=key_serde, value_serde=value_serde)
    return source_name


class BranchedKStream:
    """`stream.split(prefix).branch(pred, name)...default_branch()` -> {prefix + name: KStream}.

    A record goes to the first branch whose predicate holds; unnamed branches
    are numbered from 1 (the default branch is 0), as Kafka Streams names them.
    """

    def __init__(self, stream: KStream, prefix: str | None) -> None:
        self._stream = stream
        builder = stream.builder
        builder._check_open()
        self._name = prefix or builder.new_name("KSTREAM-BRANCH-")
        self._predicates: list[Predicate] = []
        self._children: list[str] = []
        self._default: list[str] = []
        self._branches: dict[str, KStream] = {}
        predicates, children, default = self._predicates, self._children, self._default
        builder.topology.add_processor(
            self._name, lambda: BranchProcessor(predicates, children, default), stream.node_name
        )

    def branch(self, predicate: Predicate, name: str | None = None) -> BranchedKStream:
        _check_callable(predicate, "branch")
        if self._default:
            raise TopologyException("branch() after default_branch(): the default must come last")
        self._predicates.append(predicate)
        child = self._add_child(name if name is not None else str(len(self._predicates)))
        self._children.append(child)
        return self

    def default_branch(self, name: str | None = None) -> dict[str, KStream]:
        if self._default:
            raise TopologyException("default_branch() was already called")
        self._default.append(self._add_child(name if name is not None else "0"))
        return dict(self._branches)

    def no_default_branch(self) -> dict[str, KStream]:
        return dict(self._branches)

    def _add_child(self, suffix: str) -> str:
        stream = self._stream
        child = self._name + suffix
        if child in self._branches:
            raise TopologyException(f"branch {child!r} already exists")
        stream.builder.new_name(child)  # burns an index, as Kafka Streams' names do
        stream.builder.topology.add_processor(child, PassThroughProcessor, self._name)
        self._branches[child] = KStream(
            stream.builder, child, stream.key_serde, stream.value_serde,
            repartition_required=stream.repartition_required,
        )
        return child


def _check_callable(function: Any, what: str) -> None:
    if not callable(function):
        raise TypeError(f"{what}() needs a callable, got {function!r}")
