"""Fetch (key 1), versions 4-12, consumer fetches only (replica fetches come with replication).

A fetch answers at once when it has min_bytes of data, or an error; otherwise it
parks on every partition it asked for and is woken by the next append, or
answers empty at max_wait_ms. Fetch sessions (KIP-227) are not kept: the answer
always carries session_id 0, which every client accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from flowlog.broker.connection import RequestContext
from flowlog.broker.partition import Partition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.fetch import FetchResponse
from flowlog.storage.errors import OffsetOutOfRangeError

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

# Clients may ask for hours; a parked fetch is bounded so a dead peer frees its slot.
MAX_WAIT_MS_LIMIT = 60_000

PartitionData = FetchResponse.PartitionData
TopicResponse = FetchResponse.FetchableTopicResponse


def _partition_error(index: int, code: ErrorCode, partition: Partition | None = None) -> object:
    return PartitionData(
        partition_index=index,
        error_code=code,
        high_watermark=partition.high_watermark if partition else -1,
        last_stable_offset=partition.high_watermark if partition else -1,
        log_start_offset=partition.log_start_offset if partition else -1,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=None,
    )


def _read_all(broker: Broker, request: Any) -> tuple[list[object], int, list[Partition]]:
    """One pass over the requested partitions: (topic responses, bytes, partitions read)."""
    budget = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
    total = 0
    topics: list[object] = []
    partitions_read: list[Partition] = []
    for fetch_topic in request.topics:
        answers = []
        for fetch_partition in fetch_topic.partitions:
            index = fetch_partition.partition
            partition = broker.replicas.get(fetch_topic.topic, index)
            if partition is None:
                answers.append(_partition_error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                continue
            epoch_error = broker.check_leader_epoch(partition, fetch_partition.current_leader_epoch)
            if epoch_error is not None:
                answers.append(_partition_error(index, epoch_error, partition))
                continue
            partitions_read.append(partition)
            high_watermark = partition.high_watermark
            limit = min(fetch_partition.partition_max_bytes, budget - total)
            records: bytes | memoryview = b""
            if limit > 0 or total == 0:
                try:
                    records = partition.log.read(
                        fetch_partition.fetch_offset, max(limit, 1), max_offset=high_watermark
                    )
                except OffsetOutOfRangeError:
                    answers.append(_partition_error(index, ErrorCode.OFFSET_OUT_OF_RANGE, partition))
                    continue
                # Only the first data in a response may exceed the limits (one whole batch).
                if total > 0 and len(records) > limit:
                    records = b""
            total += len(records)
            answers.append(PartitionData(
                partition_index=index,
                error_code=ErrorCode.NONE,
                high_watermark=high_watermark,
                last_stable_offset=high_watermark,
                log_start_offset=partition.log_start_offset,
                aborted_transactions=None,
                preferred_read_replica=-1,
                records=records,
            ))
        topics.append(TopicResponse(topic=fetch_topic.topic, partitions=answers))
    return topics, total, partitions_read


def _has_error(topics: list[object]) -> bool:
    return any(
        answer.error_code != ErrorCode.NONE
        for topic in topics
        for answer in topic.partitions  # type: ignore[attr-defined]
    )


async def handle_fetch(broker: Broker, context: RequestContext, request: Any) -> object:
    if request.replica_id >= 0:
        return FetchResponse(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER, session_id=0, responses=[])
    wait_ms = min(max(request.max_wait_ms, 0), MAX_WAIT_MS_LIMIT)
    deadline = trio.current_time() + wait_ms / 1000
    while True:
        topics, total, partitions = _read_all(broker, request)
        if total >= max(request.min_bytes, 1) or _has_error(topics) or not partitions:
            break
        if trio.current_time() >= deadline:
            break
        appended = trio.Event()
        registered = [p for p in partitions if p.add_waiter(appended)]
        try:
            with trio.move_on_at(deadline):
                await appended.wait()
        finally:
            for partition in registered:
                partition.remove_waiter(appended)
    return FetchResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, session_id=0, responses=topics)
