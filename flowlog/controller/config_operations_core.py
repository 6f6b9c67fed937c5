"""AlterConfigs and IncrementalAlterConfigs for topics and brokers, as ConfigRecords.

Sans-IO and read-only on the state. Both compute a resource's new overrides, validate
them whole (a topic's through the storage config table), and emit one ConfigRecord per
key that changes. A broker resource is a broker id in decimal, or "" for the cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from flowlog.controller.controller_api import (
    AlterConfigOp,
    AlterConfigOpType,
    AlterConfigsResource,
    ConfigResourceResult,
    IncrementalAlterConfigsResource,
    OperationResult,
)
from flowlog.controller.metadata_records import ConfigRecord, ConfigResourceType, MetadataRecord
from flowlog.controller.metadata_state import MetadataState
from flowlog.controller.topic_config_validation import (
    config_default,
    is_list_config,
    topic_configs_error,
)
from flowlog.protocol.errors import ErrorCode


class _ConfigRefused(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


# Given the resource and its current overrides, the new overrides (or _ConfigRefused).
_OverridesChange = Callable[[ConfigResourceType, Mapping[str, str]], dict[str, str]]


def alter_configs(
    state: MetadataState, resources: Sequence[AlterConfigsResource], validate_only: bool
) -> OperationResult[ConfigResourceResult]:
    """Each resource's overrides become exactly its `configs`."""
    changes: list[tuple[int, str, _OverridesChange]] = [
        (resource.resource_type, resource.resource_name, _replace_with(resource.configs))
        for resource in resources
    ]
    return _alter(state, changes, validate_only)


def incremental_alter_configs(
    state: MetadataState,
    resources: Sequence[IncrementalAlterConfigsResource],
    validate_only: bool,
) -> OperationResult[ConfigResourceResult]:
    changes: list[tuple[int, str, _OverridesChange]] = [
        (resource.resource_type, resource.resource_name, _apply_operations(resource.operations))
        for resource in resources
    ]
    return _alter(state, changes, validate_only)


def _alter(
    state: MetadataState,
    changes: Sequence[tuple[int, str, _OverridesChange]],
    validate_only: bool,
) -> OperationResult[ConfigResourceResult]:
    records: list[MetadataRecord] = []
    results: list[ConfigResourceResult] = []
    resource_counts = Counter((resource_type, name) for resource_type, name, _ in changes)
    for resource_type, name, change in changes:
        try:
            if resource_counts[(resource_type, name)] > 1:
                raise _ConfigRefused(
                    ErrorCode.INVALID_REQUEST, f"resource {resource_type}/{name!r} is repeated"
                )
            records.extend(_records_for(state, resource_type, name, change))
        except _ConfigRefused as refused:
            results.append(
                ConfigResourceResult(resource_type, name, refused.error_code, refused.message)
            )
            continue
        results.append(ConfigResourceResult(resource_type, name, ErrorCode.NONE))
    return OperationResult(() if validate_only else tuple(records), tuple(results))


def _records_for(
    state: MetadataState, resource_type_code: int, name: str, change: _OverridesChange
) -> list[ConfigRecord]:
    resource_type = _resolve_resource(state, resource_type_code, name)
    current = state.config_overrides(resource_type, name)
    wanted = change(resource_type, current)
    if resource_type is ConfigResourceType.TOPIC:
        error = topic_configs_error(wanted)
        if error is not None:
            raise _ConfigRefused(ErrorCode.INVALID_CONFIG, error)
    deleted = [
        ConfigRecord(resource_type, name, key, None)
        for key in sorted(current)
        if key not in wanted
    ]
    changed = [
        ConfigRecord(resource_type, name, key, wanted[key])
        for key in sorted(wanted)
        if current.get(key) != wanted[key]
    ]
    return deleted + changed


def _resolve_resource(state: MetadataState, resource_type_code: int, name: str) -> ConfigResourceType:
    if resource_type_code == ConfigResourceType.TOPIC:
        if state.topic_by_name(name) is None:
            raise _ConfigRefused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no topic {name!r}")
        return ConfigResourceType.TOPIC
    if resource_type_code == ConfigResourceType.BROKER:
        if name != "" and not (name.isascii() and name.isdigit()):
            raise _ConfigRefused(
                ErrorCode.INVALID_REQUEST,
                f"broker resource name {name!r} is neither a broker id nor '' (cluster default)",
            )
        return ConfigResourceType.BROKER
    raise _ConfigRefused(
        ErrorCode.INVALID_REQUEST,
        f"resource type {resource_type_code} is not supported; only topics "
        f"({int(ConfigResourceType.TOPIC)}) and brokers ({int(ConfigResourceType.BROKER)})",
    )


def _replace_with(configs: Mapping[str, str]) -> _OverridesChange:
    def change(resource_type: ConfigResourceType, current: Mapping[str, str]) -> dict[str, str]:
        for key, value in configs.items():
            if not key or not isinstance(value, str):
                raise _ConfigRefused(ErrorCode.INVALID_CONFIG, f"bad config {key!r}={value!r}")
        return dict(configs)

    return change


def _apply_operations(operations: Sequence[AlterConfigOp]) -> _OverridesChange:
    def change(resource_type: ConfigResourceType, current: Mapping[str, str]) -> dict[str, str]:
        key_counts = Counter(operation.name for operation in operations)
        repeated = sorted(key for key, count in key_counts.items() if count > 1)
        if repeated:
            raise _ConfigRefused(
                ErrorCode.INVALID_REQUEST, f"config keys {repeated} appear more than once"
            )
        wanted = dict(current)
        for operation in operations:
            _apply_operation(resource_type, wanted, operation)
        return wanted

    return change


def _apply_operation(
    resource_type: ConfigResourceType, overrides: dict[str, str], operation: AlterConfigOp
) -> None:
    if not operation.name:
        raise _ConfigRefused(ErrorCode.INVALID_CONFIG, "a config key is empty")
    if operation.operation == AlterConfigOpType.DELETE:
        overrides.pop(operation.name, None)
        return
    if operation.operation not in tuple(AlterConfigOpType):
        raise _ConfigRefused(
            ErrorCode.INVALID_REQUEST, f"unknown config operation {operation.operation}"
        )
    if operation.value is None:
        raise _ConfigRefused(
            ErrorCode.INVALID_CONFIG, f"config {operation.name!r} needs a value for this operation"
        )
    if operation.operation == AlterConfigOpType.SET:
        overrides[operation.name] = operation.value
        return
    if not is_list_config(resource_type, operation.name):
        raise _ConfigRefused(
            ErrorCode.INVALID_CONFIG,
            f"config {operation.name!r} is not a list, so it cannot be appended to or "
            "subtracted from",
        )
    current = overrides.get(operation.name, config_default(resource_type, operation.name))
    items = _list_items(current)
    given = _list_items(operation.value)
    if operation.operation == AlterConfigOpType.APPEND:
        items += [item for item in given if item not in items]
    else:
        items = [item for item in items if item not in given]
    overrides[operation.name] = ",".join(items)


def _list_items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
