"""Rack-aware replica placement: leaders spread, replicas spread over racks first."""

from __future__ import annotations

import random
from collections import Counter

from flowlog.controller.topic_placement import place_replicas, rack_alternating


def test_racks_alternate_in_the_broker_order() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
    assert rack_alternating([1, 2, 3, 4, 5], racks) == [1, 3, 5, 2, 4]


def test_every_partition_uses_distinct_racks_while_it_can() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    for seed in range(20):
        placement = place_replicas(list(racks), 12, 3, random.Random(seed), racks)
        for replicas in placement:
            assert len(set(replicas)) == 3
            assert len({racks[broker] for broker in replicas}) == 3
        leaders = Counter(replicas[0] for replicas in placement)
        assert set(leaders.values()) == {2}, "leaders spread evenly"


def test_more_replicas_than_racks_reuses_racks_evenly() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b"}
    for replicas in place_replicas(list(racks), 8, 4, random.Random(3), racks):
        assert sorted(replicas) == [1, 2, 3, 4]
        assert Counter(racks[broker] for broker in replicas) == Counter({"a": 2, "b": 2})


def test_without_racks_placement_is_round_robin_as_before() -> None:
    with_none = place_replicas([1, 2, 3], 3, 2, random.Random(1), {1: None, 2: None, 3: None})
    plain = place_replicas([1, 2, 3], 3, 2, random.Random(1))
    assert with_none == plain
    assert sorted(replicas[0] for replicas in plain) == [1, 2, 3]
