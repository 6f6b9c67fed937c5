"""CreateTopics, DeleteTopics and CreatePartitions: records on success, each error code."""

from __future__ import annotations

import pytest
from metadata_harness import MemoryCluster

from flowlog.controller.controller_api import ControllerDefaults, NewPartitions, NewTopic
from flowlog.controller.metadata_records import TopicRecord
from flowlog.protocol.errors import ErrorCode


def cluster(*brokers: int, defaults: ControllerDefaults | None = None) -> MemoryCluster:
    result = MemoryCluster(defaults=defaults)
    result.add_brokers(*brokers)
    return result


def test_create_topic_places_replicas_round_robin_over_live_brokers() -> None:
    metadata = cluster(1, 2, 3)
    topic_id = metadata.create_topic("orders", partitions=6, replication_factor=2)
    assert topic_id != bytes(16) and len(topic_id) == 16
    partitions = metadata.state.partitions(topic_id)
    leaders = [partition.leader for partition in partitions]
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]
    for partition in partitions:
        assert len(set(partition.replicas)) == 2
        assert partition.isr == partition.replicas and partition.leader == partition.replicas[0]
        assert (partition.leader_epoch, partition.partition_epoch) == (0, 0)
    # Consecutive partitions start one broker later.
    assert [(leaders[i] % 3) + 1 for i in range(5)] == leaders[1:]


def test_create_topic_uses_defaults_for_minus_one() -> None:
    metadata = cluster(1, 2, defaults=ControllerDefaults(num_partitions=3,
                                                         default_replication_factor=2))
    (result,) = metadata.run(metadata.core.create_topics([NewTopic("t")]))
    assert (result.error_code, result.num_partitions, result.replication_factor) == (
        ErrorCode.NONE, 3, 2,
    )
    assert len(metadata.state.partitions(result.topic_id or b"")) == 3


def test_topic_ids_come_from_the_random_source() -> None:
    first, second = cluster(1), cluster(1)
    topic_id = first.create_topic("a")
    assert topic_id == second.create_topic("a")
    assert first.create_topic("b") != topic_id


def test_create_topic_with_configs_and_explicit_assignment() -> None:
    metadata = cluster(1, 2, 3)
    (result,) = metadata.run(
        metadata.core.create_topics(
            [NewTopic("t", assignments={1: [3, 1], 0: [2, 3]},
                      configs={"cleanup.policy": "compact", "retention.ms": "100"})]
        )
    )
    assert result.error_code == ErrorCode.NONE
    assert [p.replicas for p in metadata.state.partitions(result.topic_id or b"")] == [
        (2, 3), (3, 1),
    ]
    assert metadata.state.topic_config_overrides("t") == {
        "cleanup.policy": "compact", "retention.ms": "100",
    }


@pytest.mark.parametrize(
    ("topic", "error_code", "message"),
    [
        (NewTopic("existing"), ErrorCode.TOPIC_ALREADY_EXISTS, "already exists"),
        (NewTopic(""), ErrorCode.INVALID_TOPIC_EXCEPTION, "empty"),
        (NewTopic("."), ErrorCode.INVALID_TOPIC_EXCEPTION, "reserved"),
        (NewTopic(".."), ErrorCode.INVALID_TOPIC_EXCEPTION, "reserved"),
        (NewTopic("a" * 250), ErrorCode.INVALID_TOPIC_EXCEPTION, "at most 249"),
        (NewTopic("with space"), ErrorCode.INVALID_TOPIC_EXCEPTION, "characters"),
        (NewTopic("ünicode"), ErrorCode.INVALID_TOPIC_EXCEPTION, "characters"),
        (NewTopic("my_topic"), ErrorCode.INVALID_TOPIC_EXCEPTION, "collides"),
        (NewTopic("t", 0), ErrorCode.INVALID_PARTITIONS, "partition count 0"),
        (NewTopic("t", -2), ErrorCode.INVALID_PARTITIONS, "partition count -2"),
        (NewTopic("t", 10_001), ErrorCode.INVALID_PARTITIONS, "10000"),
        (NewTopic("t", 1, 0), ErrorCode.INVALID_REPLICATION_FACTOR, "below 1"),
        (NewTopic("t", 1, 3), ErrorCode.INVALID_REPLICATION_FACTOR, "2 live broker"),
        (NewTopic("t", configs={"retention.ms": "soon"}), ErrorCode.INVALID_CONFIG, "integer"),
        (NewTopic("t", configs={"no.such.key": "1"}), ErrorCode.INVALID_CONFIG, "unknown"),
        (NewTopic("t", 2, assignments={0: [1]}), ErrorCode.INVALID_REQUEST, "must be -1"),
        (NewTopic("t", assignments={1: [1]}), ErrorCode.INVALID_REPLICA_ASSIGNMENT, "0..0"),
        (NewTopic("t", assignments={0: [1, 1]}), ErrorCode.INVALID_REPLICA_ASSIGNMENT, "repeat"),
        (NewTopic("t", assignments={0: [9]}), ErrorCode.INVALID_REPLICA_ASSIGNMENT, "unregist"),
        (NewTopic("t", assignments={0: []}), ErrorCode.INVALID_REPLICA_ASSIGNMENT, "no replicas"),
        (NewTopic("t", assignments={0: [1], 1: [1, 2]}), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "replication factor"),
    ],
)
def test_create_topic_errors(topic: NewTopic, error_code: ErrorCode, message: str) -> None:
    metadata = cluster(1, 2)
    metadata.create_topic("existing")
    metadata.create_topic("my.topic")
    operation = metadata.core.create_topics([topic])
    (result,) = operation.results
    assert result.error_code == error_code
    assert result.error_message is not None and message in result.error_message
    assert operation.records == () and result.topic_id is None


