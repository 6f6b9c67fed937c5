"""Purgatory (keyed waiters with deadlines) and the delayed produce and fetch."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.delayed_core import DelayedFetch, DelayedProduce
from flowlog.replication.leader_core import LeaderConfig, PartitionLeader
from flowlog.replication.messages import PartitionState
from flowlog.replication.purgatory_core import Parked, Purgatory
from tests.sim.replication.log import SimLog, client_batch


@attrs.define(eq=False)
class Waiter:
    """Completes once `level[0]` reaches `needed`."""

    level: list[int]
    needed: int
    completions: int = 0

    def try_complete(self) -> bool:
        if self.level[0] >= self.needed:
            self.completions += 1
            return True
        return False


def test_complete_at_once_or_watch() -> None:
    level = [5]
    purgatory: Purgatory[str, Waiter] = Purgatory()
    assert purgatory.try_complete_else_watch(Waiter(level, 3), ["a"], 100) is Parked.COMPLETED
    waiter = Waiter(level, 7)
    assert purgatory.try_complete_else_watch(waiter, ["a", "b"], 100) is Parked.WATCHING
    assert purgatory.check_and_complete("a") == []
    level[0] = 7
    assert purgatory.check_and_complete("b") == [waiter]
    assert purgatory.check_and_complete("a") == []  # forgotten under every key
    assert len(purgatory) == 0 and waiter.completions == 1


def test_expire_remove_and_bound() -> None:
    level = [0]
    purgatory: Purgatory[str, Waiter] = Purgatory(operations_max=2)
    early, late = Waiter(level, 1), Waiter(level, 1)
    purgatory.try_complete_else_watch(early, ["a"], 50)
    purgatory.try_complete_else_watch(late, ["b"], 80)
    assert purgatory.try_complete_else_watch(Waiter(level, 1), ["a"], 10) is Parked.FULL
    assert purgatory.next_deadline_ms() == 50
    assert purgatory.expire(49) == []
    assert purgatory.expire(50) == [early]
    assert purgatory.next_deadline_ms() == 80
    assert purgatory.remove_key("b") == [late]
    assert purgatory.next_deadline_ms() is None and len(purgatory) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["park", "raise", "expire", "remove"]),
                          st.integers(0, 2), st.integers(0, 20)), max_size=50))
def test_every_operation_ends_exactly_once(steps: list[tuple[str, int, int]]) -> None:
    """Against a model: each parked waiter leaves by completion, expiry or removal, once,
    at the right moment."""
    levels = {key: [0] for key in range(3)}
    purgatory: Purgatory[int, Waiter] = Purgatory()
    parked: dict[int, tuple[Waiter, int, int]] = {}  # id -> (waiter, key, deadline)
    ended: set[int] = set()
    now_ms = 0
    for kind, key, number in steps:
        now_ms += 1
        if kind == "park":
            waiter = Waiter(levels[key], levels[key][0] + number % 4)
            if purgatory.try_complete_else_watch(waiter, [key], now_ms + number) is Parked.WATCHING:
                parked[id(waiter)] = (waiter, key, now_ms + number)
        elif kind == "raise":
            levels[key][0] += number % 3
            done = purgatory.check_and_complete(key)
            expected = [w for w, k, _ in parked.values()
                        if k == key and id(w) not in ended and levels[key][0] >= w.needed]
            assert sorted(map(id, done)) == sorted(map(id, expected))
            ended.update(map(id, done))
        elif kind == "expire":
            done = purgatory.expire(now_ms)
            expected = [w for w, _, d in parked.values() if id(w) not in ended and d <= now_ms]
            assert sorted(map(id, done)) == sorted(map(id, expected))
            ended.update(map(id, done))
        else:
            done = purgatory.remove_key(key)
            ended.update(map(id, done))
        assert len(purgatory) == len(parked) - len(ended)
    for waiter, _, _ in parked.values():
        assert waiter.completions <= 1


def _leader(isr: frozenset[int], epoch: int = 0) -> PartitionLeader:
    log = SimLog()
    log.append_as_leader(client_batch(b"v", 0), epoch)
    return PartitionLeader(1, PartitionState((1, 2, 3), isr, 1, epoch, 0), log,
                           local_end_offset=1, high_watermark=0, epoch_start_offset=0, now_ms=0,
                           config=LeaderConfig(min_insync_replicas=2))


def test_delayed_produce_completes_on_the_high_watermark_in_its_epoch() -> None:
    leader = _leader(frozenset({1, 2}))
    current: dict[str, PartitionLeader | None] = {"p": leader}
    produce: DelayedProduce[str] = DelayedProduce({"p": (0, 1)}, current.get)
    purgatory: Purgatory[str, DelayedProduce[str]] = Purgatory()
    assert purgatory.try_complete_else_watch(produce, ["p"], 100) is Parked.WATCHING
    leader.on_follower_fetch(2, 1, now_ms=1)
    assert purgatory.check_and_complete("p") == [produce]
    assert produce.results == {"p": ErrorCode.NONE}


def test_delayed_produce_fails_when_the_epoch_changes_or_times_out() -> None:
    current: dict[str, PartitionLeader | None] = {"p": _leader(frozenset({1, 2}))}
    produce: DelayedProduce[str] = DelayedProduce({"p": (0, 1), "q": (0, 1)}, current.get)
    assert not produce.try_complete()  # "q": no leader, answered; "p" waits
    assert produce.results == {"q": ErrorCode.NOT_LEADER_OR_FOLLOWER}
    current["p"] = _leader(frozenset({1, 2}), epoch=1)  # led again, but a later epoch
    assert produce.try_complete()
    assert produce.results["p"] is ErrorCode.NOT_LEADER_OR_FOLLOWER
    waiting: DelayedProduce[str] = DelayedProduce({"p": (1, 1)}, current.get)
    assert not waiting.try_complete()
    assert waiting.expire() == {"p": ErrorCode.REQUEST_TIMED_OUT}


def test_delayed_fetch_wakes_on_data_or_a_lost_partition() -> None:
    ends: dict[str, int | None] = {"p": 4, "q": 9}
    fetch: DelayedFetch[str] = DelayedFetch({"p": 4, "q": 9}, ends.get)
    assert not fetch.try_complete()
    ends["q"] = 10
    assert fetch.try_complete() and fetch.woken_by == "q"
    lost: DelayedFetch[str] = DelayedFetch({"p": 4}, lambda key: None)
    assert lost.try_complete()
