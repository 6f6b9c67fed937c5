"""MetadataState: replay builds the image; records that cannot apply change nothing."""

from __future__ import annotations

import pytest

from flowlog.controller.metadata_records import (
    ConfigRecord,
    ConfigResourceType,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnregisterBrokerRecord,
)
from flowlog.controller.metadata_state import (
    BrokerRegistration,
    MetadataInconsistencyError,
    MetadataState,
    TopicInfo,
)

TOPIC_ID = bytes(range(1, 17))
OTHER_ID = bytes(range(2, 18))


def replayed(*records: MetadataRecord) -> MetadataState:
    state = MetadataState()
    for offset, record in enumerate(records):
        state.replay(record, offset)
    return state


def partition(index: int, replicas: tuple[int, ...] = (1, 2)) -> PartitionRecord:
    return PartitionRecord(TOPIC_ID, index, replicas, replicas, replicas[0], 0, 0)


def topic_state() -> MetadataState:
    return replayed(TopicRecord("orders", TOPIC_ID), partition(0), partition(1, (2, 1)))


def test_empty_state() -> None:
    state = MetadataState()
    assert state.last_applied_offset == -1
    assert state.next_producer_id == 0
    assert state.topics() == [] and state.brokers() == {}


def test_topics_and_partitions_are_found_by_name_and_id() -> None:
    state = topic_state()
    assert state.topic_by_name("orders") == TopicInfo("orders", TOPIC_ID)
    assert state.topic_by_id(TOPIC_ID) == TopicInfo("orders", TOPIC_ID)
    assert state.topic_by_name("other") is None and state.topic_by_id(OTHER_ID) is None
    partitions = state.partitions(TOPIC_ID)
    assert [p.partition for p in partitions] == [0, 1]
    assert partitions[1].leader == 2 and partitions[1].isr == (2, 1)
    assert state.partition(TOPIC_ID, 2) is None and state.partition(TOPIC_ID, -1) is None
    assert state.last_applied_offset == 2


def assert_refused(state: MetadataState, record: MetadataRecord, message: str) -> None:
    before = state.copy()
    with pytest.raises(MetadataInconsistencyError, match=message):
        state.replay(record, state.last_applied_offset + 1)
    assert state == before


def test_a_partition_of_an_unknown_topic_is_an_error() -> None:
    assert_refused(MetadataState(), partition(0), "unknown topic")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (partition(3), "not the next one"),
        (PartitionRecord(TOPIC_ID, 2, (1,), (2,), 1, 0, 0), "not a replica"),
        (PartitionRecord(TOPIC_ID, 2, (1, 2), (1,), 2, 0, 0), "leader is not in the ISR"),
        (PartitionRecord(TOPIC_ID, 2, (), (), -1, 0, 0), "no replicas"),
        (TopicRecord("orders", OTHER_ID), "exists already"),
        (TopicRecord("new", TOPIC_ID), "is taken"),
        (PartitionChangeRecord(TOPIC_ID, 5, leader=1), "unknown partition"),
        (PartitionChangeRecord(TOPIC_ID, 0, leader=3), "leader is not in the ISR"),
        (PartitionChangeRecord(TOPIC_ID, 0, isr=(3,)), "not a replica"),
        (RemoveTopicRecord(OTHER_ID), "unknown topic"),
        (ConfigRecord(ConfigResourceType.TOPIC, "nope", "retention.ms", "1"), "unknown topic"),
        (UnregisterBrokerRecord(9), "unknown broker"),
    ],
)
def test_inconsistent_records_are_refused_and_change_nothing(
    record: MetadataRecord, message: str
) -> None:
    assert_refused(topic_state(), record, message)


def test_offsets_must_increase() -> None:
    state = topic_state()
    with pytest.raises(MetadataInconsistencyError, match="not after"):
        state.replay(ProducerIdsRecord(1, 10), 2)
    state.replay(ProducerIdsRecord(1, 10), 10)  # gaps are fine: a snapshot may skip
    assert state.last_applied_offset == 10


