"""ListOffsets for the consumer and admin: earliest, latest, or by timestamp, grouped by leader."""

from __future__ import annotations

from typing import Any, Final

import trio

from flowlog.client.cluster import Cluster
from flowlog.client.errors import error_for_code
from flowlog.client.types import TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.list_offsets import ListOffsetsRequest

LIST_OFFSETS_KEY: Final = 2
EARLIEST_TIMESTAMP: Final = -2
LATEST_TIMESTAMP: Final = -1
READ_UNCOMMITTED: Final = 0
READ_COMMITTED: Final = 1


async def list_offsets(
    cluster: Cluster,
    timestamps: dict[TopicPartition, int],
    *,
    isolation_level: int = READ_UNCOMMITTED,
    timeout_ms: int | None = None,
) -> dict[TopicPartition, tuple[int, int]]:
    """(offset, timestamp) per partition; offset -1 when no record has that timestamp or later."""
    results: dict[TopicPartition, tuple[int, int]] = {}
    remaining = dict(timestamps)

    async def attempt() -> None:
        by_leader: dict[int, dict[TopicPartition, int]] = {}
        for tp, timestamp in remaining.items():
            leader = await cluster.wait_leader(tp, timeout_ms=timeout_ms)
            by_leader.setdefault(leader, {})[tp] = timestamp
        errors: list[Exception] = []

        async def ask(leader: int, wanted: dict[TopicPartition, int]) -> None:
            try:
                answered = await _ask_leader(cluster, leader, wanted, isolation_level)
            except Exception as error:
                errors.append(error)
                return
            for tp, outcome in answered.items():
                if isinstance(outcome, Exception):
                    errors.append(outcome)
                else:
                    results[tp] = outcome
                    remaining.pop(tp, None)

        async with trio.open_nursery() as nursery:
            for leader, wanted in by_leader.items():
                nursery.start_soon(ask, leader, wanted)
        if errors:
            raise errors[0]

    await cluster.with_retries(attempt, timeout_ms=timeout_ms, what="ListOffsets")
    return results


async def _ask_leader(
    cluster: Cluster, leader: int, wanted: dict[TopicPartition, int], isolation_level: int
) -> dict[TopicPartition, tuple[int, int] | Exception]:
    topics: dict[str, list[Any]] = {}
    for tp, timestamp in wanted.items():
        topics.setdefault(tp.topic, []).append(
            ListOffsetsRequest.ListOffsetsPartition(partition_index=tp.partition, timestamp=timestamp)
        )
    connection = await cluster.connection(leader)
    response = await connection.request(
        LIST_OFFSETS_KEY,
        lambda version: ListOffsetsRequest(
            replica_id=-1,
            isolation_level=isolation_level if version >= 2 else 0,
            topics=[
                ListOffsetsRequest.ListOffsetsTopic(name=name, partitions=partitions)
                for name, partitions in topics.items()
            ],
        ),
    )
    answered: dict[TopicPartition, tuple[int, int] | Exception] = {}
    for topic in response.topics:
        for partition in topic.partitions:
            tp = TopicPartition(topic.name, partition.partition_index)
            if partition.error_code != ErrorCode.NONE:
                answered[tp] = error_for_code(partition.error_code, str(tp))
            else:
                answered[tp] = (partition.offset, partition.timestamp)
    return answered
