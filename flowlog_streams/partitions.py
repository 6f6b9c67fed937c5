"""Partition counts of internal topics, co-partitioning checks and task counts (pure).

- A repartition topic with a fixed `num_partitions` has that many; otherwise
  as many as the largest source of the sub-topology that writes it (Kafka
  Streams' rule), resolved through chains of repartition topics.
- Topics declared co-partitioned (joins) must have equal counts; a mismatch
  is a TopologyException naming every topic and its count. A repartition topic
  in a co-partition group takes the group's count (the user topics' count, else
  a fixed count of the group, else the largest of its repartition topics).
- A sub-topology has one task per partition of its widest source.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowlog.client.types import TopicPartition
from flowlog_streams.errors import TopologyException
from flowlog_streams.task_id import TaskId
from flowlog_streams.topics import TopicResolution
from flowlog_streams.topology import ProcessorNode, SinkNode, Topology

DEFAULT_PARTITIONS = 1


def internal_partition_counts(
    topology: Topology, topics: TopicResolution, counts: Mapping[str, int]
) -> dict[str, int]:
    """Decorated internal topic -> partition count, given the user topics' counts."""
    # The sub-topology that writes each internal topic: a sink for repartition topics,
    # the processors owning the store for changelogs (one partition per task).
    writers: dict[str, int] = {}
    for subtopology in topology.subtopologies():
        for name in subtopology.node_names:
            node = topology.nodes[name]
            if isinstance(node, SinkNode) and node.topic in topology.internal_topics:
                writers[node.topic] = subtopology.id
            elif isinstance(node, ProcessorNode):
                for store in node.stores:
                    if store in topology.stores:
                        writers[topology.stores[store].changelog] = subtopology.id
    # Repartition topics a co-partition group sized; settled again until nothing changes
    # (a group's count flows on to the topics its readers write). Each round fixes at
    # least one more topic or stops, so the internal topics bound the rounds.
    grouped: dict[str, int] = {}
    result = _settle(topology, topics, counts, writers, grouped)
    for _ in range(len(topology.internal_topics) + 1):
        if not _size_copartitioned(topology, topics, {**counts, **result}, grouped):
            break
        result = _settle(topology, topics, counts, writers, grouped)
    return result


def _settle(topology: Topology, topics: TopicResolution, counts: Mapping[str, int],
            writers: Mapping[str, int], grouped: Mapping[str, int]) -> dict[str, int]:
    result: dict[str, int] = dict(grouped)
    for name, spec in topology.internal_topics.items():
        if spec.num_partitions is not None:
            result[topics.decorate(name)] = spec.num_partitions
    sources_of = topics.subtopology_topics()
    # Each pass settles at least one topic whose writer's sources are all known.
    for _ in range(len(topology.internal_topics) + 1):
        for name in topology.internal_topics:
            decorated = topics.decorate(name)
            if decorated in result:
                continue
            writer_sources = sources_of.get(writers.get(name, -1), ())
            known = {**counts, **result}
            if writer_sources and all(t in known for t in writer_sources):
                result[decorated] = max(known[t] for t in writer_sources)
    for name in topology.internal_topics:
        result.setdefault(topics.decorate(name), DEFAULT_PARTITIONS)
    return result


def _size_copartitioned(topology: Topology, topics: TopicResolution, counts: Mapping[str, int],
                        grouped: dict[str, int]) -> bool:
    """Give the repartition topics of each co-partition group the group's count (Kafka
    Streams' CopartitionedTopicsEnforcer): the user topics' count when they agree, else a
    fixed `num_partitions` of the group, else the largest the group's repartition topics
    would have. Returns whether any count changed."""
    changed = False
    for group in topology.copartition_groups:
        user = {counts[t] for t in group if t not in topology.internal_topics and t in counts}
        fixed = {spec.num_partitions for t in group
                 if (spec := topology.internal_topics.get(t)) is not None
                 and spec.num_partitions is not None}
        flexible = [topics.decorate(t) for t in group
                    if (spec := topology.internal_topics.get(t)) is not None
                    and spec.num_partitions is None and spec.kind == "repartition"]
        if not flexible:
            continue
        if user:
            if len(user) > 1:
                continue  # check_copartitioned names the mismatch
            target = user.pop()
        elif fixed:
            if len(fixed) > 1:
                continue
            target = fixed.pop()
        else:
            target = max(counts.get(t, DEFAULT_PARTITIONS) for t in flexible)
        for topic in flexible:
            if grouped.get(topic) != target:
                grouped[topic] = target
                changed = True
    return changed


def check_copartitioned(topology: Topology, topics: TopicResolution, counts: Mapping[str, int]) -> None:
    for group in topology.copartition_groups:
        decorated = sorted(topics.decorate(t) for t in group)
        found = {t: counts[t] for t in decorated if t in counts}
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{t}={n}" for t, n in sorted(found.items()))
            raise TopologyException(
                f"topics not co-partitioned: [{listed}]; co-partitioned topics (joins) need "
                f"the same number of partitions"
            )


def task_partitions(
    source_topics_by_subtopology: Mapping[int, tuple[str, ...]], counts: Mapping[str, int]
) -> tuple[dict[TaskId, tuple[TopicPartition, ...]], dict[int, list[str]]]:
    """Every task and the partitions it reads, and the topics without a count per sub-topology.

    A sub-topology with a source topic of unknown count gets no tasks.
    """
    tasks: dict[TaskId, tuple[TopicPartition, ...]] = {}
    missing: dict[int, list[str]] = {}
    for subtopology, source_topics in sorted(source_topics_by_subtopology.items()):
        unknown = [t for t in source_topics if t not in counts]
        if unknown:
            missing[subtopology] = unknown
            continue
        for partition in range(max((counts[t] for t in source_topics), default=0)):
            tasks[TaskId(subtopology, partition)] = tuple(
                TopicPartition(t, partition) for t in source_topics if partition < counts[t]
            )
    return tasks, missing


def plan_tasks(
    topics: TopicResolution, counts: Mapping[str, int]
) -> dict[TaskId, tuple[TopicPartition, ...]]:
    """Every task and the partitions it reads; counts must cover every source topic."""
    tasks, missing = task_partitions(topics.subtopology_topics(), counts)
    if missing:
        unknown = sorted(t for ts in missing.values() for t in ts)
        raise TopologyException(f"no partition count for source topic(s) {unknown}")
    return tasks
