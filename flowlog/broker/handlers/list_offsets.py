"""ListOffsets (key 2), versions 1-7: earliest (-2), latest (-1), max timestamp (-3), by time.

With no transactions, the last stable offset equals the high watermark, so
read_committed and read_uncommitted get the same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.list_offsets import ListOffsetsResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3

PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse
TopicResponse = ListOffsetsResponse.ListOffsetsTopicResponse


async def handle_list_offsets(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    topics = []
    for topic in request.topics:
        answers = []
        for asked in topic.partitions:
            index = asked.partition_index
            partition = broker.replicas.get(topic.name, index)
            not_here = broker.leadership_error(topic.name, index)
            if partition is None or not_here is not None:
                answers.append(PartitionResponse(
                    partition_index=index,
                    error_code=not_here or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    timestamp=-1, offset=-1, leader_epoch=-1,
                ))
                continue
            epoch_error = broker.check_leader_epoch(partition, asked.current_leader_epoch)
            if epoch_error is not None:
                answers.append(PartitionResponse(
                    partition_index=index, error_code=epoch_error, timestamp=-1, offset=-1,
                    leader_epoch=-1,
                ))
                continue
            timestamp, offset = -1, -1
            if asked.timestamp == LATEST:
                offset = partition.high_watermark
            elif asked.timestamp == EARLIEST:
                offset = partition.log_start_offset
            elif asked.timestamp == MAX_TIMESTAMP:
                found = partition.log.offset_of_max_timestamp()
                if found is not None:
                    offset, timestamp = found
            else:
                found = partition.log.offset_for_timestamp(asked.timestamp)
                if found is not None:
                    offset, timestamp = found
            answers.append(PartitionResponse(
                partition_index=index, error_code=ErrorCode.NONE, timestamp=timestamp,
                offset=offset, leader_epoch=partition.leader_epoch,
            ))
        topics.append(TopicResponse(name=topic.name, partitions=answers))
    return ListOffsetsResponse(throttle_time_ms=0, topics=topics)
