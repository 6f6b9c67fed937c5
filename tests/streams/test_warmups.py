"""Warm-up tasks (Kafka Streams' KIP-441): state moves before ownership does."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.client.assignors import MemberAssignment, MemberSubscription
from flowlog.client.errors import KafkaError
from flowlog.client.types import TopicPartition as TP
from flowlog_streams.assignor import (
    LAG_RUNNING_ACTIVE,
    AssignmentInfo,
    ClientState,
    StreamsAssignor,
    assign_tasks,
    decode_assignment_info,
    decode_subscription_info,
    encode_assignment_info,
)
from flowlog_streams.task_assignment import needs_probing_rebalance
from flowlog_streams.task_id import TaskId as T

FOUR = [T(0, p) for p in range(4)]


def running(process_id: str, tasks: list[T]) -> ClientState:
    return ClientState(process_id=process_id, previous_active=set(tasks),
                       task_lags={t: LAG_RUNNING_ACTIVE for t in tasks})


def test_a_new_instance_warms_up_before_it_takes_tasks() -> None:
    clients = {"a": running("a", FOUR), "b": ClientState(process_id="b")}
    plan = assign_tasks(clients, FOUR, stateful_tasks=FOUR, max_warmup_replicas=4)
    # Balance would give b two tasks, but b has no state: a keeps all four, b warms two up.
    assert plan["a"].active == tuple(FOUR) and plan["b"].active == ()
    assert len(plan["b"].warmup) == 2 and not set(plan["b"].warmup) & set(plan["b"].standby)
    assert needs_probing_rebalance(plan)


def test_stateless_tasks_move_at_once() -> None:
    clients = {"a": running("a", FOUR), "b": ClientState(process_id="b")}
    plan = assign_tasks(clients, FOUR)  # no stateful tasks
    assert len(plan["b"].active) == 2 and plan["b"].warmup == ()
    assert not needs_probing_rebalance(plan)


def test_a_caught_up_warmup_takes_its_task_over() -> None:
    warm = {T(0, 2): 40, T(0, 3): 9_000}
    clients = {
        "a": running("a", FOUR),
        "b": ClientState(process_id="b", previous_standby=set(warm), task_lags=warm),
    }
    plan = assign_tasks(clients, FOUR, stateful_tasks=FOUR, acceptable_recovery_lag=10_000)
    assert plan["b"].active == (T(0, 2), T(0, 3)) and plan["b"].warmup == ()
    assert not needs_probing_rebalance(plan)
    # With a tighter acceptable lag, T(0, 3) is not caught up yet: it stays and keeps warming.
    plan = assign_tasks(clients, FOUR, stateful_tasks=FOUR, acceptable_recovery_lag=100)
    assert plan["b"].active == (T(0, 2),) and plan["b"].warmup == (T(0, 3),)
    assert T(0, 3) in plan["a"].active


def test_warmups_are_capped_and_the_rest_wait() -> None:
    tasks = [T(0, p) for p in range(8)]
    clients = {"a": running("a", tasks), "b": ClientState(process_id="b"),
               "c": ClientState(process_id="c")}
    plan = assign_tasks(clients, tasks, stateful_tasks=tasks, max_warmup_replicas=2)
    assert plan["a"].active == tuple(tasks)  # nothing moves to an instance without state
    assert sum(len(p.warmup) for p in plan.values()) == 2


def test_a_task_nobody_has_caught_up_goes_to_its_intended_owner() -> None:
    clients = {"a": ClientState(process_id="a"), "b": ClientState(process_id="b")}
    plan = assign_tasks(clients, FOUR, stateful_tasks=FOUR)
    assert [len(plan[c].active) for c in "ab"] == [2, 2]
    assert not needs_probing_rebalance(plan)


def test_a_standby_counts_as_the_warm_copy() -> None:
    clients = {"a": running("a", FOUR), "b": ClientState(process_id="b")}
    plan = assign_tasks(clients, FOUR, stateful_tasks=FOUR, num_standby_replicas=1,
                        max_warmup_replicas=4)
    assert set(plan["b"].standby) == set(FOUR)
    assert plan["b"].warmup == ()  # its standbys already restore every task
    assert plan["a"].active == tuple(FOUR)
    assert needs_probing_rebalance(plan) is False


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="max_warmup_replicas"):
        assign_tasks({}, FOUR, max_warmup_replicas=0)
    with pytest.raises(ValueError, match="acceptable_recovery_lag"):
        assign_tasks({}, FOUR, acceptable_recovery_lag=-1)


@settings(max_examples=150, deadline=None)
@given(
    owners=st.lists(st.sampled_from("abc"), min_size=6, max_size=6),
    lags=st.dictionaries(st.tuples(st.sampled_from("abc"), st.integers(0, 5)),
                         st.integers(0, 50_000), max_size=12),
)
def test_property_no_task_moves_to_a_lagging_instance_while_another_is_caught_up(
    owners: list[str], lags: dict[tuple[str, int], int]
) -> None:
    tasks = [T(0, p) for p in range(6)]
    clients = {
        c: ClientState(
            process_id=c,
            previous_active={t for t, o in zip(tasks, owners, strict=True) if o == c},
            task_lags={T(0, p): lag for (cc, p), lag in lags.items() if cc == c},
        )
        for c in "abc"
    }
    plan = assign_tasks(clients, tasks, stateful_tasks=tasks, acceptable_recovery_lag=10_000)
    owner = {t: c for c, a in plan.items() for t in a.active}
    assert sorted(owner) == tasks

    def rank(c: str, t: T) -> int:
        if t in clients[c].task_lags:
            return clients[c].task_lags[t]
        return LAG_RUNNING_ACTIVE if t in clients[c].previous_active else 10**18

    for task, client in owner.items():
        caught_up = [c for c in "abc" if rank(c, task) <= 10_000]
        assert not caught_up or client in caught_up
    warmups = [t for a in plan.values() for t in a.warmup]
    assert len(warmups) <= 2
    for assignment in plan.values():
        assert not set(assignment.warmup) & set(assignment.active)


# ---------------------------------------------------------------- through the assignor

SOURCES = {0: ("orders",)}
COUNTS = {"orders": 4}


def member(assignor: StreamsAssignor, member_id: str) -> MemberSubscription:
    return MemberSubscription(member_id, ("orders",), (), 1,
                              user_data=assignor.subscription_user_data(("orders",), ()))


def test_the_plan_carries_warmups_and_a_probing_time() -> None:
    changelog_ends = dict.fromkeys(FOUR, 50_000)

    async def end_sums(tasks: list[T]) -> dict[T, int]:
        return {t: changelog_ends[t] for t in tasks}

    def make(process_id: str) -> StreamsAssignor:
        assignor = StreamsAssignor(SOURCES, process_id=process_id, stateful_subtopologies=[0],
                                   probing_rebalance_interval_ms=5_000, wall_clock_ms=lambda: 1_000)
        assignor.changelog_end_sums = end_sums
        return assignor

    async def rebalance(leader: StreamsAssignor, *others: tuple[str, StreamsAssignor]) -> dict:
        members = {}
        for member_id, assignor in (("ma", leader), *others):
            assignor.on_join()
            members[member_id] = member(assignor, member_id)
        await leader.before_assign(members, COUNTS)
        return leader.assign(members, COUNTS)

    a, b = make("a"), make("b")
    a.set_owned(FOUR, [])
    a.offset_sum_source = lambda: dict.fromkeys(FOUR, LAG_RUNNING_ACTIVE)
    plan = trio.run(rebalance, a, ("mb", b))
    # b has no copy: its lag is the whole changelog (50,000 > 10,000), so a keeps every task.
    assert set(plan["ma"].partitions) == {TP("orders", p) for p in range(4)}
    assert plan["mb"].partitions == ()
    b.on_assignment(plan["mb"], 2)
    assert len(b.warmup_tasks) == 2 and b.standby_tasks == b.warmup_tasks
    assert b.probing_rebalance_at_ms == 6_000
    # The warm-ups caught up (positions 45,000 of 50,000): the probing rebalance moves them
    # off a (withheld from b while a still claims them), and the rebalance a's revocation
    # triggers hands them to b.
    warmed = b.warmup_tasks
    b.set_owned([], warmed)
    b.offset_sum_source = lambda: dict.fromkeys(warmed, 45_000)
    plan = trio.run(rebalance, a, ("mb", b))
    a.on_assignment(plan["ma"], 3)
    assert set(a.active_tasks) == set(FOUR) - set(warmed) and plan["mb"].partitions == ()
    a.set_owned(a.active_tasks, [])
    a.offset_sum_source = lambda: dict.fromkeys(a.active_tasks, LAG_RUNNING_ACTIVE)
    plan = trio.run(rebalance, a, ("mb", b))
    b.on_assignment(plan["mb"], 4)
    assert b.active_tasks == warmed and b.warmup_tasks == () and b.probing_rebalance_at_ms == 0


def test_small_changelogs_move_at_once_and_failures_hold_nothing_back() -> None:
    async def small(tasks: list[T]) -> dict[T, int]:
        return dict.fromkeys(tasks, 500)  # within acceptable_recovery_lag: restoring is cheap

    async def failing(tasks: list[T]) -> dict[T, int]:
        raise KafkaError("broker away")

    for source in (small, failing):
        a = StreamsAssignor(SOURCES, process_id="a", stateful_subtopologies=[0])
        b = StreamsAssignor(SOURCES, process_id="b", stateful_subtopologies=[0])
        a.changelog_end_sums = source
        a.set_owned(FOUR, [])
        members = {"ma": member(a, "ma"), "mb": member(b, "mb")}
        trio.run(a.before_assign, members, COUNTS)
        plan = a.assign(members, COUNTS)
        b.on_assignment(plan["mb"], 1)
        assert b.warmup_tasks == () and b.probing_rebalance_at_ms == 0
        # a gives two tasks up at once (b receives them once a has let go: withheld now).
        assert len(plan["ma"].partitions) == 2 and plan["mb"].partitions == ()


def test_offset_sums_are_frozen_at_the_join() -> None:
    a = StreamsAssignor(SOURCES, process_id="a", stateful_subtopologies=[0])
    sums = {T(0, 1): 7}
    a.offset_sum_source = lambda: dict(sums)
    a.on_join()
    first = a.subscription_user_data(("orders",), ())
    sums[T(0, 1)] = 9  # a standby moved on after the join: the user data must not change
    assert a.subscription_user_data(("orders",), ()) == first
    a.on_join()
    assert decode_subscription_info(a.subscription_user_data(("orders",), ())).task_offset_sums == {
        T(0, 1): 9
    }


def test_assignment_info_round_trips_warmups_and_reads_old_plans() -> None:
    info = AssignmentInfo(active=(T(0, 1),), warmup=(T(0, 2),), probing_rebalance_at_ms=42)
    assert decode_assignment_info(encode_assignment_info(info)) == info
    old = b'{"v": 1, "act": ["0_1"], "stb": [], "hosts": {}, "err": 0}'
    assert decode_assignment_info(old) == AssignmentInfo(active=(T(0, 1),))
    assert MemberAssignment(()).user_data is None
