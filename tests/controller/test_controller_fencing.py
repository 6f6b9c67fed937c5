"""Fencing, unfencing, controlled shutdown and unclean election (sans-IO)."""

from __future__ import annotations

from metadata_harness import MemoryCluster

from flowlog.controller.controller_api import ElectionPolicy, NewTopic
from flowlog.controller.metadata_records import FenceBrokerRecord, UnfenceBrokerRecord
from flowlog.controller.metadata_state import PartitionInfo
from flowlog.protocol.errors import ErrorCode


def cluster(*assignment: int, unclean: bool = False) -> MemoryCluster:
    metadata = MemoryCluster(policy=ElectionPolicy(unclean=unclean))
    metadata.add_brokers(1, 2, 3)
    metadata.run(metadata.core.create_topics([NewTopic("t", assignments={0: list(assignment)})]))
    return metadata


def partition(metadata: MemoryCluster) -> PartitionInfo:
    topic = metadata.state.topic_by_name("t")
    assert topic is not None
    (info,) = metadata.state.partitions(topic.topic_id)
    return info


def test_fencing_the_leader_elects_the_next_isr_member_and_bumps_the_epoch() -> None:
    metadata = cluster(1, 2, 3)
    operation = metadata.core.fence_broker(1)
    assert operation.records[0] == FenceBrokerRecord(1)
    metadata.run(operation)
    info = partition(metadata)
    assert (info.leader, info.isr, info.leader_epoch) == (2, (2, 3), 1)
    assert metadata.state.live_broker_ids() == [2, 3]
    broker = metadata.state.broker(1)
    assert broker is not None and broker.fenced


def test_fencing_a_follower_shrinks_the_isr_only() -> None:
    metadata = cluster(1, 2, 3)
    metadata.run(metadata.core.fence_broker(3))
    info = partition(metadata)
    assert (info.leader, info.isr, info.leader_epoch) == (1, (1, 2), 0)


def test_the_last_isr_member_stays_and_the_partition_goes_offline() -> None:
    metadata = cluster(2)
    metadata.run(metadata.core.fence_broker(2))
    info = partition(metadata)
    assert (info.leader, info.isr) == (-1, (2,))
    # Unfencing brings it back as leader, one epoch later.
    operation = metadata.core.unfence_broker(2)
    assert operation.records[0] == UnfenceBrokerRecord(2)
    metadata.run(operation)
    info = partition(metadata)
    assert (info.leader, info.isr, info.leader_epoch) == (2, (2,), 2)


def test_no_live_isr_member_means_no_leader_unless_unclean() -> None:
    clean = cluster(1, 2)
    clean.run(clean.core.fence_broker(2))
    clean.run(clean.core.fence_broker(1))
    assert (partition(clean).leader, partition(clean).isr) == (-1, (1,))
    clean.run(clean.core.unfence_broker(2))
    assert partition(clean).leader == -1, "2 left the ISR: a clean election cannot pick it"

    unclean = cluster(1, 2, unclean=True)
    unclean.run(unclean.core.fence_broker(2))
    unclean.run(unclean.core.fence_broker(1))
    unclean.run(unclean.core.unfence_broker(2))
    assert (partition(unclean).leader, partition(unclean).isr) == (2, (2,))


def test_fencing_twice_or_unfencing_a_live_broker_changes_nothing() -> None:
    metadata = cluster(1, 2, 3)
    assert metadata.core.unfence_broker(1).records == ()
    metadata.run(metadata.core.fence_broker(1))
    assert metadata.core.fence_broker(1).records == ()
    (result,) = metadata.core.fence_broker(9).results
    assert result.error_code == ErrorCode.BROKER_ID_NOT_REGISTERED


def test_controlled_shutdown_moves_leadership_away() -> None:
    metadata = cluster(1, 2, 3)
    metadata.run(metadata.core.controlled_shutdown(1))
    assert partition(metadata).leader == 2
    assert 1 not in metadata.state.live_broker_ids()


def test_controlled_shutdown_of_the_only_live_broker_changes_nothing() -> None:
    metadata = MemoryCluster()
    metadata.add_brokers(1)
    metadata.create_topic("t")
    assert metadata.core.controlled_shutdown(1).records == ()


def test_reregistering_a_fenced_broker_unfences_it() -> None:
    metadata = cluster(2)
    metadata.run(metadata.core.fence_broker(2))
    metadata.run(metadata.core.register_broker(2, "host2", 9092, None, bytes([2, 9]) + bytes(14)))
    assert metadata.state.live_broker_ids() == [1, 2, 3]
    assert partition(metadata).leader == 2


def test_a_fenced_broker_gets_no_new_replicas() -> None:
    metadata = cluster(1, 2, 3)
    metadata.run(metadata.core.fence_broker(3))
    metadata.create_topic("u", partitions=6, replication_factor=2)
    topic = metadata.state.topic_by_name("u")
    assert topic is not None
    for info in metadata.state.partitions(topic.topic_id):
        assert 3 not in info.replicas
    (refused,) = metadata.run(metadata.core.create_topics([NewTopic("v", 1, 3)]))
    assert refused.error_code == ErrorCode.INVALID_REPLICATION_FACTOR
