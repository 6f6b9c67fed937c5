"""The assignors as pure functions: known layouts, coverage, balance, stickiness."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.client.assignors import (
    ASSIGNORS,
    MemberSubscription,
    cooperative_sticky_assign,
    range_assign,
    round_robin_assign,
    sticky_assign,
)
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
