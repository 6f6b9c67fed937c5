"""The streams task assignor: the pure rules, its user data, and the cooperative handoff."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

import attrs
import orjson
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.client import Admin, Consumer, NewTopic, RebalanceListener
from flowlog.client.assignors import (
    COOPERATIVE,
    MemberAssignment,
    MemberSubscription,
    resolve_assignors,
)
from flowlog.client.config import ConsumerConfig, build_config
from flowlog.client.types import TopicPartition as TP
from flowlog_streams.assignor import (
    ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA,
    ERROR_NONE,
    ERROR_UNREADABLE_SUBSCRIPTION,
    LAG_RUNNING_ACTIVE,
    AssignmentInfo,
    ClientAssignment,
    ClientState,
    InvalidStreamsUserData,
    StreamsAssignor,
    SubscriptionInfo,
    assign_tasks,
    decode_assignment_info,
    decode_subscription_info,
    encode_assignment_info,
    encode_subscription_info,
)
from flowlog_streams.task_id import TaskId as T


def tasks(subtopologies: int, partitions: int) -> list[T]:
    return [T(s, p) for s in range(subtopologies) for p in range(partitions)]


def fresh(*ids: str) -> dict[str, ClientState]:
    return {c: ClientState(process_id=c) for c in ids}


def active_counts(result: Mapping[str, ClientAssignment]) -> list[int]:
    return sorted(len(a.active) for a in result.values())


# ---------------------------------------------------------------- active rules


def test_every_task_once_and_balanced() -> None:
    result = assign_tasks(fresh("a", "b", "c"), tasks(2, 5))
    assert sorted(t for a in result.values() for t in a.active) == tasks(2, 5)
    assert active_counts(result) == [3, 3, 4]
    assert all(a.standby == () and a.warmup == () for a in result.values())


def test_fresh_assignment_spreads_each_subtopology() -> None:
    result = assign_tasks(fresh("a", "b"), tasks(2, 4))
    for assignment in result.values():
        assert Counter(t.subtopology for t in assignment.active) == {0: 2, 1: 2}


def test_previous_owners_keep_their_tasks_when_balanced() -> None:
    clients = {
        "a": ClientState(process_id="a", previous_active={T(0, 0), T(0, 3), T(1, 1)}),
        "b": ClientState(process_id="b", previous_active={T(0, 1), T(1, 0), T(1, 2)}),
        "c": ClientState(process_id="c", previous_active={T(0, 2), T(1, 3)}),
    }
    result = assign_tasks(clients, tasks(2, 4))
    assert {c: set(a.active) for c, a in result.items()} == {
        c: set(state.previous_active) for c, state in clients.items()
    }


def test_new_client_takes_only_the_excess() -> None:
    clients = {
        "a": ClientState(process_id="a", previous_active=set(tasks(2, 3))),
        "b": ClientState(process_id="b"),
    }
    result = assign_tasks(clients, tasks(2, 3))
    assert set(result["a"].active) < set(tasks(2, 3)) and len(result["a"].active) == 3
    # What a keeps stays spread over both sub-topologies.
    assert {t.subtopology for t in result["a"].active} == {0, 1}


def test_a_leaving_client_s_tasks_spread_and_the_rest_stay() -> None:
    previous = {"a": {T(0, 0), T(0, 1)}, "b": {T(0, 2), T(0, 3)}, "c": {T(0, 4), T(0, 5)}}
    clients = {c: ClientState(process_id=c, previous_active=ts) for c, ts in previous.items()}
    del clients["c"]
    result = assign_tasks(clients, tasks(1, 6))
    for client in ("a", "b"):
        assert previous[client] <= set(result[client].active)
    assert active_counts(result) == [3, 3]


def test_the_extra_task_goes_to_the_client_that_keeps_it() -> None:
    # 5 tasks over 2 clients: the one with 3 previous tasks gets the slot for 3.
    clients = {
        "a": ClientState(process_id="a", previous_active={T(0, 0), T(0, 1)}),
        "z": ClientState(process_id="z", previous_active={T(0, 2), T(0, 3), T(0, 4)}),
    }
    result = assign_tasks(clients, tasks(1, 5))
    assert set(result["z"].active) == {T(0, 2), T(0, 3), T(0, 4)}


def test_conflicting_claims_and_unknown_tasks() -> None:
    clients = {
        "a": ClientState(process_id="a", previous_active={T(0, 0), T(9, 9)},
                         task_lags={T(0, 0): 100}),
        "b": ClientState(process_id="b", previous_active={T(0, 0)}),
    }
    result = assign_tasks(clients, tasks(1, 2))
    assert result["b"].active == (T(0, 0),)  # the more caught-up claim
    assert result["a"].active == (T(0, 1),)  # T(9, 9) is not a task any more


def test_an_unowned_task_goes_to_the_most_caught_up_client() -> None:
    clients = {
        "a": ClientState(process_id="a"),
        "b": ClientState(process_id="b", previous_standby={T(0, 0)}),
        "c": ClientState(process_id="c", task_lags={T(0, 1): 5}),
    }
    result = assign_tasks(clients, tasks(1, 2))
    assert result["b"].active == (T(0, 0),) and result["c"].active == (T(0, 1),)


def test_edges() -> None:
    assert assign_tasks({}, tasks(1, 3)) == {}
    assert assign_tasks(fresh("a"), []) == {"a": ClientAssignment()}
    assert assign_tasks(fresh("a"), [T(0, 1), T(0, 1)])["a"].active == (T(0, 1),)
    with pytest.raises(ValueError, match="num_standby_replicas"):
        assign_tasks(fresh("a"), [], num_standby_replicas=-1)
    assert LAG_RUNNING_ACTIVE == -2


# ---------------------------------------------------------------- standby rules


def test_standbys_on_other_clients_balanced() -> None:
    result = assign_tasks(fresh("a", "b", "c"), tasks(2, 3), num_standby_replicas=1)
    for client, assignment in result.items():
        assert not set(assignment.standby) & set(assignment.active), client
    standby_count = Counter(t for a in result.values() for t in a.standby)
    assert standby_count == {t: 1 for t in tasks(2, 3)}
    assert sorted(len(a.standby) for a in result.values()) == [2, 2, 2]


def test_standbys_prefer_clients_that_had_the_task() -> None:
    clients = {
        "a": ClientState(process_id="a", previous_active={T(0, 0)}),
        "b": ClientState(process_id="b", previous_active={T(0, 1)}),
        "c": ClientState(process_id="c", previous_standby={T(0, 0)}),
        "d": ClientState(process_id="d", previous_standby={T(0, 1)}),
    }
    result = assign_tasks(clients, tasks(1, 2), num_standby_replicas=1)
    assert result["c"].standby == (T(0, 0),) and result["d"].standby == (T(0, 1),)


def test_standbys_stay_off_the_active_owner_s_process_and_each_other_s() -> None:
    clients = {
        "a1": ClientState(process_id="A"), "a2": ClientState(process_id="A"),
        "b1": ClientState(process_id="B"), "b2": ClientState(process_id="B"),
    }
    result = assign_tasks(clients, tasks(1, 4), num_standby_replicas=3)
    process = {c: s.process_id for c, s in clients.items()}
    owner = {t: c for c, a in result.items() for t in a.active}
    for task in tasks(1, 4):
        holders = [c for c, a in result.items() if task in a.standby]
        # Two processes: one active copy, one standby, whatever the replica count asks.
        assert len(holders) == 1 and process[holders[0]] != process[owner[task]]


def test_more_replicas_than_clients() -> None:
    result = assign_tasks(fresh("a", "b"), tasks(1, 2), num_standby_replicas=5)
    assert all(len(a.standby) == 1 for a in result.values())


# ---------------------------------------------------------------- properties

client_ids = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=1, max_size=7,
                      unique=True)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, ClientState], list[T], int]:
    ids = draw(client_ids)
    shape = draw(st.lists(st.integers(0, 7), min_size=1, max_size=4))
    all_tasks = [T(s, p) for s, count in enumerate(shape) for p in range(count)]
    known = all_tasks + [T(9, p) for p in range(3)]  # tasks that no longer exist
    clients = {}
    for client in ids:
        clients[client] = ClientState(
            process_id=draw(st.sampled_from(["p1", "p2", client])),
            previous_active=draw(st.sets(st.sampled_from(known))) if known else set(),
            previous_standby=draw(st.sets(st.sampled_from(known))) if known else set(),
        )
    return clients, all_tasks, draw(st.integers(0, 3))


def kept_count(clients: Mapping[str, ClientState], result: Mapping[str, ClientAssignment]) -> int:
    return sum(len(set(result[c].active) & clients[c].previous_active) for c in clients)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_complete_unique_balanced(scenario) -> None:  # type: ignore[no-untyped-def]
    clients, all_tasks, replicas = scenario
    result = assign_tasks(clients, all_tasks, num_standby_replicas=replicas)
    actives = [t for a in result.values() for t in a.active]
    assert sorted(actives) == sorted(all_tasks)
    counts = active_counts(result)
    assert counts[-1] - counts[0] <= 1
    owner = {t: c for c, a in result.items() for t in a.active}
    processes = len({s.process_id for s in clients.values()})
    for task in all_tasks:
        holders = [c for c, a in result.items() if task in a.standby]
        copies = [clients[c].process_id for c in [owner[task], *holders]]
        assert len(set(copies)) == len(copies)  # never two copies in one process
        assert len(holders) == min(replicas, processes - 1)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_keeps_as_many_previous_tasks_as_balance_allows(scenario) -> None:  # type: ignore[no-untyped-def]
    clients, all_tasks, _ = scenario
    result = assign_tasks(clients, all_tasks)
    # The best possible: each previous owner keeps up to its share, and the `extra` clients
    # allowed one more task go to owners that had more than the share.
    claimed = {t for s in clients.values() for t in s.previous_active if t in all_tasks}
    owned_count = {c: 0 for c in clients}
    for task in claimed:  # a conflict goes to the first id (no lags here)
        owned_count[min(c for c in clients if task in clients[c].previous_active)] += 1
    floor, extra = divmod(len(all_tasks), len(clients))
    best = sum(min(n, floor) for n in owned_count.values())
    best += min(extra, sum(1 for n in owned_count.values() if n > floor))
    assert best <= kept_count(clients, result) <= len(claimed)


@settings(max_examples=200, deadline=None)
@given(ids=client_ids, shape=st.lists(st.integers(0, 7), min_size=1, max_size=4), data=st.data())
def test_property_balanced_previous_ownership_moves_nothing(ids, shape, data) -> None:  # type: ignore[no-untyped-def]
    all_tasks = [T(s, p) for s, count in enumerate(shape) for p in range(count)]
    first = assign_tasks(fresh(*ids), all_tasks)
    # Any balanced ownership: the fresh plan with tasks swapped at random keeps counts.
    order = data.draw(st.permutations(all_tasks))
    dealt = iter(order)
    previous = {c: {next(dealt) for _ in first[c].active} for c in ids}
    clients = {c: ClientState(process_id=c, previous_active=previous[c]) for c in ids}
    result = assign_tasks(clients, all_tasks)
    assert {c: set(a.active) for c, a in result.items()} == previous


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_input_order_does_not_matter(scenario, random) -> None:  # type: ignore[no-untyped-def]
    clients, all_tasks, replicas = scenario
    expected = assign_tasks(clients, all_tasks, num_standby_replicas=replicas)
    items = list(clients.items())
    random.shuffle(items)
    shuffled_tasks = list(all_tasks)
    random.shuffle(shuffled_tasks)
    assert assign_tasks(dict(items), shuffled_tasks, num_standby_replicas=replicas) == expected


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=6,
                    unique=True),
       shape=st.lists(st.integers(0, 7), min_size=1, max_size=3), replicas=st.integers(1, 2))
def test_property_standbys_balanced_on_distinct_processes(ids, shape, replicas) -> None:  # type: ignore[no-untyped-def]
    all_tasks = [T(s, p) for s, count in enumerate(shape) for p in range(count)]
    result = assign_tasks(fresh(*ids), all_tasks, num_standby_replicas=replicas)
    sizes = sorted(len(a.standby) for a in result.values())
    assert sizes[-1] - sizes[0] <= 1


# ---------------------------------------------------------------- user data

SUBSCRIPTION = SubscriptionInfo(
    process_id="proc-1", application_server="host:8080",
    previous_active={T(0, 1), T(10, 2)}, previous_standby={T(1, 0)},
    task_offset_sums={T(1, 0): 42, T(0, 1): LAG_RUNNING_ACTIVE},
)
ASSIGNMENT = AssignmentInfo(
    active=(T(0, 1), T(2, 0)), standby=(T(1, 1),),
    partitions_by_host={"host:8080": (TP("a", 1), TP("b", 0)), "other:1": ()},
    error_code=ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA,
)


def test_codecs_round_trip() -> None:
    assert decode_subscription_info(encode_subscription_info(SUBSCRIPTION)) == SUBSCRIPTION
    bare = SubscriptionInfo(process_id="p")
    assert decode_subscription_info(encode_subscription_info(bare)) == bare
    assert decode_assignment_info(encode_assignment_info(ASSIGNMENT)) == ASSIGNMENT
    assert decode_assignment_info(encode_assignment_info(AssignmentInfo())) == AssignmentInfo()


def test_a_newer_version_is_read_by_the_fields_we_know() -> None:
    body = orjson.loads(encode_subscription_info(SUBSCRIPTION))
    body.update(v=7, rack="r1")
    decoded = decode_subscription_info(orjson.dumps(body))
    assert decoded == attrs.evolve(SUBSCRIPTION, version=7)
    body = orjson.loads(encode_assignment_info(ASSIGNMENT))
    body.update(v=3, warmup=["0_0"])
    assert decode_assignment_info(orjson.dumps(body)).active == ASSIGNMENT.active


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not JSON"),
        (b"\x00\xff\x13", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"pid": "p"}', "version is not an integer"),
        (b'{"v": 0, "pid": "p"}', "version 0 is below 1"),
        (b'{"v": true}', "version is not an integer"),
        (b'{"v": 1, "srv": null, "act": [], "stb": [], "ofs": {}}', "lacks 'pid'"),
        (b'{"v": 1, "pid": 5, "srv": null, "act": [], "stb": [], "ofs": {}}', "'pid' has a wrong type"),
        (b'{"v": 1, "pid": "p", "srv": null, "act": ["x_y"], "stb": [], "ofs": {}}', "not a task id"),
        (b'{"v": 1, "pid": "p", "srv": null, "act": [3], "stb": [], "ofs": {}}', "not a task id"),
        (b'{"v": 1, "pid": "p", "srv": null, "act": [], "stb": [], "ofs": {"0_1": "x"}}',
         "task offset sum is not an integer"),
    ],
)
def test_garbage_subscription_raises_clearly(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidStreamsUserData, match=message):
        decode_subscription_info(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"garbage", "not JSON"),
        (b'{"v": 1, "act": [], "stb": [], "hosts": {}}', "lacks 'err'"),
        (b'{"v": 1, "act": [], "stb": [], "hosts": {"h": 1}, "err": 0}', "expected an object"),
        (b'{"v": 1, "act": [], "stb": [], "hosts": {"h": {"t": 1}}, "err": 0}', "not a list"),
        (b'{"v": 1, "act": [], "stb": [], "hosts": {"h": {"t": ["1"]}}, "err": 0}',
         "partition is not an integer"),
    ],
)
def test_garbage_assignment_raises_clearly(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidStreamsUserData, match=message):
        decode_assignment_info(payload)


@settings(max_examples=200, deadline=None)
@given(ids=client_ids, shape=st.lists(st.integers(0, 9), min_size=1, max_size=4))
def test_property_fresh_assignment_spreads_every_subtopology(ids, shape) -> None:  # type: ignore[no-untyped-def]
    all_tasks = [T(s, p) for s, count in enumerate(shape) for p in range(count)]
    result = assign_tasks(fresh(*ids), all_tasks)
    for subtopology in range(len(shape)):
        counts = [sum(1 for t in a.active if t.subtopology == subtopology) for a in result.values()]
        assert max(counts) - min(counts) <= 1, subtopology


# ---------------------------------------------------------------- StreamsAssignor

SOURCES = {0: ("orders",), 1: ("payments", "refunds")}
COUNTS = {"orders": 4, "payments": 2, "refunds": 3}


def streams(process_id: str, **options: object) -> StreamsAssignor:
    return StreamsAssignor(SOURCES, process_id=process_id, **options)  # type: ignore[arg-type]


def subscribe(
    assignors: Mapping[str, StreamsAssignor],
    owned: Mapping[str, tuple[TP, ...]] | None = None,
    generation: int = -1,
) -> dict[str, MemberSubscription]:
    topics = ("orders", "payments", "refunds")
    return {
        m: MemberSubscription(
            m, topics, (owned or {}).get(m, ()), generation,
            user_data=a.subscription_user_data(topics, (owned or {}).get(m, ())),
        )
        for m, a in assignors.items()
    }


def run_round(
    assignors: Mapping[str, StreamsAssignor], owned: dict[str, tuple[TP, ...]], generation: int
) -> None:
    """One rebalance: the first member leads, everyone applies its assignment and revokes."""
    members = subscribe(assignors, owned, generation - 1)
    plan = next(iter(assignors.values())).assign(members, COUNTS)
    claimed = Counter(tp for a in plan.values() for tp in a.partitions)
    assert all(n == 1 for n in claimed.values())
    for member_id, assignment in plan.items():
        # Never handed a partition another member still owns.
        others = {tp for m, tps in owned.items() if m != member_id for tp in tps}
        assert not set(assignment.partitions) & others
    for member_id, assignor in assignors.items():
        assignor.on_assignment(plan[member_id], generation)
        owned[member_id] = plan[member_id].partitions
        assignor.set_owned(assignor.active_tasks, assignor.standby_tasks)


def test_streams_assignor_is_a_cooperative_group_assignor() -> None:
    assignor = streams("p")
    assert (assignor.name, assignor.rebalance_protocol) == ("stream", COOPERATIVE)
    assert resolve_assignors([assignor])["stream"] is assignor
    config = build_config(ConsumerConfig, {"partition_assignment_strategy": (assignor,)})
    assert config.partition_assignment_strategy == (assignor,)


def test_streams_assignor_rejects_bad_topologies() -> None:
    with pytest.raises(ValueError, match="'shared' feeds sub-topologies 0 and 1"):
        StreamsAssignor({0: ("shared",), 1: ("other", "shared")}, process_id="p")
    with pytest.raises(ValueError, match="num_standby_replicas"):
        streams("p", num_standby_replicas=-1)


def test_task_partitions_follow_the_source_topics(caplog: pytest.LogCaptureFixture) -> None:
    partitions = streams("p").task_partitions(COUNTS)
    assert list(partitions) == [T(0, p) for p in range(4)] + [T(1, p) for p in range(3)]
    assert partitions[T(1, 0)] == (TP("payments", 0), TP("refunds", 0))
    assert partitions[T(1, 2)] == (TP("refunds", 2),)  # payments has only 2 partitions
    with caplog.at_level(logging.WARNING):
        assert list(streams("p").task_partitions({"orders": 1})) == [T(0, 0)]
    assert "sub-topology 1 skipped" in caplog.text and "payments" in caplog.text


def test_assign_end_to_end_through_user_data() -> None:
    assignors = {
        "m1": streams("proc-1", application_server="h1:80", num_standby_replicas=1),
        "m2": streams("proc-2", application_server="h2:80", num_standby_replicas=1),
        "m3": streams("proc-3", num_standby_replicas=1),
    }
    plan = assignors["m1"].assign(subscribe(assignors), COUNTS)
    everything = {tp for task_tps in streams("x").task_partitions(COUNTS).values() for tp in task_tps}
    assert {tp for a in plan.values() for tp in a.partitions} == everything
    for member_id, assignor in assignors.items():
        assignor.on_assignment(plan[member_id], 5)
        assert assignor.generation == 5 and assignor.error_code == ERROR_NONE
        assert len(assignor.active_tasks) in (2, 3) and len(assignor.standby_tasks) in (2, 3)
        assert not set(assignor.active_tasks) & set(assignor.standby_tasks)
        tasks_tps = streams("x").task_partitions(COUNTS)
        assert set(plan[member_id].partitions) == {
            tp for t in assignor.active_tasks for tp in tasks_tps[t]
        }
    hosts = assignors["m3"].partitions_by_host
    assert set(hosts) == {"h1:80", "h2:80"}
    assert set(hosts["h1:80"]) == set(plan["m1"].partitions)


def test_cooperative_handoff_withholds_until_the_old_owner_lets_go() -> None:
    assignors = {"a": streams("pa")}
    owned: dict[str, tuple[TP, ...]] = {"a": ()}
    run_round(assignors, owned, generation=1)
    assert len(assignors["a"].active_tasks) == 7
    assignors["b"] = streams("pb")
    owned["b"] = ()
    run_round(assignors, owned, generation=2)
    # b waits: a gave up three tasks and kept four.
    assert assignors["b"].active_tasks == () and len(assignors["a"].active_tasks) == 4
    run_round(assignors, owned, generation=3)
    assert len(assignors["b"].active_tasks) == 3 and len(assignors["a"].active_tasks) == 4
    assert not set(assignors["a"].active_tasks) & set(assignors["b"].active_tasks)
    run_round(assignors, owned, generation=4)  # stable: nothing moves
    assert len(assignors["b"].active_tasks) == 3 and len(owned["a"]) + len(owned["b"]) == 9


def test_a_claim_in_user_data_alone_withholds_the_task() -> None:
    a, b = streams("pa"), streams("pb")
    a.set_owned(streams("x").task_partitions(COUNTS), [])  # claims all seven, owns no partition
    plan = a.assign(subscribe({"a": a, "b": b}, generation=3), COUNTS)
    b.on_assignment(plan["b"], 4)
    assert b.active_tasks == () and plan["b"].partitions == ()
    before = a.subscription_user_data((), ())
    a.on_assignment(plan["a"], 4)
    # a dropped the claims it lost: its user data changed, so the group member rejoins.
    assert len(a.active_tasks) == 4 and a.subscription_user_data((), ()) != before


def test_a_stale_claim_loses_to_a_newer_generation() -> None:
    a, b = streams("pa"), streams("pb")
    a.set_owned([T(0, 0)], [])
    members = {
        "a": attrs.evolve(subscribe({"a": a})["a"], generation=-1),
        "b": MemberSubscription("b", ("orders",), (TP("orders", 0),), 7,
                                user_data=b.subscription_user_data((), ())),
    }
    plan = a.assign(members, COUNTS)
    b.on_assignment(plan["b"], 8)
    assert T(0, 0) in b.active_tasks


def test_unreadable_or_missing_user_data() -> None:
    a = streams("pa")
    members = {
        "a": subscribe({"a": a})["a"],
        "bad": MemberSubscription("bad", ("orders",), user_data=b"\x00garbage"),
        "plain": MemberSubscription("plain", ("orders",)),  # no user data: a fresh client
    }
    plan = a.assign(members, COUNTS)
    bad = decode_assignment_info(plan["bad"].user_data or b"")
    assert bad.error_code == ERROR_UNREADABLE_SUBSCRIPTION and plan["bad"].partitions == ()
    assert len(decode_assignment_info(plan["plain"].user_data or b"").active) in (3, 4)


def test_missing_source_topic_is_reported_in_the_error_code() -> None:
    a = streams("pa")
    plan = a.assign(subscribe({"a": a}), {"orders": 2})
    a.on_assignment(plan["a"], 1)
    assert a.active_tasks == (T(0, 0), T(0, 1))
    assert a.error_code == ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA


def test_set_owned_and_on_assignment_shape_the_subscription() -> None:
    a = streams("pa", application_server="h:1")
    a.set_owned([T(0, 0), T(0, 1)], [T(1, 0)], task_offset_sums={T(1, 0): 12})
    info = decode_subscription_info(a.subscription_user_data((), ()))
    assert info == SubscriptionInfo(
        process_id="pa", application_server="h:1", previous_active={T(0, 0), T(0, 1)},
        previous_standby={T(1, 0)}, task_offset_sums={T(1, 0): 12},
    )
    a.on_assignment(
        MemberAssignment((), encode_assignment_info(AssignmentInfo(active=(T(0, 1),)))), 3
    )
    # T(0, 0) left the plan, so a stops claiming it; standbys and lags stay as set.
    info = decode_subscription_info(a.subscription_user_data((), ()))
    assert info.previous_active == {T(0, 1)} and info.previous_standby == {T(1, 0)}
    a.on_assignment(MemberAssignment(()), 4)  # left out by the leader: no task
    assert a.active_tasks == () and a.partitions_by_host == {}
    with pytest.raises(InvalidStreamsUserData, match="not JSON"):
        a.on_assignment(MemberAssignment((), b"nope"), 5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.sampled_from("abcde"), min_size=1), min_size=1, max_size=5))
def test_property_membership_changes_never_share_a_partition(memberships) -> None:  # type: ignore[no-untyped-def]
    assignors: dict[str, StreamsAssignor] = {}
    owned: dict[str, tuple[TP, ...]] = {}
    generation = 0
    for members in memberships:
        for gone in set(assignors) - members:
            del assignors[gone], owned[gone]
        for new in sorted(members - set(assignors)):
            assignors[new], owned[new] = streams(f"p-{new}"), ()
        # Withheld tasks reach their new owner once the old one has let go: two rounds.
        for _ in range(2):
            generation += 1
            run_round(assignors, owned, generation)  # checks no partition is handed over early
        assert sum(len(tps) for tps in owned.values()) == 9
        counts = sorted(len(a.active_tasks) for a in assignors.values())
        assert counts[-1] - counts[0] <= 1


# ---------------------------------------------------------------- through a real group


class Runtime(RebalanceListener):
    """Stands in for the streams runtime: reports the tasks it runs after each change."""

    def __init__(self, assignor: StreamsAssignor) -> None:
        self.assignor = assignor
        self.owned: set[TP] = set()

    async def on_partitions_assigned(self, assigned: set[TP]) -> None:
        self.owned |= assigned
        self.assignor.set_owned(self.assignor.active_tasks, self.assignor.standby_tasks)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.owned -= revoked
        self.assignor.set_owned(self.assignor.active_tasks, self.assignor.standby_tasks)


async def test_two_members_hand_tasks_over_and_settle(broker) -> None:  # type: ignore[no-untyped-def]
    options = dict(session_timeout_ms=6_000, heartbeat_interval_ms=500,
                   rebalance_timeout_ms=10_000)
    sources = {0: ("s-orders",), 1: ("s-payments",)}
    topics = ["s-orders", "s-payments"]
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([NewTopic("s-orders", num_partitions=4),
                                   NewTopic("s-payments", num_partitions=3)])
    a = StreamsAssignor(sources, process_id="pa", application_server="a:1", num_standby_replicas=1)
    b = StreamsAssignor(sources, process_id="pb", application_server="b:1", num_standby_replicas=1)
    runtime_a, runtime_b = Runtime(a), Runtime(b)
    async with Consumer(broker.bootstrap, group_id="app", partition_assignment_strategy=(a,),
                        **options) as one:
        one.subscribe(topics, listener=runtime_a)
        with trio.fail_after(30):
            while len(runtime_a.owned) != 7:
                await one.getmany(timeout_ms=200)
        async with Consumer(broker.bootstrap, group_id="app",
                            partition_assignment_strategy=(b,), **options) as two:
            two.subscribe(topics, listener=runtime_b)
            with trio.fail_after(40):
                while (len(runtime_a.owned), len(runtime_b.owned)) != (4, 3):
                    await one.getmany(timeout_ms=200)
                    await two.getmany(timeout_ms=200)
            settled = [c.statistics()["group"].rebalances for c in (one, two)]
            for _ in range(8):  # settled: no further rebalance
                await one.getmany(timeout_ms=200)
                await two.getmany(timeout_ms=200)
            assert [c.statistics()["group"].rebalances for c in (one, two)] == settled
            assert not runtime_a.owned & runtime_b.owned
            assert set(a.standby_tasks) == set(b.active_tasks)
            assert set(b.standby_tasks) == set(a.active_tasks)
            assert set(b.partitions_by_host["a:1"]) == runtime_a.owned
