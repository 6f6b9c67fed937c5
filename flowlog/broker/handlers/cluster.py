"""DescribeCluster (60) v0-2 and DescribeQuorum (55) v0: the brokers and the controller.

Answered from this broker's committed metadata and its Raft node's view of the quorum,
so any broker can answer. DescribeCluster lists live brokers (v2 with
include_fenced_brokers: fenced ones too, flagged). DescribeQuorum reports the
metadata partition's leader and term; voters' log ends are known only on the leader
(elsewhere -1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.describe_cluster import (
    DescribeClusterResponse,
)
from flowlog.protocol.messages.describe_quorum import DescribeQuorumResponse
from flowlog.raft.raft_core import Role

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

BROKER_ENDPOINT_TYPE = 1
METADATA_TOPIC, _, METADATA_PARTITION = METADATA_DIRECTORY_NAME.rpartition("-")


async def handle_describe_cluster(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    if request.endpoint_type != BROKER_ENDPOINT_TYPE:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message="only broker endpoints are served", cluster_id=broker.config.cluster_id,
        )
    include_fenced = bool(getattr(request, "include_fenced_brokers", False))
    return DescribeClusterResponse(
        throttle_time_ms=0,
        error_code=ErrorCode.NONE,
        error_message=None,
        endpoint_type=BROKER_ENDPOINT_TYPE,
        cluster_id=broker.config.cluster_id,
        controller_id=broker.metadata.client_controller_id,
        brokers=[
            DescribeClusterResponse.DescribeClusterBroker(
                broker_id=b.node_id, host=b.host, port=b.port, rack=b.rack, is_fenced=b.fenced
            )
            for b in broker.metadata.state.brokers().values()
            if include_fenced or not b.fenced
        ],
    )


async def handle_describe_quorum(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    topics = []
    for topic in request.topics:
        partitions = []
        for asked in topic.partitions:
            if topic.topic_name != METADATA_TOPIC or asked.partition_index != int(METADATA_PARTITION):
                partitions.append(DescribeQuorumResponse.PartitionData(
                    partition_index=asked.partition_index,
                    error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    leader_id=-1, leader_epoch=-1, high_watermark=-1,
                    current_voters=[], observers=[],
                ))
                continue
            partitions.append(_quorum_partition(broker, asked.partition_index))
        topics.append(DescribeQuorumResponse.TopicData(
            topic_name=topic.topic_name, partitions=partitions
        ))
    return DescribeQuorumResponse(error_code=ErrorCode.NONE, topics=topics)


def _quorum_partition(broker: Broker, index: int) -> object:
    node = broker.metadata.driver.node
    voters = []
    for voter in sorted(node.config.voters):
        if voter == node.node_id:
            end = node.log.last_index
        elif node.role is Role.LEADER and (progress := node.progress(voter)) is not None:
            end = progress.match_index
        else:
            end = -1
        voters.append(DescribeQuorumResponse.VoterState(replica_id=voter, log_end_offset=end))
    return DescribeQuorumResponse.PartitionData(
        partition_index=index,
        error_code=ErrorCode.NONE,
        leader_id=broker.metadata.controller_id,
        leader_epoch=node.term,
        high_watermark=node.commit_index,
        current_voters=voters,
        observers=[],
    )
