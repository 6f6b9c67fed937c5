"""Metadata (key 3), versions 0-12, with topic auto-creation like Kafka's.

Answered from the committed metadata this broker replayed, so every broker knows every
leader. v0 and a null topic list (v1+) mean all topics; an empty list means none.
Topics asked by id (v10+) are answered by id; a missing name is created when
auto.create.topics.enable is on and the request allows it (v4+).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.metadata import MetadataResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

ZERO_UUID = bytes(16)
AUTHORIZED_OPERATIONS_UNKNOWN = -(2**31)

BrokerEntry = MetadataResponse.MetadataResponseBroker
TopicEntry = MetadataResponse.MetadataResponseTopic
PartitionEntry = MetadataResponse.MetadataResponsePartition


def _topic_entry(broker: Broker, name: str) -> object:
    state = broker.metadata.state
    topic = state.topic_by_name(name)
    if topic is None:
        return TopicEntry(
            error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name, topic_id=ZERO_UUID,
            is_internal=False, partitions=[],
        )
    partitions = [
        PartitionEntry(
            error_code=ErrorCode.NONE if info.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
            partition_index=info.partition,
            leader_id=info.leader,
            leader_epoch=info.leader_epoch,
            replica_nodes=list(info.replicas),
            isr_nodes=list(info.isr),
            offline_replicas=[r for r in info.replicas if not state.is_live(r)],
        )
        for info in state.partitions(topic.topic_id)
    ]
    return TopicEntry(
        error_code=ErrorCode.NONE, name=topic.name, topic_id=topic.topic_id,
        is_internal=topic.name.startswith("__"), partitions=partitions,
        topic_authorized_operations=AUTHORIZED_OPERATIONS_UNKNOWN,
    )


async def handle_metadata(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    state = broker.metadata.state
    names: list[str | None]
    if request.topics is None or (version == 0 and not request.topics):
        names = [topic.name for topic in state.topics()]
    else:
        names = []
        for asked in request.topics:
            if asked.name is None and asked.topic_id != ZERO_UUID:
                topic = state.topic_by_id(asked.topic_id)
                if topic is None:
                    names.append(None)
                    continue
                names.append(topic.name)
            else:
                names.append(asked.name)
        allow_create = request.allow_auto_topic_creation if version >= 4 else True
        missing = [n for n in names if n is not None and state.topic_by_name(n) is None]
        if missing and allow_create and broker.config.auto_create_topics_enable:
            await broker.auto_create_topics(missing)
            state = broker.metadata.state
    topics = [
        _topic_entry(broker, name) if name is not None else TopicEntry(
            error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None, topic_id=ZERO_UUID, partitions=[]
        )
        for name in names
    ]
    # Like Kafka, only live (unfenced) brokers are listed; a leader is always one.
    brokers = [
        BrokerEntry(node_id=b.node_id, host=b.host, port=b.port, rack=b.rack)
        for b in state.brokers().values()
        if not b.fenced
    ]
    return MetadataResponse(
        throttle_time_ms=0,
        brokers=brokers,
        cluster_id=broker.config.cluster_id,
        controller_id=broker.metadata.client_controller_id,
        topics=topics,
        cluster_authorized_operations=AUTHORIZED_OPERATIONS_UNKNOWN,
    )
