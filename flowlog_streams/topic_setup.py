"""Start-up checks and creation of topics, before the app joins its group.

- Pattern sources are matched against the cluster's topics.
- User source and sink topics must exist: a clear MissingSourceTopicError
  naming them, or they are created when `auto_create_topics=True`.
- Internal topics (`<application_id>-<name>-repartition`) are created with
  the partition count Kafka Streams would give them; an existing one with a
  different count is an error (the data in it is keyed for that count).
- Co-partitioned topics must agree on their partition count.
"""

from __future__ import annotations

import logging

import attrs

from flowlog.client import Admin, NewTopic
from flowlog.client.errors import TopicAlreadyExistsError
from flowlog_streams.config import StreamsConfig
from flowlog_streams.errors import MissingSourceTopicError, TopologyException
from flowlog_streams.partitions import check_copartitioned, internal_partition_counts
from flowlog_streams.topics import TopicResolution, resolve_topics
from flowlog_streams.topology import Topology

logger = logging.getLogger("flowlog_streams.topics")

# Repartition topics: plain deletion; the app purges what it has committed (Kafka Streams' settings).
REPARTITION_CONFIGS = {"cleanup.policy": "delete", "retention.ms": "-1"}


@attrs.frozen
class TopicPlan:
    topics: TopicResolution
    # Every source and internal topic -> partition count.
    partition_counts: dict[str, int]


async def prepare_topics(admin: Admin, topology: Topology, config: StreamsConfig) -> TopicPlan:
    existing = await admin.list_topics()
    topics = resolve_topics(topology, config.application_id, existing)
    internal = set(topics.internal_topics())
    wanted_user = sorted(
        {t for t in topics.sources if t not in internal}
        | {g.topic for g in topology.global_stores.values()}
        | {s.topic for s in topology.sinks() if s.topic is not None and s.topic not in topology.internal_topics}
    )
    missing = [t for t in wanted_user if t not in existing]
    if missing:
        if not config.auto_create_topics:
            raise MissingSourceTopicError(
                f"topic(s) {missing} do not exist; create them first or set auto_create_topics=True"
            )
        created = await _create(admin, [
            NewTopic(t, config.auto_create_partitions, config.replication_factor) for t in missing
        ])
        if created:
            logger.info("created user topics %s", created)
    user_sources = [t for t in topics.sources if t not in internal]
    if any(s.pattern is not None for s in topology.sources()) and not user_sources:
        raise MissingSourceTopicError("no existing topic matches the source patterns")
    counts = await _partition_counts(admin, user_sources)
    internal_counts = internal_partition_counts(topology, topics, counts)
    existing_internal = [t for t in internal_counts if t in existing]
    for topic, count in (await _partition_counts(admin, existing_internal)).items():
        if count != internal_counts[topic]:
            raise TopologyException(
                f"internal topic {topic!r} has {count} partitions but the topology needs "
                f"{internal_counts[topic]}; delete it (after stopping every instance) or reset the app"
            )
    to_create = [t for t in internal_counts if t not in existing]
    configs = {
        topics.decorate(spec.name): spec.configs or REPARTITION_CONFIGS
        for spec in topology.internal_topics.values()
    }
    created = await _create(admin, [
        NewTopic(t, internal_counts[t], config.replication_factor, configs[t])
        for t in to_create
    ])
    if created:
        logger.info("created internal topics %s", created)
    counts.update(internal_counts)
    check_copartitioned(topology, topics, counts)
    return TopicPlan(topics, counts)


async def _create(admin: Admin, topics: list[NewTopic]) -> list[str]:
    """Create each topic; returns those this call created (another instance may win a race)."""
    created = []
    # One at a time: a topic another instance created at the same moment must not hide
    # the outcome of the others.
    for topic in topics:
        try:
            await admin.create_topics([topic])
        except TopicAlreadyExistsError:
            continue
        created.append(topic.name)
    return created


async def _partition_counts(admin: Admin, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    descriptions = await admin.describe_topics(names)
    return {name: len(d.partitions) for name, d in descriptions.items()}
