"""CreateTopics (19) v2-7, DeleteTopics (20) v1-6, CreatePartitions (37) v0-3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.controller.controller_api import NewPartitions, NewTopic
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.create_partitions import (
    CreatePartitionsResponse,
)
from flowlog.protocol.messages.create_topics import CreateTopicsResponse
from flowlog.protocol.messages.delete_topics import DeleteTopicsResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

# DescribeConfigs config_source for a topic override vs a broker default.
CONFIG_SOURCE_TOPIC = 1
CONFIG_SOURCE_DEFAULT = 5
DELETE_TOPICS_BY_ID_VERSION = 6


async def handle_create_topics(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    new_topics = [
        NewTopic(
            name=topic.name,
            num_partitions=topic.num_partitions,
            replication_factor=topic.replication_factor,
            assignments={a.partition_index: list(a.broker_ids) for a in topic.assignments},
            configs={c.name: c.value for c in topic.configs if c.value is not None},
        )
        for topic in request.topics
    ]
    results = await broker.metadata.create_topics(new_topics, request.validate_only)
    answers = []
    for result in results:
        configs = []
        if result.error_code == ErrorCode.NONE:
            overrides = broker.metadata.state.topic_config_overrides(result.name)
            effective = broker.metadata.topic_log_config(result.name)
            configs = [
                CreateTopicsResponse.CreatableTopicConfigs(
                    name=name, value=value, read_only=False, is_sensitive=False,
                    config_source=CONFIG_SOURCE_TOPIC if name in overrides else CONFIG_SOURCE_DEFAULT,
                )
                for name, value in sorted(effective.to_kafka().items())
            ]
        answers.append(CreateTopicsResponse.CreatableTopicResult(
            name=result.name,
            topic_id=result.topic_id or bytes(16),
            error_code=result.error_code,
            error_message=result.error_message,
            num_partitions=result.num_partitions,
            replication_factor=result.replication_factor,
            configs=configs,
        ))
    return CreateTopicsResponse(throttle_time_ms=0, topics=answers)


async def handle_delete_topics(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    if not broker.config.delete_topic_enable:
        names = _requested_names(context, request)
        return DeleteTopicsResponse(responses=[
            DeleteTopicsResponse.DeletableTopicResult(
                name=name, error_code=ErrorCode.TOPIC_DELETION_DISABLED
            ) for name in names
        ])
    if context.header.api_version >= DELETE_TOPICS_BY_ID_VERSION:
        by_name = [t.name for t in request.topics if t.name is not None]
        by_id = [t.topic_id for t in request.topics if t.name is None]
    else:
        by_name, by_id = list(request.topic_names), []
    results = await broker.metadata.delete_topics(by_name, by_id)
    await broker.replicas.purge_removed()
    return DeleteTopicsResponse(throttle_time_ms=0, responses=[
        DeleteTopicsResponse.DeletableTopicResult(
            name=result.name, topic_id=result.topic_id or bytes(16),
            error_code=result.error_code, error_message=result.error_message,
        )
        for result in results
    ])


def _requested_names(context: RequestContext, request: Any) -> list[str | None]:
    if context.header.api_version >= DELETE_TOPICS_BY_ID_VERSION:
        return [t.name for t in request.topics]
    return list(request.topic_names)


async def handle_create_partitions(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    wanted = [
        NewPartitions(
            name=topic.name,
            count=topic.count,
            assignments=[list(a.broker_ids) for a in topic.assignments] if topic.assignments else None,
        )
        for topic in request.topics
    ]
    results = await broker.metadata.create_partitions(wanted, request.validate_only)
    return CreatePartitionsResponse(throttle_time_ms=0, results=[
        CreatePartitionsResponse.CreatePartitionsTopicResult(
            name=result.name, error_code=result.error_code, error_message=result.error_message
        )
        for result in results
    ])
