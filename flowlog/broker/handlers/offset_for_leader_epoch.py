"""OffsetForLeaderEpoch (key 23), versions 2-4: where a leader epoch ends in the leader's log.

Followers ask it before fetching when a fetch told them their last epoch is unknown
(KIP-101); consumers ask it to detect truncation after a leader change (KIP-320).
Answered by the partition's leader core only, after the current-leader-epoch fence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochResponse
from flowlog.replication.leader_core import CONSUMER_REPLICA_ID
from flowlog.replication.leader_epoch_cache import end_offset_for

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

Result = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult
EpochEnd = OffsetForLeaderEpochResponse.EpochEndOffset


async def handle_offset_for_leader_epoch(broker: Broker, context: RequestContext, request: Any) -> object:
    topics = []
    for topic in request.topics:
        answers = []
        for asked in topic.partitions:
            index = asked.partition
            partition = broker.replicas.get(topic.topic, index)
            leader = partition.leader_core if partition is not None else None
            if leader is None:
                code = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                        if broker.metadata.partition_info(topic.topic, index) is None
                        else ErrorCode.NOT_LEADER_OR_FOLLOWER)
                answers.append(EpochEnd(error_code=code, partition=index, leader_epoch=-1, end_offset=-1))
                continue
            check = leader.check_fetch(CONSUMER_REPLICA_ID, asked.current_leader_epoch, 0)
            if check.error in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH):
                answers.append(EpochEnd(error_code=check.error, partition=index, leader_epoch=-1,
                                        end_offset=-1))
                continue
            end = end_offset_for(leader.log, asked.leader_epoch)
            answers.append(EpochEnd(error_code=ErrorCode.NONE, partition=index,
                                    leader_epoch=end.epoch, end_offset=end.end_offset))
        topics.append(Result(topic=topic.topic, partitions=answers))
    return OffsetForLeaderEpochResponse(throttle_time_ms=0, topics=topics)
