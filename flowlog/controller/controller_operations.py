"""The ControllerCore operations a broker may ask for by name over the controller RPC.

Each entry turns the JSON arguments back into the core's types and runs the operation;
the caller (the active controller) makes the records durable. Registration,
heartbeats and fencing are not here: they have their own requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowlog.controller.controller_api import (
    AlterConfigsResource,
    AlterPartitionItem,
    IncrementalAlterConfigsResource,
    NewPartitions,
    NewTopic,
    OperationResult,
)
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.controller_rpc import CONVERTER

Operation = Callable[[ControllerCore, dict[str, Any]], OperationResult[Any]]


def _create_topics(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    topics = CONVERTER.structure(arguments["topics"], list[NewTopic])
    return core.create_topics(topics, bool(arguments.get("validate_only", False)))


def _delete_topics(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    names = CONVERTER.structure(arguments.get("names", []), list[str])
    topic_ids = CONVERTER.structure(arguments.get("topic_ids", []), list[bytes])
    return core.delete_topics(names, topic_ids)


def _create_partitions(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    topics = CONVERTER.structure(arguments["topics"], list[NewPartitions])
    return core.create_partitions(topics, bool(arguments.get("validate_only", False)))


def _alter_configs(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    resources = CONVERTER.structure(arguments["resources"], list[AlterConfigsResource])
    return core.alter_configs(resources, bool(arguments.get("validate_only", False)))


def _incremental_alter_configs(
    core: ControllerCore, arguments: dict[str, Any]
) -> OperationResult[Any]:
    resources = CONVERTER.structure(
        arguments["resources"], list[IncrementalAlterConfigsResource]
    )
    return core.incremental_alter_configs(resources, bool(arguments.get("validate_only", False)))


def _allocate_producer_ids(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    return core.allocate_producer_ids(int(arguments["broker_id"]), int(arguments["block_size"]))


def _alter_partition(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    items = CONVERTER.structure(arguments["items"], list[AlterPartitionItem])
    return core.alter_partition(int(arguments["broker_id"]), int(arguments["broker_epoch"]), items)


def _describe_partitions(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    """Read-only: every partition of the named topics, epochs included (tools, tests)."""
    state = core.state
    found = [state.topic_by_name(name) for name in arguments.get("topics", [])]
    return OperationResult((), tuple(
        partition
        for topic in found
        if topic is not None
        for partition in state.partitions(topic.topic_id)
    ))


def _describe_brokers(core: ControllerCore, arguments: dict[str, Any]) -> OperationResult[Any]:
    """Read-only: every registration, with broker epoch and fencing."""
    return OperationResult((), tuple(core.state.brokers().values()))


OPERATIONS: dict[str, Operation] = {
    "describe_partitions": _describe_partitions,
    "describe_brokers": _describe_brokers,
    "create_topics": _create_topics,
    "delete_topics": _delete_topics,
    "create_partitions": _create_partitions,
    "alter_configs": _alter_configs,
    "incremental_alter_configs": _incremental_alter_configs,
    "allocate_producer_ids": _allocate_producer_ids,
    "alter_partition": _alter_partition,
}
