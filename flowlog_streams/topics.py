"""Topic names as the cluster sees them: internal topics get the application id as a prefix.

The topology writes `<name>-repartition`; on the cluster it is
`<application_id>-<name>-repartition`, as Kafka Streams decorates it.
Pattern sources are matched against the topics that exist.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from flowlog_streams.errors import TopologyException
from flowlog_streams.topology import SourceNode, Topology


@attrs.define
class TopicResolution:
    application_id: str
    internal: frozenset[str]
    # Concrete source topic -> (sub-topology id, source node name).
    sources: dict[str, tuple[int, str]]

    def decorate(self, name: str) -> str:
        return f"{self.application_id}-{name}" if name in self.internal else name

    def subtopology_topics(self) -> dict[int, tuple[str, ...]]:
        by_id: dict[int, list[str]] = {}
        for topic, (subtopology, _source) in self.sources.items():
            by_id.setdefault(subtopology, []).append(topic)
        return {s: tuple(sorted(topics)) for s, topics in sorted(by_id.items())}

    def internal_topics(self) -> list[str]:
        return sorted(self.decorate(name) for name in self.internal)

    def add_matching(self, topology: Topology, topic: str) -> bool:
        """Map `topic` to a pattern source it matches (the driver's topics appear one by one)."""
        if topic in self.sources:
            return True
        subtopology_of = {n: s.id for s in topology.subtopologies() for n in s.source_names}
        matches = [
            s for s in topology.sources()
            if s.pattern is not None and s.pattern.fullmatch(topic)
        ]
        if len(matches) > 1:
            names = ", ".join(s.name for s in matches)
            raise TopologyException(f"topic {topic!r} matches the patterns of several sources: {names}")
        if not matches:
            return False
        self.sources[topic] = (subtopology_of[matches[0].name], matches[0].name)
        return True


def resolve_topics(
    topology: Topology, application_id: str, existing: Iterable[str] = ()
) -> TopicResolution:
    internal = frozenset(topology.internal_topics)
    resolution = TopicResolution(application_id, internal, {})
    subtopology_of = {n: s.id for s in topology.subtopologies() for n in s.source_names}
    for source in topology.sources():
        for topic in source.topics:
            resolution.sources[resolution.decorate(topic)] = (subtopology_of[source.name], source.name)
    for topic in sorted(existing):
        if not _is_internal_of_other(topic, resolution):
            resolution.add_matching(topology, topic)
    return resolution


def _is_internal_of_other(topic: str, resolution: TopicResolution) -> bool:
    # Never match our own internal topics (or the consumer offsets) against user patterns.
    return topic.startswith("__") or topic in {resolution.decorate(n) for n in resolution.internal}


def source_of(topology: Topology, resolution: TopicResolution, topic: str) -> SourceNode:
    node = topology.nodes[resolution.sources[topic][1]]
    assert isinstance(node, SourceNode)
    return node
