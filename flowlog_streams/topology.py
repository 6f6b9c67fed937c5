"""The topology: named sources, processors and sinks, grouped into sub-topologies.

Built by StreamsBuilder (the DSL) or by hand (`add_source`, `add_processor`,
`add_sink`, as Kafka Streams' `Topology`). Pure data: tasks instantiate fresh
processors from its factories (`flowlog_streams.graph`).

Sub-topologies are the connected components of the node graph (nodes joined
to their parents, processors sharing a store joined to each other); a
repartition topic, written by a sink and read by a source, splits them. They
are numbered as Kafka Streams (2.4+, KAFKA-9020) numbers them: in the order
their first node was added, so upstream sub-topologies come first whatever
the nodes are named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from flowlog_streams.errors import TopologyException
from flowlog_streams.processor import ProcessorSupplier
from flowlog_streams.serdes import Serde, check_serde

# (key, value, record_metadata) -> topic name, as Kafka Streams' TopicNameExtractor.
TopicChooser = Callable[[Any, Any, Any], str]
# (topic, key, value, num_partitions) -> partition, or None for the default (murmur2 of the key).
Partitioner = Callable[[str, Any, Any, int], "int | None"]
# (key, value, timestamp, partition_time) -> the record's event time in ms.
TimestampExtractor = Callable[[Any, Any, int, int], int]

OFFSET_RESETS = ("earliest", "latest")
_LEGAL_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")


@attrs.define
class SourceNode:
    name: str
    topics: tuple[str, ...]
    pattern: re.Pattern[str] | None
    key_serde: Serde | None
    value_serde: Serde | None
    timestamp_extractor: TimestampExtractor | None
    auto_offset_reset: str | None

    def describe_topics(self) -> str:
        if self.pattern is not None:
            return self.pattern.pattern
        # Sorted: Kafka prints a hash set, which is sorted for the short names tests use.
        return "[" + ", ".join(sorted(self.topics)) + "]"


@attrs.define
class ProcessorNode:
    name: str
    supplier: ProcessorSupplier
    parents: tuple[str, ...]
    stores: tuple[str, ...] = ()


@attrs.define
class SinkNode:
    name: str
    topic: str | None
    chooser: TopicChooser | None
    key_serde: Serde | None
    value_serde: Serde | None
    partitioner: Partitioner | None
    parents: tuple[str, ...]


Node = SourceNode | ProcessorNode | SinkNode


@attrs.frozen
class InternalTopic:
    """A topic the app owns (repartition or changelog), named without the app id."""

    name: str
    num_partitions: int | None = None
    kind: str = "repartition"
    configs: dict[str, str] = attrs.field(factory=dict)


KEY_VALUE = "key_value"
WINDOW = "window"
SESSION = "session"
CHANGELOG_SUFFIX = "-changelog"
# Kafka Streams' windowstore.changelog.additional.retention.ms: window changelogs keep a day
# more than the store, so a restore still finds every live window.
CHANGELOG_EXTRA_RETENTION_MS = 86_400_000


@attrs.frozen
class StoreSpec:
    """A state store a processor uses: kind, how it is kept, and its serdes (for queries)."""

    name: str
    kind: str = KEY_VALUE
    logging: bool = True
    caching: bool = True
    in_memory: bool = False
    # Window and session stores: how long windows are kept (size + grace at least).
    retention_ms: int = 0
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    # A source table's store: this user topic is its changelog (Kafka Streams' source-topic
    # optimization): nothing extra is written, and restoring reads the topic itself.
    source_topic: str | None = None
    # Changelog topic configs that replace the kind's defaults (a stream-stream join's
    # window stores keep every record: cleanup.policy=delete, as Kafka Streams).
    changelog_overrides: tuple[tuple[str, str], ...] = ()

    @property
    def changelog(self) -> str:
        return self.source_topic or self.name + CHANGELOG_SUFFIX

    def changelog_configs(self) -> dict[str, str]:
        if self.kind == KEY_VALUE:
            configs = {"cleanup.policy": "compact"}
        else:
            configs = {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(self.retention_ms + CHANGELOG_EXTRA_RETENTION_MS),
            }
        configs.update(self.changelog_overrides)
        return configs


@attrs.frozen
class Subtopology:
    id: int
    node_names: tuple[str, ...]
    source_names: tuple[str, ...]
    # Source topics as written in the topology (internal ones undecorated).
    source_topics: tuple[str, ...]
    has_pattern: bool


class Topology:
    """Nodes in creation order; `describe()` prints them as Kafka Streams does."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.internal_topics: dict[str, InternalTopic] = {}
        self.stores: dict[str, StoreSpec] = {}
        self.copartition_groups: list[frozenset[str]] = []
        # Global tables' stores (builder.global_table): not in any sub-topology or task.
        self.global_stores: dict[str, Any] = {}
        self._children: dict[str, list[str]] = {}
        self._subtopologies: list[Subtopology] | None = None

    # ---------------------------------------------------------------- building

    def add_source(
        self,
        name: str,
        *topics: str,
        pattern: str | re.Pattern[str] | None = None,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        timestamp_extractor: TimestampExtractor | None = None,
        auto_offset_reset: str | None = None,
    ) -> Topology:
        self._check_new_name(name)
        if bool(topics) == (pattern is not None):
            raise TopologyException(f"source {name!r} needs either topics or a pattern, not both")
        if auto_offset_reset is not None and auto_offset_reset not in OFFSET_RESETS:
            raise TopologyException(
                f"source {name!r}: auto_offset_reset must be one of {OFFSET_RESETS}, "
                f"not {auto_offset_reset!r}"
            )
        for topic in topics:
            _check_topic_name(topic)
            for other in self.sources():
                if topic in other.topics:
                    raise TopologyException(
                        f"topic {topic!r} is already read by source {other.name!r}"
                    )
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        self._add(SourceNode(
            name, tuple(topics), compiled,
            check_serde(key_serde, "key_serde"), check_serde(value_serde, "value_serde"),
            timestamp_extractor, auto_offset_reset,
        ), ())
        return self

    def add_processor(
        self, name: str, supplier: ProcessorSupplier, *parent_names: str, stores: Sequence[str] = ()
    ) -> Topology:
        self._check_new_name(name)
        if not callable(supplier):
            raise TopologyException(f"processor {name!r}: supplier must be callable")
        self._check_parents(name, parent_names)
        self._add(ProcessorNode(name, supplier, tuple(parent_names), tuple(stores)), parent_names)
        return self

    def add_sink(
        self,
        name: str,
        topic: str | TopicChooser,
        *parent_names: str,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        partitioner: Partitioner | None = None,
    ) -> Topology:
        self._check_new_name(name)
        self._check_parents(name, parent_names)
        if isinstance(topic, str):
            _check_topic_name(topic)
            fixed, chooser = topic, None
        elif callable(topic):
            fixed, chooser = None, topic
        else:
            raise TopologyException(f"sink {name!r}: topic must be a name or a callable")
        self._add(SinkNode(
            name, fixed, chooser, check_serde(key_serde, "key_serde"),
            check_serde(value_serde, "value_serde"), partitioner, tuple(parent_names),
        ), parent_names)
        return self

    def add_internal_topic(self, name: str, num_partitions: int | None = None) -> None:
        _check_topic_name(name)
        if num_partitions is not None and num_partitions < 1:
            raise TopologyException(f"topic {name!r}: num_partitions must be >= 1")
        self.internal_topics[name] = InternalTopic(name, num_partitions)

    def add_state_store(self, spec: StoreSpec, *processor_names: str) -> Topology:
        """Add a store and connect it to processors (Kafka Streams' addStateStore)."""
        if not spec.name or not _LEGAL_NAME.match(spec.name):
            raise TopologyException(f"illegal store name {spec.name!r}: use [a-zA-Z0-9._-]")
        if spec.name in self.stores:
            raise TopologyException(f"store {spec.name!r} is already in the topology")
        if spec.kind not in (KEY_VALUE, WINDOW, SESSION):
            raise TopologyException(f"store {spec.name!r}: unknown kind {spec.kind!r}")
        self.stores[spec.name] = spec
        if spec.logging and spec.source_topic is None:
            self.internal_topics[spec.changelog] = InternalTopic(
                spec.changelog, None, "changelog", spec.changelog_configs()
            )
        self.connect_store(spec.name, *processor_names)
        return self

    def add_global_store(self, store: Any) -> None:
        """A global table's store (a global_table.GlobalStore): every instance holds it all."""
        name = store.spec.name
        if name in self.stores or name in self.global_stores:
            raise TopologyException(f"store {name!r} is already in the topology")
        for other in self.global_stores.values():
            if other.topic == store.topic:
                raise TopologyException(f"topic {store.topic!r} already fills global store {other.spec.name!r}")
        self.global_stores[name] = store
        self._subtopologies = None

    def connect_store(self, store_name: str, *processor_names: str) -> None:
        if store_name not in self.stores:
            raise TopologyException(f"store {store_name!r} is not in the topology")
        for name in processor_names:
            node = self.nodes.get(name)
            if not isinstance(node, ProcessorNode):
                raise TopologyException(f"{name!r} is not a processor of the topology")
            if store_name not in node.stores:
                node.stores = node.stores + (store_name,)
        self._subtopologies = None

    def copartition(self, topics: Iterable[str]) -> None:
        """Declare that these source topics must have the same number of partitions."""
        self.copartition_groups.append(frozenset(topics))

    def _add(self, node: Node, parents: Iterable[str]) -> None:
        self.nodes[node.name] = node
        self._children[node.name] = []
        for parent in parents:
            self._children[parent].append(node.name)
        self._subtopologies = None

    def _check_new_name(self, name: str) -> None:
        if not name:
            raise TopologyException("node names must not be empty")
        if name in self.nodes:
            raise TopologyException(f"node {name!r} is already in the topology")

    def _check_parents(self, name: str, parents: Sequence[str]) -> None:
        if not parents:
            raise TopologyException(f"node {name!r} needs at least one parent")
        for parent in parents:
            if parent == name:
                raise TopologyException(f"node {name!r} cannot be its own parent")
            node = self.nodes.get(parent)
            if node is None:
                raise TopologyException(f"parent {parent!r} of {name!r} is not in the topology")
            if isinstance(node, SinkNode):
                raise TopologyException(f"sink {parent!r} cannot be the parent of {name!r}")

    # ---------------------------------------------------------------- reading

    def sources(self) -> list[SourceNode]:
        return [n for n in self.nodes.values() if isinstance(n, SourceNode)]

    def sinks(self) -> list[SinkNode]:
        return [n for n in self.nodes.values() if isinstance(n, SinkNode)]

    def children(self, name: str) -> list[str]:
        return self._children[name]

    def subtopologies(self) -> list[Subtopology]:
        if self._subtopologies is None:
            self._subtopologies = self._group()
        return self._subtopologies

    def stores_of(self, subtopology_id: int) -> list[str]:
        """The stores connected to a sub-topology's processors, in first-use order."""
        names: list[str] = []
        for node_name in self.subtopologies()[subtopology_id].node_names:
            for store in getattr(self.nodes[node_name], "stores", ()):
                if store not in names and store not in self.global_stores:
                    names.append(store)
        return names

    def subtopology_of_topic(self) -> dict[str, int]:
        """Source topic (as written, internal ones undecorated) -> sub-topology id."""
        return {t: s.id for s in self.subtopologies() for t in s.source_topics}

    def _group(self) -> list[Subtopology]:
        parent_of: dict[str, str] = {name: name for name in self.nodes}

        def root(name: str) -> str:
            while parent_of[name] != name:
                parent_of[name] = parent_of[parent_of[name]]
                name = parent_of[name]
            return name

        def union(a: str, b: str) -> None:
            parent_of[root(a)] = root(b)

        by_store: dict[str, str] = {}
        for node in self.nodes.values():
            if isinstance(node, SourceNode):
                continue
            for parent in node.parents:
                union(node.name, parent)
            if isinstance(node, ProcessorNode):
                for store in node.stores:
                    if store in self.global_stores:
                        continue  # every task reads a global store: it joins nothing
                    if store in by_store:
                        union(node.name, by_store[store])
                    by_store.setdefault(store, node.name)
        group_of_root: dict[str, int] = {}
        members: list[list[str]] = []
        for name in self.nodes:  # insertion order, as Kafka's nodeFactories
            group = group_of_root.setdefault(root(name), len(members))
            if group == len(members):
                members.append([])
            members[group].append(name)
        result = []
        for group_id, names in enumerate(members):
            sources = [self.nodes[n] for n in names if isinstance(self.nodes[n], SourceNode)]
            topics = sorted(t for s in sources for t in s.topics)  # type: ignore[union-attr]
            result.append(Subtopology(
                id=group_id,
                node_names=tuple(n for n in self.nodes if n in set(names)),
                source_names=tuple(s.name for s in sources),
                source_topics=tuple(topics),
                has_pattern=any(s.pattern is not None for s in sources),  # type: ignore[union-attr]
            ))
        return result

    # ---------------------------------------------------------------- describe

    def describe(self) -> str:
        """Kafka Streams' TopologyDescription text: stable, so tests can compare it."""
        if not self.subtopologies() and not self.global_stores:
            # Kafka Streams writes "Topologies:\n " and then "  Sub-topology: N" for each.
            return "Topologies:\n "
        lines = ["Topologies:"]
        for index, subtopology in enumerate(self.subtopologies()):
            indent = "   " if index == 0 else "  "
            lines.append(f"{indent}Sub-topology: {subtopology.id}")
            names = set(subtopology.node_names)
            size = self._subtree_sizes(names)

            def order(node_names: Iterable[str], size: dict[str, int] = size) -> list[str]:
                return sorted(node_names, key=lambda n: (-size[n], n))

            for name in order(names):
                lines.append("    " + self._describe_node(name, order))
            lines.append("")
        next_id = len(self.subtopologies())
        for offset, store in enumerate(self.global_stores.values()):
            # Kafka Streams numbers global stores among the sub-topologies; here they come last.
            lines.append(f"  Sub-topology: {next_id + offset} for global store (will not generate tasks)")
            lines.append(f"    Source: {store.source_name} (topics: [{store.topic}])")
            lines.append(f"      --> {store.processor_name}")
            lines.append(f"    Processor: {store.processor_name} (stores: [{store.spec.name}])")
            lines.append("      --> none")
            lines.append(f"      <-- {store.source_name}")
            lines.append("")
        return "\n".join(lines) + "\n"

    def _subtree_sizes(self, names: set[str]) -> dict[str, int]:
        sizes: dict[str, int] = {}

        def size(name: str) -> int:
            if name not in sizes:
                sizes[name] = 1 + sum(size(c) for c in self._children[name] if c in names)
            return sizes[name]

        for name in names:
            size(name)
        return sizes

    def _describe_node(self, name: str, order: Callable[[Iterable[str]], list[str]]) -> str:
        node = self.nodes[name]

        def names(values: Iterable[str]) -> str:
            ordered = order(values)
            return ", ".join(ordered) if ordered else "none"

        def parents(values: tuple[str, ...]) -> str:
            # In the order they were given (a merge lists itself, then the other stream),
            # which is where Kafka's insertion-time ordering puts them.
            return ", ".join(values) if values else "none"

        if isinstance(node, SourceNode):
            return (
                f"Source: {name} (topics: {node.describe_topics()})\n"
                f"      --> {names(self._children[name])}"
            )
        if isinstance(node, ProcessorNode):
            return (
                f"Processor: {name} (stores: [{', '.join(node.stores)}])\n"
                f"      --> {names(self._children[name])}\n"
                f"      <-- {parents(node.parents)}"
            )
        if node.topic is not None:
            return f"Sink: {name} (topic: {node.topic})\n      <-- {parents(node.parents)}"
        return (
            f"Sink: {name} (extractor class: {_callable_name(node.chooser)})\n"
            f"      <-- {parents(node.parents)}"
        )

    def __str__(self) -> str:
        return self.describe()


def _callable_name(value: Any) -> str:
    return getattr(value, "__qualname__", None) or type(value).__name__


def _check_topic_name(topic: str) -> None:
    if not topic or len(topic) > 249 or not _LEGAL_NAME.match(topic) or topic in (".", ".."):
        raise TopologyException(
            f"illegal topic name {topic!r}: use 1-249 characters of [a-zA-Z0-9._-]"
        )
