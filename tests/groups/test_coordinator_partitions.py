"""The coordinator's load/unload rules (sans-IO): which groups a broker serves as the
leadership of __consumer_offsets partitions moves, and GroupManager's per-partition
unload and adopt."""

from __future__ import annotations

from group_harness import GROUP, Harness, join_request

from flowlog.broker.coordinator_partitions import (
    CoordinatorPartitions,
    Load,
    Unload,
    write_error,
)
from flowlog.broker.group_core import GroupManager, OffsetCommit, partition_for
from flowlog.protocol.errors import ErrorCode

PARTITIONS = 8


def test_nothing_led_means_not_coordinator() -> None:
    partitions = CoordinatorPartitions()
    assert partitions.update({}) == []
    assert partitions.error_for(0) is ErrorCode.NOT_COORDINATOR
    assert not partitions.loading


def test_becoming_leader_loads_and_refuses_with_load_in_progress_until_loaded() -> None:
    partitions = CoordinatorPartitions()
    assert partitions.update({3: 5, 1: 2}) == [Load(1, 2), Load(3, 5)]
    assert partitions.error_for(3) is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert partitions.loading
    assert partitions.finish_load(3, 5)
    assert partitions.error_for(3) is None
    assert partitions.error_for(1) is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert partitions.finish_load(1, 2)
    assert not partitions.loading
    # The same leadership reported again changes nothing; a load finishes once.
    assert partitions.update({3: 5, 1: 2}) == []
    assert not partitions.finish_load(3, 5)


def test_losing_leadership_unloads_and_refuses_with_not_coordinator() -> None:
    partitions = CoordinatorPartitions()
    partitions.update({0: 1, 1: 1})
    partitions.finish_load(0, 1)
    partitions.finish_load(1, 1)
    assert partitions.update({1: 1}) == [Unload(0)]
    assert partitions.error_for(0) is ErrorCode.NOT_COORDINATOR
    assert partitions.error_for(1) is None


def test_a_new_leader_epoch_unloads_then_loads_again() -> None:
    # Leading again at another epoch: the log may have been truncated in between.
    partitions = CoordinatorPartitions()
    partitions.update({0: 1})
    partitions.finish_load(0, 1)
    assert partitions.update({0: 4}) == [Unload(0), Load(0, 4)]
    assert partitions.error_for(0) is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS


def test_a_load_that_finishes_after_its_partition_moved_is_dropped() -> None:
    partitions = CoordinatorPartitions()
    partitions.update({0: 1})
    partitions.update({})  # lost while loading
    assert not partitions.finish_load(0, 1)
    assert partitions.error_for(0) is ErrorCode.NOT_COORDINATOR
    partitions.update({0: 3})  # back, at a newer epoch: only that load counts
    assert not partitions.finish_load(0, 1)
    assert partitions.finish_load(0, 3)
    assert partitions.error_for(0) is None


def test_a_failed_append_reloads_only_a_partition_still_led() -> None:
    partitions = CoordinatorPartitions()
    partitions.update({2: 7})
    partitions.finish_load(2, 7)
    assert partitions.reload(2) == [Unload(2), Load(2, 7)]
    assert partitions.error_for(2) is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert partitions.finish_load(2, 7)
    assert partitions.reload(5) == []


def test_write_errors_map_to_retriable_coordinator_errors() -> None:
    assert write_error(ErrorCode.NONE) is ErrorCode.NONE
    assert write_error(ErrorCode.NOT_LEADER_OR_FOLLOWER) is ErrorCode.NOT_COORDINATOR
    assert write_error(ErrorCode.KAFKA_STORAGE_ERROR) is ErrorCode.NOT_COORDINATOR
    assert write_error(ErrorCode.REQUEST_TIMED_OUT) is ErrorCode.COORDINATOR_NOT_AVAILABLE
    assert (write_error(ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
            is ErrorCode.COORDINATOR_NOT_AVAILABLE)


def _group_in_other_partition(group_id: str) -> str:
    home = partition_for(group_id, PARTITIONS)
    return next(f"other-{n}" for n in range(1000)
                if partition_for(f"other-{n}", PARTITIONS) != home)


def test_unloading_a_partition_answers_its_parked_joins_and_keeps_other_groups() -> None:
    harness = Harness()
    other = _group_in_other_partition(GROUP)
    first = harness.join(join_request(harness.join_new()))
    assert harness.joins[first].error_code == ErrorCode.NONE  # alone: generation 1 at once
    parked = harness.join(join_request(harness.join_new()))
    assert parked not in harness.joins  # waits for the first member to join again
    harness.absorb(harness.manager.commit_offsets(
        other, "", -1, None, [OffsetCommit("t", 0, 42)], harness.now_ms)[1])
    home = partition_for(GROUP, PARTITIONS)

    harness.absorb(harness.manager.unload(lambda g: partition_for(g, PARTITIONS) == home))

    assert harness.joins[parked].error_code == ErrorCode.NOT_COORDINATOR
    assert GROUP not in harness.manager.groups
    assert other in harness.manager.groups
    assert harness.manager.fetch_offsets(other, None)[0].offset == 42


def test_adopting_a_loaded_partition_brings_its_groups_and_offsets() -> None:
    harness = Harness()
    harness.absorb(harness.manager.commit_offsets(
        GROUP, "", -1, None, [OffsetCommit("t", 1, 7)], harness.now_ms)[1])
    loaded = GroupManager(harness.config, harness.new_member_id, harness.now_ms)
    for key, value in harness.log.items():
        loaded.replay(key, value, harness.now_ms)
    serving = GroupManager(harness.config, harness.new_member_id, harness.now_ms)
    serving.adopt(loaded)
    assert serving.fetch_offsets(GROUP, None)[0].offset == 7
    assert GROUP in serving.groups