def test_a_leader_change_bumps_both_epochs_an_isr_change_only_the_partition_epoch() -> None:
    state = topic_state()
    state.replay(PartitionChangeRecord(TOPIC_ID, 0, isr=(1,)), 3)
    after_isr = state.partition(TOPIC_ID, 0)
    assert after_isr is not None
    assert (after_isr.isr, after_isr.leader_epoch, after_isr.partition_epoch) == ((1,), 0, 1)
    state.replay(PartitionChangeRecord(TOPIC_ID, 0, leader=-1), 4)
    after_leader = state.partition(TOPIC_ID, 0)
    assert after_leader is not None
    assert (after_leader.leader, after_leader.leader_epoch, after_leader.partition_epoch) == (
        -1, 1, 2,
    )
    state.replay(PartitionChangeRecord(TOPIC_ID, 0, replicas=(1, 2, 3), isr=(1, 3), leader=3), 5)
    last = state.partition(TOPIC_ID, 0)
    assert last is not None
    assert (last.replicas, last.isr, last.leader, last.leader_epoch) == ((1, 2, 3), (1, 3), 3, 2)


def test_removing_a_topic_drops_its_partitions_and_configs() -> None:
    state = topic_state()
    state.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", "5"), 3)
    state.replay(RemoveTopicRecord(TOPIC_ID), 4)
    assert state.topic_by_name("orders") is None and state.partitions(TOPIC_ID) == ()
    state.replay(TopicRecord("orders", OTHER_ID), 5)
    assert state.topic_config_overrides("orders") == {}


def test_config_overrides_set_delete_and_merge_over_defaults() -> None:
    state = topic_state()
    state.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", "5"), 3)
    state.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "cleanup.policy", "compact"), 4)
    state.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", None), 5)
    assert state.topic_config_overrides("orders") == {"cleanup.policy": "compact"}
    defaults = {"cleanup.policy": "delete", "segment.bytes": "100"}
    assert state.effective_topic_config("orders", defaults) == {
        "cleanup.policy": "compact", "segment.bytes": "100",
    }
    state.replay(ConfigRecord(ConfigResourceType.BROKER, "", "log.retention.ms", "9"), 6)
    assert state.broker_config_overrides("") == {"log.retention.ms": "9"}
    assert state.broker_config_overrides("1") == {}


def test_deleting_every_override_leaves_no_trace() -> None:
    # Two histories that end with no overrides at the same offset give equal states.
    first = topic_state()
    first.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", "5"), 3)
    first.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", None), 4)
    second = topic_state()
    second.replay(ConfigRecord(ConfigResourceType.BROKER, "", "log.retention.ms", "9"), 3)
    second.replay(ConfigRecord(ConfigResourceType.BROKER, "", "log.retention.ms", None), 4)
    assert first == second


def test_brokers_register_reregister_and_unregister() -> None:
    state = replayed(
        RegisterBrokerRecord(2, "b", 9092, None, bytes(16)),
        RegisterBrokerRecord(1, "a", 9093, "rack-a", bytes(16)),
        RegisterBrokerRecord(2, "b2", 9094, None, b"\x01" * 16),
    )
    assert state.live_broker_ids() == [1, 2]
    assert state.broker(2) == BrokerRegistration(2, "b2", 9094, None, b"\x01" * 16, epoch=2)
    state.replay(UnregisterBrokerRecord(1), 3)
    assert list(state.brokers()) == [2] and state.broker(1) is None


def test_producer_id_blocks_must_move_forward() -> None:
    state = replayed(ProducerIdsRecord(1, 1000))
    assert state.next_producer_id == 1000
    assert_refused(state, ProducerIdsRecord(2, 1000), "overlap")
    assert_refused(state, ProducerIdsRecord(2, 10), "overlap")


def test_copy_is_equal_and_independent() -> None:
    state = topic_state()
    copy = state.copy()
    assert copy == state
    copy.replay(PartitionChangeRecord(TOPIC_ID, 0, leader=2), 3)
    copy.replay(ConfigRecord(ConfigResourceType.TOPIC, "orders", "retention.ms", "5"), 4)
    assert copy != state
    assert state == topic_state()
