"""Committed offsets: OffsetCommit (8) v2-8, OffsetFetch (9) v1-8, OffsetDelete (47) v0.

Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION here and never reach
the coordinator (Kafka does the same). OffsetFetch with null topics (v2+) means
every partition the group has committed; v8 asks for several groups at once.
Transactional offsets do not exist yet, so require_stable (v7+) never waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.broker.group_core import FetchedOffset, OffsetCommit, TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.offset_commit import OffsetCommitResponse
from flowlog.protocol.messages.offset_delete import OffsetDeleteResponse
from flowlog.protocol.messages.offset_fetch import OffsetFetchResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

COMMIT_STATIC_MEMBERSHIP_VERSION = 7
COMMIT_RETENTION_VERSIONS = range(2, 5)
FETCH_GROUPS_BATCH_VERSION = 8


class _PartitionCounts:
    """Partition counts of topics by name, looked up once per request."""

    def __init__(self, broker: Broker) -> None:
        self._state = broker.metadata.state
        self._counts: dict[str, int] = {}

    def exists(self, topic: str, partition: int) -> bool:
        count = self._counts.get(topic)
        if count is None:
            info = self._state.topic_by_name(topic)
            count = len(self._state.partitions(info.topic_id)) if info is not None else 0
            self._counts[topic] = count
        return 0 <= partition < count


async def handle_offset_commit(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    known = _PartitionCounts(broker)
    commits: list[OffsetCommit] = []
    # Per request partition: an error decided here, or None for "ask the coordinator".
    decided: list[ErrorCode | None] = []
    for topic in request.topics:
        for partition in topic.partitions:
            if request.group_id == "":
                decided.append(ErrorCode.INVALID_GROUP_ID)
            elif not known.exists(topic.name, partition.partition_index):
                decided.append(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            else:
                decided.append(None)
                commits.append(OffsetCommit(
                    topic=topic.name,
                    partition=partition.partition_index,
                    offset=partition.committed_offset,
                    leader_epoch=partition.committed_leader_epoch,
                    metadata=partition.committed_metadata,
                ))
    answers = iter(await broker.coordinator.commit_offsets(
        request.group_id,
        request.member_id,
        request.generation_id,
        request.group_instance_id if version >= COMMIT_STATIC_MEMBERSHIP_VERSION else None,
        commits,
        request.retention_time_ms if version in COMMIT_RETENTION_VERSIONS else -1,
    ) if commits else [])
    outcomes = iter(decided)
    return OffsetCommitResponse(
        throttle_time_ms=0,
        topics=[
            OffsetCommitResponse.OffsetCommitResponseTopic(
                name=topic.name,
                partitions=[
                    OffsetCommitResponse.OffsetCommitResponsePartition(
                        partition_index=partition.partition_index,
                        error_code=_next_outcome(outcomes, answers),
                    )
                    for partition in topic.partitions
                ],
            )
            for topic in request.topics
        ],
    )


def _next_outcome(outcomes: Any, answers: Any) -> ErrorCode:
    decided = next(outcomes)
    return decided if decided is not None else next(answers)


def _wanted(topics: Any) -> list[TopicPartition] | None:
    if topics is None:
        return None
    return [
        TopicPartition(topic.name, index) for topic in topics for index in topic.partition_indexes
    ]


def _by_topic(fetched: list[FetchedOffset]) -> dict[str, list[FetchedOffset]]:
    grouped: dict[str, list[FetchedOffset]] = {}
    for offset in fetched:
        grouped.setdefault(offset.topic, []).append(offset)
    return grouped


def _fetched_topics(
    offsets: list[FetchedOffset], topic_class: Any, partition_class: Any
) -> list[object]:
    """OffsetFetch topics in the struct classes of the version (v8 renamed them)."""
    return [
        topic_class(
            name=topic,
            partitions=[
                partition_class(
                    partition_index=offset.partition,
                    committed_offset=offset.offset,
                    committed_leader_epoch=offset.leader_epoch,
                    metadata=offset.metadata,
                    error_code=offset.error_code,
                )
                for offset in by_partition
            ],
        )
        for topic, by_partition in _by_topic(offsets).items()
    ]


async def handle_offset_fetch(broker: Broker, context: RequestContext, request: Any) -> object:
    coordinator = broker.coordinator
    if context.header.api_version < FETCH_GROUPS_BATCH_VERSION:
        error, fetched = await coordinator.fetch_offsets(request.group_id, _wanted(request.topics))
        return OffsetFetchResponse(
            throttle_time_ms=0,
            error_code=error,
            topics=_fetched_topics(
                fetched,
                OffsetFetchResponse.OffsetFetchResponseTopic,
                OffsetFetchResponse.OffsetFetchResponsePartition,
            ),
        )
    groups = []
    for group in request.groups:
        error, fetched = await coordinator.fetch_offsets(group.group_id, _wanted(group.topics))
        groups.append(OffsetFetchResponse.OffsetFetchResponseGroup(
            group_id=group.group_id,
            error_code=error,
            topics=_fetched_topics(
                fetched,
                OffsetFetchResponse.OffsetFetchResponseTopics,
                OffsetFetchResponse.OffsetFetchResponsePartitions,
            ),
        ))
    return OffsetFetchResponse(throttle_time_ms=0, groups=groups)


async def handle_offset_delete(broker: Broker, context: RequestContext, request: Any) -> object:
    known = _PartitionCounts(broker)
    asked = [
        TopicPartition(topic.name, partition.partition_index)
        for topic in request.topics
        for partition in topic.partitions
    ]
    existing = [where for where in asked if known.exists(where.topic, where.partition)]
    error, errors = await broker.coordinator.delete_offsets(request.group_id, existing)
    if error != ErrorCode.NONE:
        return OffsetDeleteResponse(error_code=error, throttle_time_ms=0, topics=[])
    by_partition = dict(zip(existing, errors, strict=True))
    grouped: dict[str, list[object]] = {}
    for where in asked:
        grouped.setdefault(where.topic, []).append(
            OffsetDeleteResponse.OffsetDeleteResponsePartition(
                partition_index=where.partition,
                error_code=by_partition.get(where, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
            )
        )
    return OffsetDeleteResponse(
        error_code=ErrorCode.NONE,
        throttle_time_ms=0,
        topics=[
            OffsetDeleteResponse.OffsetDeleteResponseTopic(name=name, partitions=partitions)
            for name, partitions in grouped.items()
        ],
    )
