"""Broker registration, leader election on membership changes, producer-id blocks."""

from __future__ import annotations

from metadata_harness import MemoryCluster, incarnation

from flowlog.controller.broker_operations_core import PRODUCER_ID_MAX, elect_leader
from flowlog.controller.controller_api import NewTopic
from flowlog.controller.metadata_records import ProducerIdsRecord, RegisterBrokerRecord
from flowlog.controller.metadata_state import PartitionInfo
from flowlog.protocol.errors import ErrorCode


def only_partition(metadata: MemoryCluster, name: str = "t") -> PartitionInfo:
    topic = metadata.state.topic_by_name(name)
    assert topic is not None
    (partition,) = metadata.state.partitions(topic.topic_id)
    return partition


def cluster_with_topic(*replicas: int) -> MemoryCluster:
    metadata = MemoryCluster()
    metadata.add_brokers(*sorted(replicas))
    metadata.run(metadata.core.create_topics([NewTopic("t", assignments={0: list(replicas)})]))
    return metadata


def test_elect_leader_takes_the_first_live_replica_in_the_isr() -> None:
    assert elect_leader((3, 1, 2), isr={1, 2}, live={1, 2, 3}) == 1
    assert elect_leader((3, 1, 2), isr={1, 2, 3}, live={1, 2}) == 1
    assert elect_leader((3, 1, 2), isr={3}, live={1, 2}) == -1


def test_register_broker_records_it() -> None:
    metadata = MemoryCluster()
    operation = metadata.core.register_broker(4, "h", 9092, "rack-1", incarnation(4))
    assert operation.records == (RegisterBrokerRecord(4, "h", 9092, "rack-1", incarnation(4)),)
    metadata.run(operation)
    broker = metadata.state.broker(4)
    assert broker is not None and broker.rack == "rack-1"
    # The same registration again is a no-op.
    again = metadata.core.register_broker(4, "h", 9092, "rack-1", incarnation(4))
    assert again.records == () and again.results[0].error_code == ErrorCode.NONE


def test_register_broker_refuses_bad_input() -> None:
    core = MemoryCluster().core
    for node_id, host, port, incarnation_id in [
        (-1, "h", 9092, incarnation(1)),
        (1, "", 9092, incarnation(1)),
        (1, "h", 0, incarnation(1)),
        (1, "h", 70000, incarnation(1)),
        (1, "h", 9092, b"short"),
    ]:
        operation = core.register_broker(node_id, host, port, None, incarnation_id)
        assert operation.records == ()
        assert operation.results[0].error_code == ErrorCode.INVALID_REQUEST


def test_unregistering_the_leader_moves_leadership_and_shrinks_the_isr() -> None:
    metadata = cluster_with_topic(1, 2, 3)
    before = only_partition(metadata)
    (result,) = metadata.run(metadata.core.unregister_broker(1))
    assert result.error_code == ErrorCode.NONE
    after = only_partition(metadata)
    assert (after.leader, after.isr) == (2, (2, 3))
    assert after.leader_epoch == before.leader_epoch + 1
    assert after.partition_epoch == before.partition_epoch + 1
    assert metadata.state.broker(1) is None


def test_unregistering_a_follower_keeps_the_leader_epoch() -> None:
    metadata = cluster_with_topic(1, 2)
    metadata.run(metadata.core.unregister_broker(2))
    after = only_partition(metadata)
    assert (after.leader, after.isr, after.leader_epoch, after.partition_epoch) == (1, (1,), 0, 1)


def test_the_last_isr_member_stays_and_the_partition_goes_leaderless_until_it_returns() -> None:
    metadata = cluster_with_topic(1, 2)
    metadata.run(metadata.core.unregister_broker(2))
    metadata.run(metadata.core.unregister_broker(1))
    leaderless = only_partition(metadata)
    assert (leaderless.leader, leaderless.isr, leaderless.leader_epoch) == (-1, (1,), 1)
    # Broker 2 is not in the ISR: electing it would lose committed records.
    metadata.add_brokers(2)
    assert only_partition(metadata).leader == -1
    metadata.add_brokers(1)
    back = only_partition(metadata)
    assert (back.leader, back.leader_epoch) == (1, 2)


def test_a_restarted_leader_gets_a_new_leader_epoch() -> None:
    metadata = cluster_with_topic(1, 2)
    metadata.run(metadata.core.register_broker(2, "host2", 9092, None, incarnation(2, 1)))
    assert only_partition(metadata).leader_epoch == 0  # 2 is a follower
    metadata.run(metadata.core.register_broker(1, "host1", 9092, None, incarnation(1, 1)))
    partition = only_partition(metadata)
    assert (partition.leader, partition.leader_epoch) == (1, 1)


def test_unregistering_an_unknown_broker_is_an_error() -> None:
    operation = MemoryCluster().core.unregister_broker(5)
    assert operation.records == ()
    assert operation.results[0].error_code == ErrorCode.BROKER_ID_NOT_REGISTERED


def test_producer_id_blocks_follow_each_other() -> None:
    metadata = MemoryCluster()
    metadata.add_brokers(1, 2)
    (first,) = metadata.run(metadata.core.allocate_producer_ids(1, 1000))
    (second,) = metadata.run(metadata.core.allocate_producer_ids(2, 10))
    assert (first.first_producer_id, first.size) == (0, 1000)
    assert (second.broker_id, second.first_producer_id, second.size) == (2, 1000, 10)
    assert metadata.state.next_producer_id == 1010


def test_producer_id_errors() -> None:
    metadata = MemoryCluster()
    metadata.add_brokers(1)
    cases = [
        (metadata.core.allocate_producer_ids(9, 10), ErrorCode.BROKER_ID_NOT_REGISTERED),
        (metadata.core.allocate_producer_ids(1, 0), ErrorCode.INVALID_REQUEST),
        (metadata.core.allocate_producer_ids(1, 1_000_001), ErrorCode.INVALID_REQUEST),
    ]
    metadata.state.replay(ProducerIdsRecord(1, PRODUCER_ID_MAX - 5), 100)
    cases.append((metadata.core.allocate_producer_ids(1, 10), ErrorCode.UNKNOWN_SERVER_ERROR))
    for operation, error_code in cases:
        assert operation.records == () and operation.results[0].error_code == error_code
    (last,) = metadata.run(metadata.core.allocate_producer_ids(1, 6))
    assert last.first_producer_id + last.size - 1 == PRODUCER_ID_MAX
