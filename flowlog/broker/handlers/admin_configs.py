"""DescribeConfigs (32) v1-4, AlterConfigs (33) v0-2, IncrementalAlterConfigs (44) v0-1.

Topic resources list every topic config with its source (topic override or
default); broker resources list the broker's Kafka-named settings, read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.controller.controller_api import (
    AlterConfigOp,
    AlterConfigsResource,
    IncrementalAlterConfigsResource,
)
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.alter_configs import AlterConfigsResponse
from flowlog.protocol.messages.describe_configs import (
    DescribeConfigsResponse,
)
from flowlog.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsResponse,
)
from flowlog.storage.config import LOG_CONFIG_KEYS_BY_NAME

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
# Kafka's ConfigSource values.
SOURCE_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
# Kafka's ConfigType values for DescribeConfigs v3+.
CONFIG_TYPES = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6,
                "list": 7, "class": 8, "password": 9}

Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
Result = DescribeConfigsResponse.DescribeConfigsResult


def _topic_entries(broker: Broker, name: str, include_documentation: bool) -> list[object]:
    overrides = broker.metadata.state.topic_config_overrides(name)
    effective = broker.metadata.topic_log_config(name).to_kafka()
    entries = []
    for key, value in sorted(effective.items()):
        spec = LOG_CONFIG_KEYS_BY_NAME.get(key)
        source = SOURCE_TOPIC if key in overrides else SOURCE_DEFAULT
        entries.append(Entry(
            name=key, value=value, read_only=False, is_default=source == SOURCE_DEFAULT,
            config_source=source, is_sensitive=False, synonyms=[],
            config_type=CONFIG_TYPES.get(spec.type, 0) if spec else 0,
            documentation=spec.documentation if spec and include_documentation else None,
        ))
    return entries


def _broker_entries(broker: Broker) -> list[object]:
    config = broker.config
    settings = {
        "node.id": str(config.node_id),
        "num.partitions": str(config.num_partitions),
        "default.replication.factor": str(config.default_replication_factor),
        "auto.create.topics.enable": str(config.auto_create_topics_enable).lower(),
        "socket.request.max.bytes": str(config.socket_request_max_bytes),
        "delete.topic.enable": str(config.delete_topic_enable).lower(),
        "log.dirs": str(config.data_dir),
        "listeners": f"PLAINTEXT://{config.listen}",
        "advertised.listeners": f"PLAINTEXT://{config.advertised}",
    }
    return [
        Entry(name=key, value=value, read_only=True, config_source=SOURCE_STATIC_BROKER,
              is_sensitive=False, synonyms=[])
        for key, value in sorted(settings.items())
    ]


async def handle_describe_configs(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    results = []
    for resource in request.resources:
        wanted = set(resource.configuration_keys) if resource.configuration_keys is not None else None
        if resource.resource_type == RESOURCE_TOPIC:
            if broker.metadata.state.topic_by_name(resource.resource_name) is None:
                results.append(Result(
                    error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    error_message=f"unknown topic {resource.resource_name}",
                    resource_type=resource.resource_type, resource_name=resource.resource_name,
                ))
                continue
            entries = _topic_entries(broker, resource.resource_name, request.include_documentation)
        elif resource.resource_type == RESOURCE_BROKER:
            entries = _broker_entries(broker)
        else:
            results.append(Result(
                error_code=ErrorCode.INVALID_REQUEST,
                error_message=f"unsupported resource type {resource.resource_type}",
                resource_type=resource.resource_type, resource_name=resource.resource_name,
            ))
            continue
        if wanted is not None:
            entries = [e for e in entries if e.name in wanted]  # type: ignore[attr-defined]
        results.append(Result(
            error_code=ErrorCode.NONE, error_message=None, resource_type=resource.resource_type,
            resource_name=resource.resource_name, configs=entries,
        ))
    return DescribeConfigsResponse(throttle_time_ms=0, results=results)


async def handle_alter_configs(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    resources = [
        AlterConfigsResource(
            resource_type=r.resource_type, resource_name=r.resource_name,
            configs={c.name: c.value for c in r.configs if c.value is not None},
        )
        for r in request.resources
    ]
    results = await broker.metadata.alter_configs(resources, request.validate_only)
    return AlterConfigsResponse(throttle_time_ms=0, responses=[
        AlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=r.error_code, error_message=r.error_message,
            resource_type=r.resource_type, resource_name=r.resource_name,
        )
        for r in results
    ])


async def handle_incremental_alter_configs(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    resources = [
        IncrementalAlterConfigsResource(
            resource_type=r.resource_type, resource_name=r.resource_name,
            operations=[
                AlterConfigOp(name=c.name, operation=c.config_operation, value=c.value)
                for c in r.configs
            ],
        )
        for r in request.resources
    ]
    results = await broker.metadata.incremental_alter_configs(resources, request.validate_only)
    return IncrementalAlterConfigsResponse(throttle_time_ms=0, responses=[
        IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=r.error_code, error_message=r.error_message,
            resource_type=r.resource_type, resource_name=r.resource_name,
        )
        for r in results
    ])
