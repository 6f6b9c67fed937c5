"""AlterPartition (the replication side's ISR changes) and preferred-leader election."""

from __future__ import annotations

from metadata_harness import MemoryCluster

from flowlog.controller.controller_api import AlterPartitionItem, NewTopic
from flowlog.controller.metadata_state import PartitionInfo
from flowlog.protocol.errors import ErrorCode


def cluster() -> tuple[MemoryCluster, bytes]:
    metadata = MemoryCluster()
    metadata.add_brokers(1, 2, 3)
    (result,) = metadata.run(
        metadata.core.create_topics([NewTopic("t", assignments={0: [1, 2, 3]})])
    )
    assert result.topic_id is not None
    return metadata, result.topic_id


def info(metadata: MemoryCluster, topic_id: bytes) -> PartitionInfo:
    found = metadata.state.partition(topic_id, 0)
    assert found is not None
    return found


def epoch_of(metadata: MemoryCluster, node_id: int) -> int:
    broker = metadata.state.broker(node_id)
    assert broker is not None
    return broker.epoch


def alter(metadata: MemoryCluster, topic_id: bytes, sender: int, isr: tuple[int, ...],
          leader_epoch: int | None = None, partition_epoch: int | None = None,
          broker_epoch: int | None = None) -> tuple[ErrorCode, PartitionInfo]:
    current = info(metadata, topic_id)
    item = AlterPartitionItem(
        topic_id, 0,
        current.leader_epoch if leader_epoch is None else leader_epoch,
        current.partition_epoch if partition_epoch is None else partition_epoch,
        isr,
    )
    epoch = epoch_of(metadata, sender) if broker_epoch is None else broker_epoch
    (result,) = metadata.run(metadata.core.alter_partition(sender, epoch, [item]))
    after = info(metadata, topic_id)
    assert (result.leader, result.isr, result.partition_epoch) == (
        after.leader, after.isr, after.partition_epoch
    )
    return result.error_code, after


def test_the_leader_shrinks_and_expands_the_isr() -> None:
    metadata, topic_id = cluster()
    error, after = alter(metadata, topic_id, 1, (1, 2))
    assert error == ErrorCode.NONE
    assert (after.isr, after.partition_epoch, after.leader_epoch) == ((1, 2), 1, 0)
    error, after = alter(metadata, topic_id, 1, (1, 2, 3))
    assert error == ErrorCode.NONE and after.isr == (1, 2, 3) and after.partition_epoch == 2


def test_an_unchanged_isr_writes_nothing() -> None:
    metadata, topic_id = cluster()
    current = info(metadata, topic_id)
    item = AlterPartitionItem(topic_id, 0, 0, 0, current.isr)
    operation = metadata.core.alter_partition(1, epoch_of(metadata, 1), [item])
    assert operation.records == () and operation.results[0].error_code == ErrorCode.NONE


def test_alter_partition_refusals() -> None:
    metadata, topic_id = cluster()
    assert alter(metadata, topic_id, 2, (1, 2))[0] == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert alter(metadata, topic_id, 1, (1, 2), leader_epoch=5)[0] == (
        ErrorCode.FENCED_LEADER_EPOCH
    )
    assert alter(metadata, topic_id, 1, (1, 2), partition_epoch=9)[0] == (
        ErrorCode.INVALID_UPDATE_VERSION
    )
    assert alter(metadata, topic_id, 1, (1, 2), broker_epoch=999)[0] == (
        ErrorCode.STALE_BROKER_EPOCH
    )
    assert alter(metadata, topic_id, 1, (2, 3))[0] == ErrorCode.INVALID_REQUEST
    assert alter(metadata, topic_id, 1, (1, 4))[0] == ErrorCode.INVALID_REQUEST
    assert alter(metadata, topic_id, 1, (1, 1))[0] == ErrorCode.INVALID_REQUEST
    assert info(metadata, topic_id).partition_epoch == 0, "nothing was written"
    missing = AlterPartitionItem(bytes(16), 0, 0, 0, (1,))
    (result,) = metadata.core.alter_partition(1, epoch_of(metadata, 1), [missing]).results
    assert result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_a_fenced_broker_cannot_join_the_isr() -> None:
    metadata, topic_id = cluster()
    metadata.run(metadata.core.fence_broker(3))
    assert info(metadata, topic_id).isr == (1, 2)
    assert alter(metadata, topic_id, 1, (1, 2, 3))[0] == ErrorCode.INELIGIBLE_REPLICA
    metadata.run(metadata.core.unfence_broker(3))
    assert alter(metadata, topic_id, 1, (1, 2, 3))[0] == ErrorCode.NONE


def test_the_preferred_leader_returns_once_back_in_the_isr() -> None:
    metadata, topic_id = cluster()
    metadata.run(metadata.core.fence_broker(1))
    assert info(metadata, topic_id).leader == 2
    metadata.run(metadata.core.unfence_broker(1))
    assert metadata.core.elect_preferred_leaders().records == (), "1 is not in the ISR yet"
    error, _ = alter(metadata, topic_id, 2, (2, 3, 1))
    assert error == ErrorCode.NONE
    metadata.run(metadata.core.elect_preferred_leaders())
    after = info(metadata, topic_id)
    assert (after.leader, after.leader_epoch) == (1, 2)
    assert metadata.core.elect_preferred_leaders().records == ()
