"""AlterConfigs (full replace) and IncrementalAlterConfigs for topics and brokers."""

from __future__ import annotations

import pytest
from metadata_harness import MemoryCluster

from flowlog.controller.controller_api import (
    AlterConfigOp,
    AlterConfigOpType,
    AlterConfigsResource,
    IncrementalAlterConfigsResource,
)
from flowlog.controller.metadata_records import ConfigRecord, ConfigResourceType
from flowlog.protocol.errors import ErrorCode

TOPIC = int(ConfigResourceType.TOPIC)
BROKER = int(ConfigResourceType.BROKER)


def cluster_with_topic() -> MemoryCluster:
    metadata = MemoryCluster()
    metadata.add_brokers(1)
    metadata.create_topic("t", configs={"retention.ms": "100", "segment.bytes": "1048576"})
    return metadata


def test_alter_configs_replaces_all_overrides() -> None:
    metadata = cluster_with_topic()
    operation = metadata.core.alter_configs(
        [AlterConfigsResource(TOPIC, "t", {"retention.ms": "200", "cleanup.policy": "compact"})]
    )
    (result,) = metadata.run(operation)
    assert result.error_code == ErrorCode.NONE
    assert metadata.state.topic_config_overrides("t") == {
        "retention.ms": "200", "cleanup.policy": "compact",
    }
    assert operation.records == (
        ConfigRecord(ConfigResourceType.TOPIC, "t", "segment.bytes", None),
        ConfigRecord(ConfigResourceType.TOPIC, "t", "cleanup.policy", "compact"),
        ConfigRecord(ConfigResourceType.TOPIC, "t", "retention.ms", "200"),
    )
    # Setting the same overrides again changes nothing, so there is nothing to write.
    same = {"retention.ms": "200", "cleanup.policy": "compact"}
    assert metadata.core.alter_configs([AlterConfigsResource(TOPIC, "t", same)]).records == ()


def test_alter_configs_for_brokers_and_the_cluster_default() -> None:
    metadata = cluster_with_topic()
    metadata.run(
        metadata.core.alter_configs(
            [
                AlterConfigsResource(BROKER, "", {"log.retention.ms": "5"}),
                AlterConfigsResource(BROKER, "1", {"anything.goes": "x"}),
            ]
        )
    )
    assert metadata.state.broker_config_overrides("") == {"log.retention.ms": "5"}
    assert metadata.state.broker_config_overrides("1") == {"anything.goes": "x"}


@pytest.mark.parametrize(
    ("resource", "error_code", "message"),
    [
        (AlterConfigsResource(TOPIC, "missing", {}), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "no"),
        (AlterConfigsResource(TOPIC, "t", {"retention.ms": "x"}), ErrorCode.INVALID_CONFIG, "x"),
        (AlterConfigsResource(TOPIC, "t", {"bogus": "1"}), ErrorCode.INVALID_CONFIG, "unknown"),
        (AlterConfigsResource(BROKER, "one", {}), ErrorCode.INVALID_REQUEST, "broker id"),
        (AlterConfigsResource(BROKER, "-1", {}), ErrorCode.INVALID_REQUEST, "broker id"),
        (AlterConfigsResource(8, "x", {}), ErrorCode.INVALID_REQUEST, "not supported"),
    ],
)
def test_alter_configs_errors(
    resource: AlterConfigsResource, error_code: ErrorCode, message: str
) -> None:
    metadata = cluster_with_topic()
    operation = metadata.core.alter_configs([resource])
    (result,) = operation.results
    assert result.error_code == error_code and message in (result.error_message or "")
    assert operation.records == ()


def test_a_repeated_resource_is_an_invalid_request() -> None:
    metadata = cluster_with_topic()
    operation = metadata.core.alter_configs(
        [AlterConfigsResource(TOPIC, "t", {}), AlterConfigsResource(TOPIC, "t", {})]
    )
    assert [r.error_code for r in operation.results] == [ErrorCode.INVALID_REQUEST] * 2


