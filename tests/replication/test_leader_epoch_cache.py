"""Leader epochs for replication: OffsetForLeaderEpoch answers checked against an
oracle over the batches, and the cache kept in step with a real PartitionLog on disk
(truncation, the checkpoint file, reopening)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.replication.leader_epoch_cache import (
    UNDEFINED_EPOCH,
    EpochEndOffset,
    LeaderEpochCache,
    cache_from_batches,
    end_offset_for,
    epoch_at,
)
from flowlog.storage import checkpoint
from flowlog.storage.log import PartitionLog
from tests.sim.replication.log import SimLog, client_batch
from tests.storage.storage_helpers import make_batch, small_config


def _log_with(epochs: list[int]) -> SimLog:
    """One single-record batch per entry, at offsets 0, 1, ..., with these epochs."""
    log = SimLog()
    for epoch in epochs:
        log.append_as_leader(client_batch(b"x", 0), epoch)
    return log


def test_end_offset_answers_as_kafka() -> None:
    log = _log_with([1, 1, 3, 3, 3, 6])  # epoch 1 at 0, 3 at 2, 6 at 5; end 6
    assert end_offset_for(log, 1) == EpochEndOffset(1, 2)
    assert end_offset_for(log, 2) == EpochEndOffset(1, 2)  # unknown: the largest below it
    assert end_offset_for(log, 3) == EpochEndOffset(3, 5)
    assert end_offset_for(log, 5) == EpochEndOffset(3, 5)
    assert end_offset_for(log, 6) == EpochEndOffset(6, 6)  # the latest ends at the log end
    assert end_offset_for(log, 0) == EpochEndOffset(0, 0)  # older than all: where the first begins
    assert end_offset_for(log, 7).undefined  # above the latest
    assert end_offset_for(log, UNDEFINED_EPOCH).undefined
    assert end_offset_for(SimLog(), 3).undefined


def test_epoch_at_and_rebuild_from_batches() -> None:
    cache = cache_from_batches([(0, 1), (1, 1), (2, 3), (5, 6)])
    assert cache.entries == [(1, 0), (3, 2), (6, 5)]
    assert [epoch_at(cache, offset) for offset in range(7)] == [1, 1, 3, 3, 3, 6, 6]
    assert epoch_at(LeaderEpochCache(), 4) == UNDEFINED_EPOCH


# A log history: appends (epochs only rise, as a leader's and a follower's do) and
# truncations to some offset.
_step = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 3), st.integers(1, 3)),  # epoch bump, count
    st.tuples(st.just("truncate"), st.integers(0, 30), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=40))
def test_cache_matches_an_oracle_through_appends_and_truncations(steps: list[tuple[str, int, int]]) -> None:
    log = SimLog()
    epochs_by_offset: list[int] = []  # the oracle: the epoch of every offset
    epoch = 0
    for kind, first, second in steps:
        if kind == "append":
            epoch += first
            for _ in range(second):
                log.append_as_leader(client_batch(b"v", 0), epoch)
                epochs_by_offset.append(epoch)
        else:
            log.truncate_to(first)
            del epochs_by_offset[first:]
        assert log.log_end_offset == len(epochs_by_offset)
        for offset, expected in enumerate(epochs_by_offset):
            assert epoch_at(log.epoch_cache, offset) == expected
        for asked in range(-1, epoch + 2):
            assert end_offset_for(log, asked) == _oracle_end_offset(epochs_by_offset, asked)


def _oracle_end_offset(epochs_by_offset: list[int], asked: int) -> EpochEndOffset:
    """Kafka's OffsetForLeaderEpoch, computed from the offsets themselves."""
    if asked < 0 or not epochs_by_offset:
        return EpochEndOffset(-1, -1)
    latest = epochs_by_offset[-1]
    if asked == latest:
        return EpochEndOffset(asked, len(epochs_by_offset))
    if asked > latest:
        return EpochEndOffset(-1, -1)
    higher_start = next(o for o, e in enumerate(epochs_by_offset) if e > asked)
    lower = [e for e in epochs_by_offset if e <= asked]
    return EpochEndOffset(lower[-1] if lower else asked, higher_start)


# --- the cache inside a real PartitionLog ------------------------------------------------


def _checkpoint_rows(directory: Path) -> list[tuple[int, ...]] | None:
    return checkpoint.read_checkpoint(directory / checkpoint.LEADER_EPOCH_CHECKPOINT, columns=2)


def test_partition_log_persists_and_truncates_the_epoch_checkpoint(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path, small_config(), now_ms=0)
    for epoch in (0, 0, 2, 2, 5):
        log.append(make_batch(1), leader_epoch=epoch, now_ms=0)
    assert _checkpoint_rows(tmp_path) == [(0, 0), (2, 2), (5, 4)]
    assert log.end_offset_for_epoch(2) == (2, 4)
    log.truncate_to(3)
    assert _checkpoint_rows(tmp_path) == [(0, 0), (2, 2)]
    log.close()
    reopened = PartitionLog.open(tmp_path, small_config(), now_ms=0)
    assert reopened.epoch_cache.entries == [(0, 0), (2, 2)]
    assert reopened.end_offset_for_epoch(2) == (2, 3)
    reopened.close()


def test_truncating_at_the_log_end_drops_an_epoch_with_no_batch(tmp_path: Path) -> None:
    """A leader assigns its epoch at its log end, then loses leadership before writing:
    as a follower its last epoch must go when it truncates to the log end, or it would
    send that epoch in every fetch and be told it diverges, forever (found by the
    replication simulation)."""
    log = PartitionLog.open(tmp_path, small_config(), now_ms=0)
    log.append(make_batch(2), leader_epoch=1, now_ms=0)
    log.assign_epoch(4, log.log_end_offset)
    assert log.latest_epoch == 4
    log.truncate_to(log.log_end_offset)
    assert log.epoch_cache.entries == [(1, 0)]
    assert _checkpoint_rows(tmp_path) == [(1, 0)]
    log.close()
