"""DeleteRecords (21) v0-2: move a partition's log start offset forward.

-1 means the high watermark. Whole segments below the new start are deleted by
the log; reads below it get OFFSET_OUT_OF_RANGE from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.delete_records import DeleteRecordsResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

HIGH_WATERMARK = -1
PartitionResult = DeleteRecordsResponse.DeleteRecordsPartitionResult


async def handle_delete_records(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    topics = []
    for topic in request.topics:
        results = []
        for asked in topic.partitions:
            partition = broker.replicas.get(topic.name, asked.partition_index)
            not_here = broker.leadership_error(topic.name, asked.partition_index)
            if partition is None or not_here is not None:
                results.append(PartitionResult(
                    partition_index=asked.partition_index, low_watermark=-1,
                    error_code=not_here or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                ))
                continue
            offset = partition.high_watermark if asked.offset == HIGH_WATERMARK else asked.offset
            if not partition.log_start_offset <= offset <= partition.high_watermark:
                if offset < partition.log_start_offset and offset >= 0:
                    code = ErrorCode.NONE  # already deleted: nothing to do
                else:
                    code = ErrorCode.OFFSET_OUT_OF_RANGE
                results.append(PartitionResult(
                    partition_index=asked.partition_index,
                    low_watermark=partition.log_start_offset, error_code=code,
                ))
                continue
            await partition.delete_records_before(offset)
            results.append(PartitionResult(
                partition_index=asked.partition_index, low_watermark=partition.log_start_offset,
                error_code=ErrorCode.NONE,
            ))
        topics.append(DeleteRecordsResponse.DeleteRecordsTopicResult(
            name=topic.name, partitions=results
        ))
    return DeleteRecordsResponse(throttle_time_ms=0, topics=topics)