def incremental(
    metadata: MemoryCluster, *operations: AlterConfigOp, resource_type: int = TOPIC,
    name: str = "t", validate_only: bool = False,
) -> ErrorCode:
    operation = metadata.core.incremental_alter_configs(
        [IncrementalAlterConfigsResource(resource_type, name, operations)], validate_only
    )
    (result,) = metadata.run(operation)
    return result.error_code


def test_incremental_set_and_delete_keep_other_keys() -> None:
    metadata = cluster_with_topic()
    code = incremental(
        metadata,
        AlterConfigOp("retention.ms", AlterConfigOpType.SET, "300"),
        AlterConfigOp("segment.bytes", AlterConfigOpType.DELETE),
        AlterConfigOp("flush.ms", AlterConfigOpType.DELETE),  # absent: a no-op
    )
    assert code == ErrorCode.NONE
    assert metadata.state.topic_config_overrides("t") == {"retention.ms": "300"}


def test_incremental_append_and_subtract_on_list_keys() -> None:
    metadata = cluster_with_topic()
    # No override yet: APPEND starts from the default "delete".
    assert incremental(metadata, AlterConfigOp("cleanup.policy", AlterConfigOpType.APPEND,
                                               "compact")) == ErrorCode.NONE
    assert metadata.state.topic_config_overrides("t")["cleanup.policy"] == "delete,compact"
    assert incremental(metadata, AlterConfigOp("cleanup.policy", AlterConfigOpType.APPEND,
                                               "compact")) == ErrorCode.NONE
    assert metadata.state.topic_config_overrides("t")["cleanup.policy"] == "delete,compact"
    assert incremental(metadata, AlterConfigOp("cleanup.policy", AlterConfigOpType.SUBTRACT,
                                               "delete")) == ErrorCode.NONE
    assert metadata.state.topic_config_overrides("t")["cleanup.policy"] == "compact"
    # Subtracting the last item leaves an empty list, which the config table refuses.
    assert incremental(metadata, AlterConfigOp("cleanup.policy", AlterConfigOpType.SUBTRACT,
                                               "compact")) == ErrorCode.INVALID_CONFIG
    assert incremental(metadata, AlterConfigOp("log.cleanup.policy", AlterConfigOpType.APPEND,
                                               "compact"), resource_type=BROKER,
                       name="") == ErrorCode.NONE
    assert metadata.state.broker_config_overrides("") == {"log.cleanup.policy": "delete,compact"}


@pytest.mark.parametrize(
    ("operations", "error_code"),
    [
        ((AlterConfigOp("retention.ms", AlterConfigOpType.APPEND, "1"),), ErrorCode.INVALID_CONFIG),
        ((AlterConfigOp("retention.ms", AlterConfigOpType.SET, None),), ErrorCode.INVALID_CONFIG),
        ((AlterConfigOp("retention.ms", AlterConfigOpType.SET, "-7"),), ErrorCode.INVALID_CONFIG),
        ((AlterConfigOp("", AlterConfigOpType.SET, "1"),), ErrorCode.INVALID_CONFIG),
        ((AlterConfigOp("retention.ms", 9, "1"),), ErrorCode.INVALID_REQUEST),
        ((AlterConfigOp("retention.ms", AlterConfigOpType.SET, "1"),
          AlterConfigOp("retention.ms", AlterConfigOpType.DELETE)), ErrorCode.INVALID_REQUEST),
    ],
)
def test_incremental_errors_change_nothing(
    operations: tuple[AlterConfigOp, ...], error_code: ErrorCode
) -> None:
    metadata = cluster_with_topic()
    before = metadata.state.copy()
    assert incremental(metadata, *operations) == error_code
    assert metadata.state == before


def test_incremental_validate_only_writes_nothing() -> None:
    metadata = cluster_with_topic()
    before = metadata.state.copy()
    code = incremental(
        metadata, AlterConfigOp("retention.ms", AlterConfigOpType.SET, "1"), validate_only=True
    )
    assert code == ErrorCode.NONE and metadata.state == before
