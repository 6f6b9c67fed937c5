"""The assignors as pure functions: known layouts, coverage, balance, stickiness; assignor objects."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.client.assignors import (
    ASSIGNORS,
    COOPERATIVE,
    EAGER,
    GroupAssignor,
    MemberAssignment,
    MemberSubscription,
    cooperative_sticky_assign,
    range_assign,
    resolve_assignors,
    round_robin_assign,
    sticky_assign,
)
from flowlog.client.config import ConsumerConfig, build_config
from flowlog.client.errors import ConfigurationError
from flowlog.client.types import TopicPartition as TP


def members(*ids: str, topics: tuple[str, ...] = ("t",)) -> dict[str, MemberSubscription]:
    return {m: MemberSubscription(m, topics) for m in ids}


def test_range_matches_java_layout() -> None:
    # Java's RangeAssignor: 7 partitions over 3 members -> 3, 2, 2 contiguous.
    result = range_assign(members("a", "b", "c", topics=("t", "u")), {"t": 7, "u": 2})
    assert result["a"] == [TP("t", 0), TP("t", 1), TP("t", 2), TP("u", 0)]
    assert result["b"] == [TP("t", 3), TP("t", 4), TP("u", 1)]
    assert result["c"] == [TP("t", 5), TP("t", 6)]


def test_round_robin_deals_in_turn_and_skips_unsubscribed() -> None:
    subscriptions = {
        "a": MemberSubscription("a", ("t",)),
        "b": MemberSubscription("b", ("t", "u")),
    }
    result = round_robin_assign(subscriptions, {"t": 3, "u": 2})
    assert result["a"] == [TP("t", 0), TP("t", 2)]
    assert result["b"] == [TP("t", 1), TP("u", 0), TP("u", 1)]


def test_sticky_keeps_owned_partitions_when_a_member_joins() -> None:
    first = sticky_assign(members("a", "b"), {"t": 6})
    owned = {
        m: MemberSubscription(m, ("t",), tuple(first[m]), generation=1) for m in ("a", "b")
    }
    owned["c"] = MemberSubscription("c", ("t",))
    second = sticky_assign(owned, {"t": 6})
    assert sorted(len(v) for v in second.values()) == [2, 2, 2]
    for member in ("a", "b"):
        assert set(second[member]) <= set(first[member])  # nothing moved between old members


def test_cooperative_withholds_partitions_that_change_owner() -> None:
    first = {"a": MemberSubscription("a", ("t",), tuple(TP("t", p) for p in range(4)), 1),
             "b": MemberSubscription("b", ("t",))}
    result = cooperative_sticky_assign(first, {"t": 4})
    # a keeps two and gives up two; b receives nothing until a has revoked them.
    assert len(result["a"]) == 2 and result["b"] == []
    second = {"a": MemberSubscription("a", ("t",), tuple(result["a"]), 2),
              "b": MemberSubscription("b", ("t",), (), 2)}
    final = cooperative_sticky_assign(second, {"t": 4})
    assert final["a"] == result["a"]
    assert sorted(final["a"] + final["b"]) == [TP("t", p) for p in range(4)]


member_ids = st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=6, unique=True)


@settings(max_examples=150, deadline=None)
@given(ids=member_ids, counts=st.lists(st.integers(0, 9), min_size=1, max_size=3),
       data=st.data())
def test_every_partition_assigned_once_and_balanced(ids, counts, data) -> None:  # type: ignore[no-untyped-def]
    topics = [f"topic{i}" for i in range(len(counts))]
    partitions_per_topic = dict(zip(topics, counts, strict=True))
    subscriptions = {
        m: MemberSubscription(m, tuple(topics)) for m in ids
    }
    total = sum(counts)
    for name, assignor in ASSIGNORS.items():
        if name == "cooperative-sticky":
            owned_choice = data.draw(st.lists(st.sampled_from(ids), min_size=total,
                                              max_size=total)) if total else []
            all_tps = [TP(t, p) for t in topics for p in range(partitions_per_topic[t])]
            owners: dict[str, list[TP]] = {m: [] for m in ids}
            for tp, member in zip(all_tps, owned_choice, strict=True):
                owners[member].append(tp)
            subscriptions = {m: MemberSubscription(m, tuple(topics), tuple(owners[m]), 1)
                             for m in ids}
        result = assignor(subscriptions, partitions_per_topic)
        assigned = Counter(tp for tps in result.values() for tp in tps)
        assert all(count == 1 for count in assigned.values()), name
        if name == "cooperative-sticky":
            # Nobody is handed a partition someone else still owns.
            for member, tps in result.items():
                for tp in tps:
                    assert tp in subscriptions[member].owned or not any(
                        tp in s.owned for s in subscriptions.values()
                    )
            continue
        assert len(assigned) == total, name
        if name == "roundrobin":
            sizes = [len(v) for v in result.values()]
            assert max(sizes) - min(sizes) <= 1


def test_sticky_balance_with_identical_subscriptions() -> None:
    result = sticky_assign(members("a", "b", "c"), {"t": 10})
    assert sorted(len(v) for v in result.values()) == [3, 3, 4]


# ---------------------------------------------------------------- assignor objects


class Tagged(GroupAssignor):
    """Reports a tag; the leader deals partitions to the members by tag order."""

    name = "tagged"
    rebalance_protocol = COOPERATIVE

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.received: list[tuple[MemberAssignment, int]] = []

    def subscription_user_data(
        self, topics: tuple[str, ...], owned: tuple[TP, ...]
    ) -> bytes | None:
        return self.tag

    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        order = sorted(members, key=lambda m: members[m].user_data or b"")
        return {
            member_id: MemberAssignment(
                tuple(TP(t, p) for t in sorted(partitions_per_topic)
                      for p in range(index, partitions_per_topic[t], len(order))),
                b"for:" + (members[member_id].user_data or b""),
            )
            for index, member_id in enumerate(order)
        }

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        self.received.append((assignment, generation))


def test_member_subscription_and_assignment_defaults() -> None:
    assert MemberSubscription("m", ("t",)).user_data is None
    assert MemberAssignment((TP("t", 0),)) == MemberAssignment((TP("t", 0),), None)


def test_builtin_names_resolve_to_objects_with_their_protocols() -> None:
    resolved = resolve_assignors(["range", "roundrobin", "cooperative-sticky"])
    assert list(resolved) == ["range", "roundrobin", "cooperative-sticky"]
    assert [a.rebalance_protocol for a in resolved.values()] == [EAGER, EAGER, COOPERATIVE]
    assert resolved["range"].subscription_user_data(("t",), ()) is None
    plan = resolved["range"].assign(members("a", "b"), {"t": 3})
    assert plan == {
        "a": MemberAssignment((TP("t", 0), TP("t", 1))),
        "b": MemberAssignment((TP("t", 2),)),
    }


def test_names_and_objects_mix_in_preference_order() -> None:
    tagged = Tagged(b"x")
    resolved = resolve_assignors([tagged, "range"])
    assert list(resolved) == ["tagged", "range"]
    assert resolved["tagged"] is tagged


class Nameless(GroupAssignor):
    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        return {}


class Sideways(Nameless):
    name = "sideways"
    rebalance_protocol = "sideways"


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (["range", "stiky"], "unknown assignor 'stiky'"),
        (["range", 42], "entry 42 is neither"),
        ([Nameless()], "needs a non-empty string `name`"),
        ([Sideways()], "rebalance_protocol 'sideways'"),
        (["range", "range"], "names assignor 'range' twice"),
        ([Tagged(b"a"), Tagged(b"b")], "names assignor 'tagged' twice"),
        ([], "is empty"),
    ],
)
def test_bad_strategies_raise_naming_the_entry(strategy: list[object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        resolve_assignors(strategy)


def test_consumer_config_accepts_objects_and_lone_entries() -> None:
    tagged = Tagged(b"x")
    config = build_config(ConsumerConfig, {"partition_assignment_strategy": [tagged, "range"]})
    assert config.partition_assignment_strategy == (tagged, "range")
    lone = build_config(ConsumerConfig, {"partition_assignment_strategy": "roundrobin"})
    assert lone.partition_assignment_strategy == ("roundrobin",)
    assert build_config(
        ConsumerConfig, {"partition_assignment_strategy": tagged}
    ).partition_assignment_strategy == (tagged,)
    with pytest.raises(ConfigurationError, match="unknown assignor 'nope'"):
        build_config(ConsumerConfig, {"partition_assignment_strategy": ("range", "nope")})


def test_custom_assignor_sees_user_data_and_plans_partitions() -> None:
    subscriptions = {
        "m1": MemberSubscription("m1", ("t",), user_data=b"b"),
        "m2": MemberSubscription("m2", ("t",), user_data=b"a"),
    }
    plan = Tagged(b"-").assign(subscriptions, {"t": 4})
    assert plan["m2"] == MemberAssignment((TP("t", 0), TP("t", 2)), b"for:a")
    assert plan["m1"] == MemberAssignment((TP("t", 1), TP("t", 3)), b"for:b")
