"""KStream.join / left_join with a KTable or a GlobalKTable (the DSL wiring; rules in table_joins.py).

A stream-table join needs the stream and the table co-partitioned (checked at
start-up); a stream whose key changed upstream is repartitioned first. A
global table holds every partition in every instance, so a stream-globaltable
join needs neither, and may look up any key: `key_mapper(key, value)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowlog_streams.errors import TopologyException
from flowlog_streams.serdes import Serde
from flowlog_streams.table_joins import Joiner, KStreamTableJoinProcessor
from flowlog_streams.table_processors import ValueGetterSupplier

if TYPE_CHECKING:
    from flowlog_streams.global_table import GlobalKTable
    from flowlog_streams.kstream import KStream
    from flowlog_streams.ktable import KTable


def join_table(stream: KStream, table: KTable, joiner: Joiner, *, left: bool,
               name: str | None = None, key_serde: Serde | None = None,
               value_serde: Serde | None = None) -> KStream:
    """`key_serde` / `value_serde` (Kafka Streams' Joined) serialize the stream through the
    repartition topic when its key changed upstream; the key serde defaults to the table's."""
    from flowlog_streams.kstream import KStream, repartition_through
    from flowlog_streams.ktable import source_topics_of

    _check(joiner, "joiner")
    if table.builder is not stream.builder:
        raise TopologyException("a join needs a stream and a table of the same StreamsBuilder")
    if table.getter is None:
        raise TopologyException(
            f"table {table.node_name} cannot be read by a join (suppressed or windowed)"
        )
    builder = stream.builder
    builder._check_open()
    parent = stream.node_name
    node_name = name or builder.new_name("KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-")
    key_serde = key_serde or stream.key_serde or table.key_serde
    if stream.repartition_required:
        parent = repartition_through(
            builder, parent, f"{node_name}-left" if name else builder.new_name("KSTREAM-JOIN-"),
            key_serde, value_serde or stream.value_serde, None, None, generated=False,
        )
    getter = table.getter
    builder.topology.add_processor(
        node_name, lambda: KStreamTableJoinProcessor(getter, joiner, left=left), parent,
        stores=getter.stores,
    )
    topology = builder.topology
    topology.copartition(source_topics_of(topology, parent) + source_topics_of(topology, table.node_name))
    return KStream(builder, node_name, key_serde, None, repartition_required=False)


def join_global_table(stream: KStream, table: GlobalKTable, key_mapper: Callable[[Any, Any], Any],
                      joiner: Joiner, *, left: bool, name: str | None = None) -> KStream:
    from flowlog_streams.kstream import KStream

    _check(key_mapper, "key_mapper")
    _check(joiner, "joiner")
    if table.builder is not stream.builder:
        raise TopologyException("a join needs a stream and a table of the same StreamsBuilder")
    builder = stream.builder
    builder._check_open()
    node_name = name or builder.new_name("KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-")
    getter: ValueGetterSupplier = table.getter
    builder.topology.add_processor(
        node_name,
        lambda: KStreamTableJoinProcessor(getter, joiner, left=left, key_mapper=key_mapper),
        stream.node_name,  # a global store is not connected: every task may read it
    )
    # No repartition: the global table has every key; the stream keeps its partitioning.
    return KStream(builder, node_name, stream.key_serde, None,
                   repartition_required=stream.repartition_required)


def _check(function: Any, what: str) -> None:
    if not callable(function):
        raise TopologyException(f"{what}: expected a function, got {type(function).__name__}")