def test_no_live_brokers_means_no_topics() -> None:
    (result,) = MemoryCluster().core.create_topics([NewTopic("t")]).results
    assert result.error_code == ErrorCode.INVALID_REPLICATION_FACTOR


def test_items_of_one_request_are_independent_but_see_each_other() -> None:
    metadata = cluster(1)
    operation = metadata.core.create_topics(
        [NewTopic("a.b"), NewTopic("bad name"), NewTopic("a_b"), NewTopic("dup"), NewTopic("dup")]
    )
    codes = [result.error_code for result in metadata.run(operation)]
    assert codes == [
        ErrorCode.NONE, ErrorCode.INVALID_TOPIC_EXCEPTION, ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST,
    ]
    assert [topic.name for topic in metadata.state.topics()] == ["a.b"]


def test_validate_only_returns_results_but_no_records() -> None:
    metadata = cluster(1)
    operation = metadata.core.create_topics([NewTopic("t", 2, 1)], validate_only=True)
    (result,) = operation.results
    assert result.error_code == ErrorCode.NONE and result.num_partitions == 2
    assert operation.records == ()


def test_delete_topics_by_name_and_by_id() -> None:
    metadata = cluster(1)
    first = metadata.create_topic("first")
    second = metadata.create_topic("second")
    metadata.state.replay(TopicRecord("third", b"\x09" * 16), metadata.state.last_applied_offset + 1)
    operation = metadata.core.delete_topics(
        names=["first", "missing", "third"], topic_ids=[second, b"\x07" * 16, first]
    )
    results = metadata.run(operation)
    assert [(r.name, r.error_code) for r in results] == [
        ("first", ErrorCode.NONE),
        ("missing", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ("third", ErrorCode.NONE),
        ("second", ErrorCode.NONE),
        (None, ErrorCode.UNKNOWN_TOPIC_ID),
        ("first", ErrorCode.NONE),
    ]
    assert len(operation.records) == 3  # "first" named twice is removed once
    assert metadata.state.topics() == []


def test_create_partitions_only_grows() -> None:
    metadata = cluster(1, 2, 3)
    topic_id = metadata.create_topic("t", partitions=2, replication_factor=2)
    metadata.create_topic("u")
    results = metadata.run(
        metadata.core.create_partitions(
            [
                NewPartitions("t", 4),
                NewPartitions("u", 1),
                NewPartitions("missing", 3),
                NewPartitions("w", 2),
                NewPartitions("w", 3),
            ]
        )
    )
    assert [result.error_code for result in results] == [
        ErrorCode.NONE, ErrorCode.INVALID_PARTITIONS, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST,
    ]
    partitions = metadata.state.partitions(topic_id)
    assert [p.partition for p in partitions] == [0, 1, 2, 3]
    assert all(len(p.replicas) == 2 for p in partitions)


@pytest.mark.parametrize(
    ("request_", "error_code"),
    [
        (NewPartitions("t", 1), ErrorCode.INVALID_PARTITIONS),
        (NewPartitions("t", 10_001), ErrorCode.INVALID_PARTITIONS),
        (NewPartitions("t", 3, [[1, 2]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (NewPartitions("t", 3, [[1, 2], [1]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (NewPartitions("t", 3, [[1, 2], [1, 9]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ],
)
def test_create_partitions_errors(request_: NewPartitions, error_code: ErrorCode) -> None:
    metadata = cluster(1, 2)
    metadata.create_topic("t", partitions=1, replication_factor=2)
    operation = metadata.core.create_partitions([request_])
    assert operation.results[0].error_code == error_code and operation.records == ()


def test_create_partitions_with_assignment_and_validate_only() -> None:
    metadata = cluster(1, 2)
    topic_id = metadata.create_topic("t", partitions=1, replication_factor=2)
    assert metadata.core.create_partitions([NewPartitions("t", 2)], validate_only=True).records == ()
    metadata.run(metadata.core.create_partitions([NewPartitions("t", 2, [[2, 1]])]))
    assert metadata.state.partitions(topic_id)[1].replicas == (2, 1)


def test_create_partitions_needs_enough_live_brokers() -> None:
    metadata = cluster(1, 2)
    metadata.create_topic("t", partitions=1, replication_factor=2)
    metadata.run(metadata.core.unregister_broker(2))
    (result,) = metadata.core.create_partitions([NewPartitions("t", 2)]).results
    assert result.error_code == ErrorCode.INVALID_REPLICATION_FACTOR
