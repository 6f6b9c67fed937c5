"""PartitionFollower: KIP-279 truncation, the fetch loop as actions, stale answers."""

from __future__ import annotations

import itertools

import pytest

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.follower_core import (
    Action,
    AdvanceLogStart,
    Append,
    FollowerConfig,
    FollowerProtocolError,
    PartitionFollower,
    SetHighWatermark,
    Truncate,
    TruncateFullyAndStartAt,
)
from flowlog.replication.leader_epoch_cache import EpochEndOffset
from flowlog.replication.messages import EpochAnswer, EpochRequest, FetchAnswer, FetchRequest
from tests.sim.replication.log import SimLog, client_batch

TIMEOUT_MS = 1_000


def _log(epochs: list[int]) -> SimLog:
    log = SimLog()
    for epoch in epochs:
        log.append_as_leader(client_batch(b"v", 0), epoch)
    return log


def _follower(log: SimLog, *, epoch: int = 5, high_watermark: int = 0,
              epoch_requests: bool = False) -> PartitionFollower:
    config = FollowerConfig(request_timeout_ms=TIMEOUT_MS, retry_backoff_ms=50,
                            truncate_with_epoch_request=epoch_requests)
    return PartitionFollower(2, 1, epoch, log, high_watermark=high_watermark, config=config,
                             next_request_id=itertools.count(1).__next__)


def _apply(log: SimLog, actions: list[Action]) -> None:
    for action in actions:
        if isinstance(action, Truncate):
            log.truncate_to(action.offset)
        elif isinstance(action, Append):
            log.append_as_follower(action.records)


def _leader_records(epochs: list[int], start: int) -> bytes:
    """The leader's batches from `start` on, for a leader whose log has these epochs."""
    return _log(epochs).read(start, 1 << 30, 1 << 30)


@pytest.mark.parametrize(("ours", "leader_answer", "expected"), [
    # Same epoch, the leader's ended earlier: cut to the leader's end.
    ([1, 1, 1, 1], EpochEndOffset(1, 2), (2, True)),
    # Same epoch, ours ended earlier (we then took a later epoch the leader lacks).
    ([1, 1, 3, 3], EpochEndOffset(1, 3), (2, True)),
    # The leader answers an epoch we never had (KIP-279): cut to the end of our largest
    # smaller epoch and ask again.
    ([1, 1, 3, 3], EpochEndOffset(2, 3), (2, False)),
    # Nothing to cut: the leader's end is past ours.
    ([1, 1], EpochEndOffset(1, 5), (2, True)),
    # The leader knows nothing: keep what is committed (the high watermark, 1).
    ([1, 1, 1], EpochEndOffset(-1, -1), (1, True)),
    # An epoch older than all of ours: ours "ended" where our first began, so nothing
    # of ours matches (the leader holds epoch 2 at 0, we hold epoch 4 there).
    ([4, 4, 4], EpochEndOffset(2, 1), (0, True)),
])
def test_truncation_offset_follows_kip_279(ours: list[int], leader_answer: EpochEndOffset,
                                           expected: tuple[int, bool]) -> None:
    follower = _follower(_log(ours), high_watermark=1)
    assert follower.truncation_offset(leader_answer) == expected


def test_fetch_loop_appends_and_follows_the_high_watermark() -> None:
    log = SimLog()
    follower = _follower(log)
    request = follower.poll(now_ms=0)
    assert request == FetchRequest(1, 2, 5, 0, -1)
    assert follower.poll(now_ms=1) is None  # one at a time
    records = _leader_records([5, 5, 5], 0)
    actions = follower.on_fetch_answer(FetchAnswer(1, ErrorCode.NONE, 2, 0, records=records), 2)
    assert actions == [Append(records, 0, 3), SetHighWatermark(2)]
    _apply(log, actions)
    request = follower.poll(now_ms=3)
    assert isinstance(request, FetchRequest)
    assert (request.fetch_offset, request.last_fetched_epoch) == (3, 5)
    # A leader that knows a lower high watermark (new, lagging) does not move ours back.
    assert follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.NONE, 1), 4) == []
    assert follower.high_watermark == 2


