"""PartitionLeader: high watermark, ISR shrink/expand through the controller,
acks=all and min.insync.replicas, fetch validation and diverging epochs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.leader_core import (
    CONSUMER_REPLICA_ID,
    LeaderConfig,
    PartitionLeader,
)
from flowlog.replication.leader_epoch_cache import EpochEndOffset
from flowlog.replication.messages import AlterPartitionRequest, PartitionState
from tests.sim.replication.log import SimLog, client_batch

LAG_MAX_MS = 100


def _log(count: int, epoch: int = 0) -> SimLog:
    log = SimLog()
    for _ in range(count):
        log.append_as_leader(client_batch(b"v", 0), epoch)
    return log


def _leader(log: SimLog, *, isr: tuple[int, ...] = (1, 2, 3), epoch: int = 0,
            high_watermark: int = 0, min_isr: int = 2, now_ms: int = 0) -> PartitionLeader:
    state = PartitionState((1, 2, 3), frozenset(isr), 1, epoch, 0)
    log.assign_epoch(epoch)
    return PartitionLeader(
        1, state, log, local_end_offset=log.log_end_offset, high_watermark=high_watermark,
        epoch_start_offset=log.log_end_offset, now_ms=now_ms,
        config=LeaderConfig(replica_lag_time_max_ms=LAG_MAX_MS, min_insync_replicas=min_isr))


def _append(leader: PartitionLeader, log: SimLog, count: int = 1) -> bool:
    for _ in range(count):
        log.append_as_leader(client_batch(b"v", 0), leader.leader_epoch)
    return leader.on_local_end_offset(log.log_end_offset)


def test_high_watermark_is_the_minimum_log_end_of_the_isr() -> None:
    log = _log(0)
    leader = _leader(log)
    assert not _append(leader, log, 5)
    assert leader.on_follower_fetch(2, 3, now_ms=1).high_watermark_moved is False  # 3 unknown
    assert leader.on_follower_fetch(3, 2, now_ms=1).high_watermark_moved
    assert leader.high_watermark == 2
    leader.on_follower_fetch(3, 5, now_ms=2)
    assert leader.high_watermark == 3
    # A follower that truncated fetches from lower down: the high watermark stays.
    leader.on_follower_fetch(2, 1, now_ms=3)
    assert leader.high_watermark == 3


def test_a_new_leader_waits_for_every_isr_member_before_advancing() -> None:
    log = _log(4)
    leader = _leader(log, high_watermark=2)
    assert leader.high_watermark == 2
    leader.on_follower_fetch(2, 4, now_ms=1)
    assert leader.high_watermark == 2  # 3 has not fetched in this epoch yet
    leader.on_follower_fetch(3, 4, now_ms=1)
    assert leader.high_watermark == 4


def test_isr_shrinks_only_once_the_controller_commits_it() -> None:
    log = _log(0)
    leader = _leader(log)
    _append(leader, log, 3)
    leader.on_follower_fetch(2, 3, now_ms=10)
    assert leader.tick(now_ms=LAG_MAX_MS) is None  # within the lag: nobody leaves
    request = leader.tick(now_ms=LAG_MAX_MS + 1)
    assert request == AlterPartitionRequest(1, 0, 0, frozenset({1, 2}))
    # Pending: 3 still counts, so the high watermark cannot pass what 3 has (nothing).
    assert leader.high_watermark == 0 and leader.maximal_isr == {1, 2, 3}
    assert leader.tick(now_ms=LAG_MAX_MS + 2) is None  # one change at a time
    moved = leader.on_partition_state(PartitionState((1, 2, 3), frozenset({1, 2}), 1, 0, 1))
    assert moved and leader.high_watermark == 3 and leader.isr == {1, 2}


def test_a_follower_at_the_leader_end_stays_in_sync_however_long_it_is_quiet() -> None:
    log = _log(0)
    leader = _leader(log)
    _append(leader, log, 2)
    leader.on_follower_fetch(2, 2, now_ms=1)
    leader.on_follower_fetch(3, 2, now_ms=1)
    assert leader.out_of_sync_replicas(now_ms=10 * LAG_MAX_MS) == frozenset()


def test_lost_alter_partition_is_resent_and_an_error_clears_it() -> None:
    log = _log(0)
    leader = _leader(log, isr=(1, 2, 3))
    request = leader.tick(now_ms=LAG_MAX_MS + 1)
    assert request is not None
    retry_ms = leader.config.alter_partition_retry_ms
    assert leader.tick(now_ms=LAG_MAX_MS + retry_ms) is None
    assert leader.tick(now_ms=LAG_MAX_MS + 1 + retry_ms) == request
    leader.on_alter_partition_error(request, ErrorCode.INVALID_UPDATE_VERSION)
    assert leader.pending is None


def test_isr_expansion_needs_the_high_watermark_and_this_epochs_start() -> None:
    log = _log(4, epoch=0)
    leader = _leader(log, isr=(1, 2), epoch=1, high_watermark=2)  # epoch 1 starts at 4
    leader.on_follower_fetch(2, 4, now_ms=1)
    assert leader.high_watermark == 4
    _append(leader, log, 2)
    outcome = leader.on_follower_fetch(3, 4, now_ms=2)  # at the high watermark and epoch start
    assert outcome.alter_partition == AlterPartitionRequest(1, 1, 0, frozenset({1, 2, 3}))
    # Pending addition: 3 counts for the high watermark at once (it is in the maximal ISR).
    leader.on_follower_fetch(2, 6, now_ms=3)
    assert leader.high_watermark == 4
    leader.on_follower_fetch(3, 6, now_ms=3)
    assert leader.high_watermark == 6


def test_no_expansion_below_the_epoch_start() -> None:
    log = _log(6, epoch=0)
    leader = _leader(log, isr=(1, 2), epoch=1, high_watermark=3)  # epoch 1 starts at 6
    outcome = leader.on_follower_fetch(3, 4, now_ms=1)  # above the high watermark only
    assert outcome.alter_partition is None


def test_min_insync_replicas() -> None:
    log = _log(0)
    leader = _leader(log, isr=(1,), min_isr=2)
    assert leader.check_append(acks=-1) is ErrorCode.NOT_ENOUGH_REPLICAS
    assert leader.check_append(acks=1) is ErrorCode.NONE
    log = _log(0)
    leader = _leader(log, isr=(1, 2), min_isr=2)
    _append(leader, log, 2)
    assert leader.produce_result(2) is None
    leader.on_follower_fetch(2, 2, now_ms=1)
    assert leader.produce_result(2) is ErrorCode.NONE
    # The ISR shrank to the leader alone while a produce waited: committed, but below min.
    _append(leader, log, 1)
    leader.on_partition_state(PartitionState((1, 2, 3), frozenset({1}), 1, 0, 1))
    assert leader.high_watermark == 3
    assert leader.produce_result(3) is ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND


def test_fetch_epoch_fencing_and_ranges() -> None:
    log = _log(3)
    leader = _leader(log, epoch=4, high_watermark=1)
    assert leader.check_fetch(2, 3, 0).error is ErrorCode.FENCED_LEADER_EPOCH
    assert leader.check_fetch(2, 5, 0).error is ErrorCode.UNKNOWN_LEADER_EPOCH
    assert leader.check_fetch(2, -1, 0).may_read  # -1 skips the epoch check
    assert leader.check_fetch(9, 4, 0).error is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert leader.check_fetch(2, 4, 4).error is ErrorCode.OFFSET_OUT_OF_RANGE
    assert leader.check_fetch(2, 4, 3).read_end_offset == 3  # a follower reads to the log end
    consumer = leader.check_fetch(CONSUMER_REPLICA_ID, 4, 2)
    assert consumer.may_read and consumer.read_end_offset == 1  # a consumer to the HW


def test_diverging_epoch_for_a_truncated_position() -> None:
    log = _log(0)
    for epoch in (0, 0, 2, 2):  # epoch 0 at 0-1, epoch 2 at 2-3
        log.append_as_leader(client_batch(b"v", 0), epoch)
    leader = _leader(log, epoch=5, high_watermark=4)
    # A follower that wrote epoch 1 (a leader we never saw) up to 3.
    check = leader.check_fetch(2, 5, 3, last_fetched_epoch=1)
    assert check.diverging_epoch == EpochEndOffset(0, 2) and not check.may_read
    # Epoch 0 past where ours ended.
    assert leader.check_fetch(2, 5, 3, last_fetched_epoch=0).diverging_epoch == EpochEndOffset(0, 2)
    # Consistent: epoch 2 up to 4 (our log end).
    assert leader.check_fetch(2, 5, 4, last_fetched_epoch=2).may_read
    # A consumer too (KIP-320).
    assert leader.check_fetch(CONSUMER_REPLICA_ID, 5, 3, 1).diverging_epoch == EpochEndOffset(0, 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "fetch", "tick", "commit"]),
                          st.integers(2, 3), st.integers(0, 100)), max_size=60))
def test_high_watermark_is_monotonic_and_held_by_the_maximal_isr(
        steps: list[tuple[str, int, int]]) -> None:
    log = _log(0)
    leader = _leader(log)
    held = {2: -1, 3: -1}  # each follower's last fetch offset: what it holds
    now_ms = 0
    controller_isr = leader.isr
    for kind, replica, number in steps:
        now_ms += number % 40
        before = leader.high_watermark
        if kind == "append":
            _append(leader, log, 1 + number % 3)
        elif kind == "fetch":
            offset = number % (log.log_end_offset + 1)
            held[replica] = offset
            outcome = leader.on_follower_fetch(replica, offset, now_ms)
            if outcome.alter_partition is not None and number % 2:
                controller_isr = outcome.alter_partition.new_isr
        elif kind == "tick":
            request = leader.tick(now_ms)
            if request is not None and number % 2:
                controller_isr = request.new_isr
        elif leader.pending is not None or controller_isr != leader.isr:
            leader.on_partition_state(PartitionState(
                (1, 2, 3), controller_isr, 1, 0, leader.partition_epoch + 1))
        assert leader.high_watermark >= before
        assert leader.high_watermark <= leader.local_end_offset
        # The controller's ISR never holds a replica the leader does not count.
        assert controller_isr <= leader.maximal_isr
        if leader.high_watermark > before:
            for member in leader.maximal_isr - {1}:
                assert held[member] >= leader.high_watermark