def test_stale_duplicate_and_late_answers_are_ignored() -> None:
    log = SimLog()
    follower = _follower(log)
    first = follower.poll(now_ms=0)
    assert first is not None
    assert follower.on_fetch_answer(FetchAnswer(99, ErrorCode.NONE, 5), 1) == []
    assert follower.poll(now_ms=TIMEOUT_MS - 1) is None
    second = follower.poll(now_ms=TIMEOUT_MS)  # timed out: sent again, under a new id
    assert second is not None and second.request_id != first.request_id
    records = _leader_records([5], 0)
    assert follower.on_fetch_answer(FetchAnswer(first.request_id, ErrorCode.NONE, 1, 0, records=records),
                                    TIMEOUT_MS + 1) == []


def test_diverging_epoch_truncates_then_fetches_from_there() -> None:
    log = _log([1, 1, 3, 3])  # we led epoch 3 at 2-3; the leader never had it
    follower = _follower(log, epoch=5)
    request = follower.poll(now_ms=0)
    assert isinstance(request, FetchRequest) and request.last_fetched_epoch == 3
    answer = FetchAnswer(request.request_id, ErrorCode.NONE, 2, 0, diverging_epoch=EpochEndOffset(1, 2))
    actions = follower.on_fetch_answer(answer, 1)
    assert actions == [Truncate(2)]
    _apply(log, actions)
    request = follower.poll(now_ms=2)
    assert isinstance(request, FetchRequest)
    assert (request.fetch_offset, request.last_fetched_epoch) == (2, 1)


def test_offset_for_leader_epoch_first_then_fetch() -> None:
    log = _log([1, 1, 3, 3])
    follower = _follower(log, epoch=5, epoch_requests=True)
    request = follower.poll(now_ms=0)
    assert request == EpochRequest(1, 2, 5, 3)
    # The leader has epoch 2 where we have 3 (KIP-279): cut to our epoch 1's end, ask again.
    actions = follower.on_epoch_answer(EpochAnswer(1, ErrorCode.NONE, EpochEndOffset(2, 3)), 1)
    assert actions == [Truncate(2)]
    _apply(log, actions)
    request = follower.poll(now_ms=2)
    assert request == EpochRequest(2, 2, 5, 1)
    actions = follower.on_epoch_answer(EpochAnswer(2, ErrorCode.NONE, EpochEndOffset(1, 2)), 3)
    assert actions == [Truncate(2)]
    _apply(log, actions)
    assert isinstance(follower.poll(now_ms=4), FetchRequest)


def test_errors_back_off_and_truncation_below_the_high_watermark_lowers_it() -> None:
    log = _log([1, 1, 1])
    follower = _follower(log, high_watermark=3)
    request = follower.poll(now_ms=0)
    assert request is not None
    assert follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.UNKNOWN_LEADER_EPOCH), 10) == []
    assert follower.poll(now_ms=59) is None
    request = follower.poll(now_ms=60)
    assert request is not None
    # Only an unclean election can do this; the core follows and says so.
    answer = FetchAnswer(request.request_id, ErrorCode.NONE, 1, 0, diverging_epoch=EpochEndOffset(1, 1))
    assert follower.on_fetch_answer(answer, 61) == [Truncate(1), SetHighWatermark(1)]


def test_out_of_range_below_the_leaders_start() -> None:
    log = SimLog()
    follower = _follower(log)
    request = follower.poll(now_ms=0)
    assert request is not None
    actions = follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.OFFSET_OUT_OF_RANGE,
                                                   40, 30), 1)
    assert actions == [TruncateFullyAndStartAt(30), SetHighWatermark(30)]


def test_records_below_our_log_end_are_refused() -> None:
    log = _log([5, 5])
    follower = _follower(log)
    request = follower.poll(now_ms=0)
    assert request is not None
    with pytest.raises(FollowerProtocolError):
        follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.NONE, 0, 0,
                                             records=_leader_records([5, 5, 5], 0)), 1)


def test_the_leaders_log_start_is_followed_up_to_the_high_watermark() -> None:
    log = _log([1, 1, 1, 1])
    follower = _follower(log, epoch=1, high_watermark=2)
    request = follower.poll(now_ms=0)
    assert request is not None
    # The leader deleted up to 3 (DeleteRecords, retention), but only 2 is committed here.
    actions = follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.NONE, 2, 3), 1)
    assert actions == [AdvanceLogStart(2)]
    request = follower.poll(now_ms=2)
    assert request is not None
    actions = follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.NONE, 4, 3), 3)
    assert actions == [SetHighWatermark(4), AdvanceLogStart(3)]
