"""Stream-stream windowed joins (inner, left, outer) through the test driver, and once on a broker.

The expected results are Kafka Streams' own (trunk 1eb7644349cb): the developer guide's
join table (kafka-streams-brief.md section 10), StreamStreamJoinIntegrationTest's tables,
KStreamKStream{,Left,Outer}JoinTest's step-by-step cases and TopologyTest's descriptions,
re-expressed as data. Results print as Kafka's test joiner does: "A0+a0", "A0+null".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog_streams import (
    JoinWindows,
    Serdes,
    StreamJoined,
    StreamsBuilder,
    TopologyException,
)
from flowlog_streams.partitions import internal_partition_counts
from flowlog_streams.testing import TopologyTestDriver
from flowlog_streams.topics import resolve_topics

S = Serdes.str()
I32 = Serdes.int()
L64 = Serdes.long()
KEYS = (0, 1, 2, 3)


def plus(left: Any, right: Any) -> str:
    """Kafka's MockValueJoiner.TOSTRING_JOINER: a missing side prints as null."""
    return f"{'null' if left is None else left}+{'null' if right is None else right}"


def dash(left: Any, right: Any) -> str:
    return f"{'null' if left is None else left}-{'null' if right is None else right}"


class Harness:
    """topic1 (left) and topic2 (right) joined into "out"; read() gives (key, value, ts)."""

    def __init__(self, driver: TopologyTestDriver, key_serde: Any, right_serde: Any) -> None:
        self.driver = driver
        self._left = driver.create_input_topic("topic1", key_serde, S)
        self._right = driver.create_input_topic("topic2", key_serde, right_serde)
        self._out = driver.create_output_topic("out", key_serde, S)

    def left(self, key: Any, value: Any, timestamp: int) -> None:
        self._left.pipe_input(key, value, timestamp=timestamp)

    def right(self, key: Any, value: Any, timestamp: int) -> None:
        self._right.pipe_input(key, value, timestamp=timestamp)

    def read(self) -> list[tuple[Any, Any, int]]:
        return [(r.key, r.value, r.timestamp) for r in self._out.read_records_to_list()]

    def dropped(self) -> dict[str, int]:
        return self.driver.metrics()["0_0"]["records_dropped"]


def join_topology(kind: str, windows: JoinWindows, *, joiner: Any = plus, key_serde: Any = I32,
                  right_serde: Any = S, stream_joined: StreamJoined | None = None) -> Any:
    builder = StreamsBuilder()
    left = builder.stream("topic1", key_serde=key_serde, value_serde=S)
    right = builder.stream("topic2", key_serde=key_serde, value_serde=right_serde)
    method = {"inner": left.join, "left": left.left_join, "outer": left.outer_join}[kind]
    method(right, joiner, windows, stream_joined).to("out", value_serde=S)
    return builder.build()


@pytest.fixture
def harness_for() -> Iterator[Any]:
    drivers: list[TopologyTestDriver] = []

    def make(kind: str, windows: JoinWindows, *, key_serde: Any = I32, right_serde: Any = S,
             config: dict[str, Any] | None = None, **options: Any) -> Harness:
        topology = join_topology(kind, windows, key_serde=key_serde, right_serde=right_serde,
                                 **options)
        driver = TopologyTestDriver(topology, config=config)
        driver.__enter__()
        drivers.append(driver)
        return Harness(driver, key_serde, right_serde)

    yield make
    for driver in drivers:
        driver.__exit__(None, None, None)


# ---------------------------------------------------------------- the developer guide's table

# One key, records in timestamp order; window 15 ms, grace 5 ms. Each step: (ts, side,
# value) and the results per join kind (value, ts). Rows 60-100: a waiting record goes out
# once stream time is strictly past t + 15 + 5 (the guide draws them one row early).
GUIDE_STEPS = [
    (1, "L", None, [], [], []),
    (2, "R", None, [], [], []),
    (3, "L", "A", [], [], []),
    (4, "R", "a", [("A-a", 4)], [("A-a", 4)], [("A-a", 4)]),
    (5, "L", "B", [("B-a", 5)], [("B-a", 5)], [("B-a", 5)]),
    (6, "R", "b", [("A-b", 6), ("B-b", 6)], "=", "="),
    (7, "L", None, [], [], []),
    (8, "R", None, [], [], []),
    (9, "L", "C", [("C-a", 9), ("C-b", 9)], "=", "="),
    (10, "R", "c", [("A-c", 10), ("B-c", 10), ("C-c", 10)], "=", "="),
    (11, "R", None, [], [], []),
    (12, "L", None, [], [], []),
    (13, "R", None, [], [], []),
    (14, "R", "d", [("A-d", 14), ("B-d", 14), ("C-d", 14)], "=", "="),
    (15, "L", "D", [("D-a", 15), ("D-b", 15), ("D-c", 15), ("D-d", 15)], "=", "="),
    (40, "L", "E", [], [], []),
    (60, "L", "F", [], [], []),
    (80, "R", "f", [], [("E-null", 40)], [("E-null", 40)]),
    (100, "L", "G", [], [("F-null", 60)], [("F-null", 60)]),
    # Not in the guide: push stream time on, so f and G come out too.
    (200, "L", "H", [], [("G-null", 100)], [("null-f", 80), ("G-null", 100)]),
]


@pytest.mark.parametrize("kind", ["inner", "left", "outer"])
def test_the_developer_guide_table(harness_for: Any, kind: str) -> None:
    join = harness_for(kind, JoinWindows.of_time_difference_and_grace(15, 5), key_serde=S,
                       joiner=dash)
    column = {"inner": 3, "left": 4, "outer": 5}[kind]
    for step in GUIDE_STEPS:
        timestamp, side, value = step[:3]
        expected = step[column]
        if expected == "=":
            expected = step[3]
        (join.left if side == "L" else join.right)("k", value, timestamp)
        assert join.read() == [("k", v, ts) for v, ts in expected], (kind, timestamp)
    assert join.dropped() == {"null_value": 7}


# ---------------------------------------------------------------- StreamStreamJoinIntegrationTest

# Window 10 s, grace 24 h: every record is within every other's window. (side, key, value, ts);
# key None is a null key. Expected per step: [(key, value, ts)].
INTEGRATION_INPUT = [
    ("L", 0, None, 1), ("R", 0, None, 2), ("L", 0, "A", 3), ("R", 0, "a", 4), ("L", 0, "B", 5),
    ("R", 0, "b", 6), ("L", 0, None, 7), ("R", 0, None, 8), ("L", 0, "C", 9), ("R", 0, "c", 10),
    ("R", 0, None, 11), ("L", 0, None, 12), ("R", 0, None, 13), ("R", 0, "d", 14),
    ("L", 0, "D", 15), ("L", None, "E", 16), ("R", None, "e", 17),
]
_INNER_INTEGRATION = [
    [], [], [], [(0, "A-a", 4)], [(0, "B-a", 5)], [(0, "A-b", 6), (0, "B-b", 6)], [], [],
    [(0, "C-a", 9), (0, "C-b", 9)], [(0, "A-c", 10), (0, "B-c", 10), (0, "C-c", 10)], [], [], [],
    [(0, "A-d", 14), (0, "B-d", 14), (0, "C-d", 14)],
    [(0, "D-a", 15), (0, "D-b", 15), (0, "D-c", 15), (0, "D-d", 15)],
]
INTEGRATION_EXPECTED = {
    "inner": [*_INNER_INTEGRATION, [], []],
    # Kafka Streams 3.7+: a null key on an outer side is emitted at once, joined with null.
    "left": [*_INNER_INTEGRATION, [(None, "E-null", 16)], []],
    "outer": [*_INNER_INTEGRATION, [(None, "E-null", 16)], [(None, "null-e", 17)]],
}


def integration_topology(kind: str, repartitioned: bool) -> Any:
    builder = StreamsBuilder()
    left = builder.stream("topic1", key_serde=L64, value_serde=S)
    right = builder.stream("topic2", key_serde=L64, value_serde=S)
    if repartitioned:  # key-changing no-ops: both sides go through repartition topics
        left = left.map(lambda key, value: (key, value))
        right = right.flat_map(lambda key, value: [(key, value)]).select_key(lambda k, v: k)
    method = {"inner": left.join, "left": left.left_join, "outer": left.outer_join}[kind]
    method(right, dash, JoinWindows.of_time_difference_and_grace(10_000, 86_400_000),
           StreamJoined.with_(L64, S, S)).to("out", value_serde=S)
    return builder.build()


@pytest.mark.parametrize("repartitioned", [False, True])
@pytest.mark.parametrize("cache_max_bytes", [0, 10_000_000])
@pytest.mark.parametrize("kind", ["inner", "left", "outer"])
def test_the_integration_test_tables(kind: str, repartitioned: bool, cache_max_bytes: int) -> None:
    topology = integration_topology(kind, repartitioned)
    with TopologyTestDriver(topology, config={"cache_max_bytes": cache_max_bytes}) as driver:
        inputs = {"L": driver.create_input_topic("topic1", L64, S),
                  "R": driver.create_input_topic("topic2", L64, S)}
        out = driver.create_output_topic("out", L64, S)
        for (side, key, value, ts), expected in zip(INTEGRATION_INPUT, INTEGRATION_EXPECTED[kind],
                                                    strict=True):
            inputs[side].pipe_input(key, value, timestamp=ts)
            got = [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()]
            assert got == expected, (side, key, value, ts)


def test_multi_join_joins_the_join_result_again() -> None:
    builder = StreamsBuilder()
    left = builder.stream("topic1", key_serde=L64, value_serde=S)
    right = builder.stream("topic2", key_serde=L64, value_serde=S)
    windows = JoinWindows.of_time_difference_and_grace(10_000, 86_400_000)
    left.join(right, dash, windows).join(right, dash, windows).to("out", value_serde=S)
    # The first join's result has no value serde (as in Kafka Streams): the default serves.
    with TopologyTestDriver(builder.build(), config={"default_value_serde": S}) as driver:
        inputs = {"L": driver.create_input_topic("topic1", L64, S),
                  "R": driver.create_input_topic("topic2", L64, S)}
        out = driver.create_output_topic("out", L64, S)
        results = []
        for side, key, value, ts in INTEGRATION_INPUT[:10]:
            inputs[side].pipe_input(key, value, timestamp=ts)
            results.append([r.value for r in out.read_records_to_list()])
    assert results[3:6] == [["A-a-a"], ["B-a-a"],
                            ["A-b-a", "B-b-a", "A-a-b", "B-a-b", "A-b-b", "B-b-b"]]
    assert results[8] == ["C-a-a", "C-a-b", "C-b-a", "C-b-b"]
    assert results[9] == [
        "A-c-a", "A-c-b", "B-c-a", "B-c-b", "C-c-a", "C-c-b", "A-a-c", "B-a-c", "A-b-c",
        "B-b-c", "C-a-c", "C-b-c", "A-c-c", "B-c-c", "C-c-c",
    ]


def test_self_join_meets_itself_once() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("topic1", key_serde=L64, value_serde=S)
    stream.join(stream, dash, JoinWindows.of_time_difference_and_grace(10_000, 86_400_000)) \
        .to("out", value_serde=S)
    expected = [
        [], [("A-A", 2)], [("B-A", 3), ("A-B", 3), ("B-B", 3)], [],
        [("C-A", 5), ("C-B", 5), ("A-C", 5), ("B-C", 5), ("C-C", 5)], [],
        [("D-A", 7), ("D-B", 7), ("D-C", 7), ("A-D", 7), ("B-D", 7), ("C-D", 7), ("D-D", 7)],
    ]
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("topic1", L64, S)
        out = driver.create_output_topic("out", L64, S)
        for ts, (value, want) in enumerate(zip([None, "A", "B", None, "C", None, "D"], expected,
                                               strict=True), start=1):
            inp.pipe_input(0, value, timestamp=ts)
            assert [(r.value, r.timestamp) for r in out.read_records_to_list()] == want


# ---------------------------------------------------------------- KStreamKStreamJoinTest


def pipe_keys(send: Any, prefix: str, keys: Any, timestamps: Any) -> None:
    for key, ts in zip(keys, timestamps, strict=True):
        send(key, f"{prefix}{key}", ts)


def test_inner_join_keeps_every_duplicate(harness_for: Any) -> None:
    join = harness_for("inner", JoinWindows.of_time_difference_with_no_grace(100))
    pipe_keys(join.left, "A", KEYS[:2], [0, 0])
    assert join.read() == []
    pipe_keys(join.right, "a", KEYS[:2], [0, 0])
    assert join.read() == [(0, "A0+a0", 0), (1, "A1+a1", 0)]
    pipe_keys(join.left, "B", KEYS, [0] * 4)
    assert join.read() == [(0, "B0+a0", 0), (1, "B1+a1", 0)]
    pipe_keys(join.right, "b", KEYS, [0] * 4)
    assert join.read() == [(0, "A0+b0", 0), (0, "B0+b0", 0), (1, "A1+b1", 0), (1, "B1+b1", 0),
                           (2, "B2+b2", 0), (3, "B3+b3", 0)]
    pipe_keys(join.left, "C", KEYS, [0] * 4)
    assert join.read() == [(0, "C0+a0", 0), (0, "C0+b0", 0), (1, "C1+a1", 0), (1, "C1+b1", 0),
                           (2, "C2+b2", 0), (3, "C3+b3", 0)]
    pipe_keys(join.right, "c", KEYS[:2], [0, 0])
    assert join.read() == [(0, "A0+c0", 0), (0, "B0+c0", 0), (0, "C0+c0", 0),
                           (1, "A1+c1", 0), (1, "B1+c1", 0), (1, "C1+c1", 0)]


def expect(letter: str, other: str, pairs: list[tuple[int, int]]) -> list[tuple[int, str, int]]:
    return [(key, f"{letter}{key}+{other}{key}", ts) for key, ts in pairs]


def test_windowing_bounds_and_out_of_order_records(harness_for: Any) -> None:
    """KStreamKStreamJoinTest.testWindowing: window 100 ms, no grace, both bounds inclusive."""
    join = harness_for("inner", JoinWindows.of_time_difference_with_no_grace(100))
    pipe_keys(join.left, "A", KEYS[:2], [0, 0])
    pipe_keys(join.right, "a", KEYS[:2], [0, 0])
    assert join.read() == expect("A", "a", [(0, 0), (1, 0)])
    pipe_keys(join.left, "B", KEYS, [1000, 1001, 1002, 1003])
    assert join.read() == []
    # Right records after the left ones: the upper bound, t_left + 100.
    steps = [("b", 1100, [(0, 1100), (1, 1100), (2, 1100), (3, 1100)]),
             ("c", 1101, [(1, 1101), (2, 1101), (3, 1101)]),
             ("d", 1102, [(2, 1102), (3, 1102)]),
             ("e", 1103, [(3, 1103)]),
             ("f", 1104, []),
             # Out of order, before the left ones: the lower bound, t_left - 100.
             ("g", 899, []),
             ("h", 900, [(0, 1000)]),
             ("i", 901, [(0, 1000), (1, 1001)]),
             ("j", 902, [(0, 1000), (1, 1001), (2, 1002)]),
             ("k", 903, [(0, 1000), (1, 1001), (2, 1002), (3, 1003)])]
    for letter, ts, pairs in steps:
        pipe_keys(join.right, letter, KEYS, [ts] * 4)
        assert join.read() == expect("B", letter, pairs), letter
    # The mirror image: left records against right ones at 2000..2003.
    pipe_keys(join.right, "l", KEYS, [2000, 2001, 2002, 2003])
    assert join.read() == []
    steps = [("C", 2100, [(0, 2100), (1, 2100), (2, 2100), (3, 2100)]),
             ("D", 2101, [(1, 2101), (2, 2101), (3, 2101)]),
             ("E", 2102, [(2, 2102), (3, 2102)]),
             ("F", 2103, [(3, 2103)]),
             ("G", 2104, []),
             ("H", 1899, []),
             ("I", 1900, [(0, 2000)]),
             ("J", 1901, [(0, 2000), (1, 2001)]),
             ("K", 1902, [(0, 2000), (1, 2001), (2, 2002)]),
             ("L", 1903, [(0, 2000), (1, 2001), (2, 2002), (3, 2003)])]
    for letter, ts, pairs in steps:
        pipe_keys(join.left, letter, KEYS, [ts] * 4)
        assert join.read() == [(k, f"{letter}{k}+l{k}", t) for k, t in pairs], letter
    # g..k (right, t <= 1104 - 200) and H..L (left, t <= 2104 - 200) are older than their
    # store keeps: not stored, counted as late, yet they still met the partners the other
    # store held, as in Kafka Streams.
    assert join.dropped() == {"late": 40}


@pytest.mark.parametrize("side", ["after", "before"])
def test_asymmetric_windows(harness_for: Any, side: str) -> None:
    """testAsymmetricWindowingAfter / Before: [t, t + 100] and [t - 100, t] for left records."""
    windows = JoinWindows.of_time_difference_with_no_grace(0)
    windows = windows.after(100) if side == "after" else windows.before(100)
    join = harness_for("inner", windows)
    pipe_keys(join.left, "A", KEYS, [1000, 1001, 1002, 1003])
    first = 999 if side == "after" else 899
    for offset, letter in enumerate("abcde"):
        pipe_keys(join.right, letter, KEYS, [first + offset] * 4)
        ts = first + offset
        if side == "after":
            pairs = [(k, ts) for k in KEYS if 1000 + k <= ts]
        else:
            pairs = [(k, 1000 + k) for k in KEYS if 1000 + k - 100 <= ts]
        assert join.read() == expect("A", letter, pairs), letter
    last = 1100 if side == "after" else 1000
    for offset, letter in enumerate("fghij"):
        ts = last + offset
        pipe_keys(join.right, letter, KEYS, [ts] * 4)
        live = [k for k in KEYS if 1000 + k >= ts - (100 if side == "after" else 0)]
        pairs = [(k, ts if side == "after" else 1000 + k) for k in live]
        assert join.read() == expect("A", letter, pairs), letter


# ---------------------------------------------------------------- left joins


def test_left_join_emits_unjoined_duplicates_once_the_window_closes(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_and_grace(100, 10))
    join.left(0, "A0", 0)
    join.left(0, "A0-0", 0)
    join.right(1, "a0", 111)
    join.right(2, "dummy", 500)
    assert join.read() == [(0, "A0+null", 0), (0, "A0-0+null", 0)]
    join.left(2, "A2", 1000)
    join.left(2, "A2-0", 1000)
    join.right(2, "a2", 1001)
    assert join.read() == [(2, "A2+a2", 1001), (2, "A2-0+a2", 1001)]
    join.right(3, "a3", 315)  # joined records never come out again
    assert join.read() == []


@pytest.mark.parametrize("trigger", ["left", "right"])
def test_either_side_emits_expired_left_records(harness_for: Any, trigger: str) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_and_grace(100, 0))
    join.left(0, "A0", 1)
    join.left(1, "A1", 2)
    join.left(0, "A0-0", 3)
    join.right(1, "a1", 3)
    assert join.read() == [(1, "A1+a1", 3)]
    getattr(join, trigger)(2, "dummy", 401)
    assert join.read() == [(0, "A0+null", 1), (0, "A0-0+null", 3)]
    (join.right if trigger == "left" else join.left)(2, "dummy", 402)
    assert join.read() == [(2, "dummy+dummy", 402)]


def test_right_records_never_come_out_of_a_left_join(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_with_no_grace(100))
    join.right(0, "A0", 1)
    join.right(1, "A1", 2)
    join.right(0, "A0-0", 3)
    join.left(1, "a1", 3)
    assert join.read() == [(1, "a1+A1", 3)]
    join.left(2, "dummy", 401)
    join.right(2, "dummy", 402)
    assert join.read() == [(2, "dummy+dummy", 402)]
    assert join.driver.metrics()["0_0"]["records_dropped"] == {}


def test_expired_results_come_before_the_record_that_expired_them(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_with_no_grace(100))
    join.left(0, "A0", 0)
    join.left(1, "A1", 100)
    assert join.read() == []
    join.right(1, "a1", 110)
    assert join.read() == [(0, "A0+null", 0), (1, "A1+a1", 110)]


def test_left_join_grace_holds_results_until_the_window_closes(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_and_grace(100, 10))
    join.left(0, "A0", 0)
    join.left(1, "A1", 0)
    pipe_keys(join.right, "a", KEYS, [101] * 4)  # ended (0 + 100) but not closed (+ 10)
    assert join.read() == []
    join.right(0, "dummy", 1201)
    assert join.read() == [(0, "A0+null", 0), (1, "A1+null", 0)]


def test_left_join_asymmetric_window_emits_when_its_own_bound_closes(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_with_no_grace(100).before(0))
    join.left(0, "A0", 0)
    join.left(1, "A1", 1)
    join.right(0, "a0", 100)
    assert join.read() == [(0, "A0+a0", 100)]
    join.right(1, "a1", 102)  # A1's window [1, 101] closed before a1
    assert join.read() == [(1, "A1+null", 1)]


def test_an_unjoined_record_already_behind_stream_time_comes_out_at_once(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_with_no_grace(100))
    join.left(0, "A0", 1000)
    join.left(1, "old", 500)  # its window [400, 600] is behind stream time 1000
    assert join.read() == [(1, "old+null", 500)]


# ---------------------------------------------------------------- outer joins


def test_outer_join_duplicates_on_both_sides(harness_for: Any) -> None:
    join = harness_for("outer", JoinWindows.of_time_difference_and_grace(100, 10),
                       right_serde=L64)
    join.left(0, "A0", 0)
    join.left(0, "A0-0", 0)
    join.right(1, 11, 0)
    join.right(1, 12, 0)
    join.right(1, 10, 111)
    join.right(3, 100, 211)
    # Same time: right before left, then key order.
    assert join.read() == [(1, "null+11", 0), (1, "null+12", 0), (0, "A0+null", 0),
                           (0, "A0-0+null", 0)]
    join.left(2, "A2", 200)
    join.left(2, "A2-0", 200)
    join.right(2, 13, 201)
    join.right(2, 14, 201)
    assert join.read() == [(2, "A2+13", 201), (2, "A2-0+13", 201), (2, "A2+14", 201),
                           (2, "A2-0+14", 201)]
    join.right(3, 100, 1500)
    assert join.read() == [(1, "null+10", 111), (3, "null+100", 211)]


def test_outer_join_grace_and_order(harness_for: Any) -> None:
    join = harness_for("outer", JoinWindows.of_time_difference_and_grace(100, 10),
                       right_serde=L64)
    join.left(0, "A0", 0)
    join.right(1, 11, 0)
    join.left(1, "A1", 101)
    join.right(0, 10, 101)
    assert join.read() == []
    join.right(0, 100, 112)  # 0 + 100 + 10 < 112: both waiting records at 0 are due
    assert join.read() == [(1, "null+11", 0), (0, "A0+null", 0)]


def test_outer_join_asymmetric_window_closes_each_side_by_its_own_bound(harness_for: Any) -> None:
    join = harness_for("outer", JoinWindows.of_time_difference_with_no_grace(5).after(20),
                       right_serde=L64)
    join.left(0, "A0", 29)
    join.left(1, "A1", 30)
    join.right(2, 12, 31)
    join.right(3, 13, 36)
    assert join.read() == []
    join.right(4, 14, 37)  # right records close after t + before (5)
    assert join.read() == [(2, "null+12", 31)]
    join.right(5, 15, 50)  # left records close after t + after (20)
    assert join.read() == [(0, "A0+null", 29), (3, "null+13", 36), (4, "null+14", 37)]


def test_outer_results_carry_the_headers_of_the_record_that_emitted_them() -> None:
    topology = join_topology("outer", JoinWindows.of_time_difference_with_no_grace(10))
    with TopologyTestDriver(topology) as driver:
        left = driver.create_input_topic("topic1", I32, S)
        out = driver.create_output_topic("out", I32, S)
        left.pipe_input(0, "A0", timestamp=0, headers={"h": b"first"})
        left.pipe_input(1, "A1", timestamp=100, headers={"h": b"second"})
        record = out.read_record()
    assert (record.key, record.value, record.timestamp) == (0, "A0+null", 0)
    assert dict(record.headers) == {"h": b"second"}


# ---------------------------------------------------------------- nulls, late records


def test_null_keys_and_values_are_dropped_counted_and_dead_lettered() -> None:
    topology = join_topology("inner", JoinWindows.of_time_difference_with_no_grace(10))
    with TopologyTestDriver(topology, config={"late_records_topic": "dropped"}) as driver:
        left = driver.create_input_topic("topic1", I32, S)
        right = driver.create_input_topic("topic2", I32, S)
        out = driver.create_output_topic("out", I32, S)
        dropped = driver.create_output_topic("dropped", Serdes.bytes(), Serdes.bytes())
        left.pipe_input(None, "A", timestamp=1)
        right.pipe_input(1, None, timestamp=2)
        left.pipe_input(1, "B", timestamp=3)
        right.pipe_input(1, "b", timestamp=4)
        assert out.read_values_to_list() == ["B+b"]
        records = dropped.read_records_to_list()
        metrics = driver.metrics()["0_0"]["records_dropped"]
    assert metrics == {"null_key": 1, "null_value": 1}
    assert [dict(r.headers)["__streams.dropped.reason"] for r in records] == [
        b"null_key", b"null_value"]
    assert [(r.value, dict(r.headers)["__streams.dropped.topic"]) for r in records] == [
        (b"A", b"topic1"), (None, b"topic2")]


def test_a_right_null_key_in_a_left_join_is_dropped(harness_for: Any) -> None:
    join = harness_for("left", JoinWindows.of_time_difference_with_no_grace(10))
    join.right(None, "r", 1)
    join.left(None, "l", 2)
    assert join.read() == [(None, "l+null", 2)]
    assert join.dropped() == {"null_key": 1}


def test_late_records_are_counted_and_written_to_the_late_topic_with_why() -> None:
    windows = JoinWindows.of_time_difference_and_grace(10, 5)  # size 20 + grace 5 = 25 kept
    topology = join_topology("inner", windows)
    with TopologyTestDriver(topology, config={"late_records_topic": "late"}) as driver:
        left = driver.create_input_topic("topic1", I32, S)
        right = driver.create_input_topic("topic2", I32, S)
        out = driver.create_output_topic("out", I32, S)
        late = driver.create_output_topic("late", Serdes.bytes(), Serdes.bytes())
        left.pipe_input(1, "A", timestamp=100)
        left.pipe_input(1, "B", timestamp=76)   # 76 + 25 > 100: still kept
        left.pipe_input(1, "C", timestamp=75)   # 75 + 25 <= 100: late
        right.pipe_input(1, "x", timestamp=80)  # meets B (and A is 20 away: outside 10)
        assert out.read_values_to_list() == ["B+x"]
        record = late.read_record()
        assert late.is_empty()
        metrics = driver.metrics()["0_0"]["records_dropped"]
    assert metrics == {"late": 1}
    headers = dict(record.headers)
    assert (record.value, record.timestamp) == (b"C", 75)
    assert headers["__streams.dropped.reason"] == b"late"
    assert headers["__streams.dropped.store"] == b"KSTREAM-JOINTHIS-0000000004-store"
    assert (headers["__streams.dropped.window_start"], headers["__streams.dropped.window_end"]) \
        == (b"75", b"95")
    assert headers["__streams.dropped.late_by_ms"] == b"0"  # closed at 95 + 5 = 100


def test_result_timestamp_is_the_later_of_the_two(harness_for: Any) -> None:
    join = harness_for("inner", JoinWindows.of_time_difference_with_no_grace(50))
    join.left(1, "A", 100)
    join.right(1, "a", 70)
    join.right(1, "b", 130)
    assert join.read() == [(1, "A+a", 100), (1, "A+b", 130)]


# ---------------------------------------------------------------- JoinWindows, StreamJoined


def test_join_windows_validation_follows_kafka() -> None:
    windows = JoinWindows.of_time_difference_and_grace(123, 1024)
    assert (windows.before_ms, windows.after_ms, windows.grace_ms, windows.size_ms) == (
        123, 123, 1024, 246)
    # before/after may go negative while the interval stays >= 0; grace is untouched.
    assert JoinWindows.of_time_difference_with_no_grace(456).before(-456).size_ms == 0
    assert JoinWindows.of_time_difference_with_no_grace(456).after(-123).after_ms == -123
    assert windows.before(5).grace_ms == 1024
    import datetime
    assert JoinWindows.of_time_difference_with_no_grace(datetime.timedelta(minutes=1)) \
        .before_ms == 60_000
    with pytest.raises(ValueError, match="must not be negative"):
        JoinWindows.of_time_difference_with_no_grace(-1)
    with pytest.raises(ValueError, match="grace"):
        JoinWindows.of_time_difference_and_grace(3, -1)
    with pytest.raises(ValueError, match="window interval"):
        JoinWindows.of_time_difference_with_no_grace(123).after(-124)
    with pytest.raises(ValueError, match="window interval"):
        JoinWindows.of_time_difference_with_no_grace(123).before(-124)
    with pytest.raises(TypeError):
        JoinWindows.of_time_difference_with_no_grace(1.5)  # type: ignore[arg-type]
    assert JoinWindows.of_time_difference_and_grace(3, 2) == JoinWindows.of_time_difference_and_grace(3, 2)


def test_join_arguments_are_checked() -> None:
    builder = StreamsBuilder()
    left, right = builder.stream("a"), builder.stream("b")
    windows = JoinWindows.of_time_difference_with_no_grace(1)
    with pytest.raises(TypeError, match="JoinWindows"):
        left.join(right, plus, None)
    with pytest.raises(TypeError, match="callable"):
        left.join(right, "not a joiner", windows)
    with pytest.raises(TypeError, match="KStream"):
        left.join(object(), plus, windows)
    with pytest.raises(TypeError, match="StreamJoined"):
        left.join(right, plus, windows, "x")
    with pytest.raises(TopologyException, match="same StreamsBuilder"):
        left.join(StreamsBuilder().stream("c"), plus, windows)


# ---------------------------------------------------------------- describe()

_INNER_NAMED = (
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic1])\n"
    "      --> KSTREAM-WINDOWED-0000000002\n"
    "    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic2])\n"
    "      --> KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-WINDOWED-0000000002 (stores: [custom-name-this-join-store])\n"
    "      --> KSTREAM-JOINTHIS-0000000004\n"
    "      <-- KSTREAM-SOURCE-0000000000\n"
    "    Processor: KSTREAM-WINDOWED-0000000003 (stores: [custom-name-other-join-store])\n"
    "      --> KSTREAM-JOINOTHER-0000000005\n"
    "      <-- KSTREAM-SOURCE-0000000001\n"
    "    Processor: KSTREAM-JOINOTHER-0000000005 (stores: [custom-name-this-join-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-JOINTHIS-0000000004 (stores: [custom-name-other-join-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000002\n"
    "    Processor: KSTREAM-MERGE-0000000006 (stores: [])\n"
    "      --> none\n"
    "      <-- KSTREAM-JOINTHIS-0000000004, KSTREAM-JOINOTHER-0000000005\n\n"
)

_LEFT_DEFAULT = (
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic1])\n"
    "      --> KSTREAM-WINDOWED-0000000002\n"
    "    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic2])\n"
    "      --> KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])\n"
    "      --> KSTREAM-JOINTHIS-0000000004\n"
    "      <-- KSTREAM-SOURCE-0000000000\n"
    "    Processor: KSTREAM-WINDOWED-0000000003 (stores: [KSTREAM-OUTEROTHER-0000000005-store])\n"
    "      --> KSTREAM-OUTEROTHER-0000000005\n"
    "      <-- KSTREAM-SOURCE-0000000001\n"
    "    Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-OUTEROTHER-0000000005-store, "
    "KSTREAM-OUTERSHARED-0000000004-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000002\n"
    "    Processor: KSTREAM-OUTEROTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store, "
    "KSTREAM-OUTERSHARED-0000000004-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-MERGE-0000000006 (stores: [])\n"
    "      --> none\n"
    "      <-- KSTREAM-JOINTHIS-0000000004, KSTREAM-OUTEROTHER-0000000005\n\n"
)

_OUTER_NAMED = (
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic1])\n"
    "      --> KSTREAM-WINDOWED-0000000002\n"
    "    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic2])\n"
    "      --> KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-WINDOWED-0000000002 (stores: [custom-name-outer-this-join-store])\n"
    "      --> KSTREAM-OUTERTHIS-0000000004\n"
    "      <-- KSTREAM-SOURCE-0000000000\n"
    "    Processor: KSTREAM-WINDOWED-0000000003 (stores: [custom-name-outer-other-join-store])\n"
    "      --> KSTREAM-OUTEROTHER-0000000005\n"
    "      <-- KSTREAM-SOURCE-0000000001\n"
    "    Processor: KSTREAM-OUTEROTHER-0000000005 (stores: [custom-name-outer-this-join-store, "
    "custom-name-outer-shared-join-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000003\n"
    "    Processor: KSTREAM-OUTERTHIS-0000000004 (stores: [custom-name-outer-other-join-store, "
    "custom-name-outer-shared-join-store])\n"
    "      --> KSTREAM-MERGE-0000000006\n"
    "      <-- KSTREAM-WINDOWED-0000000002\n"
    "    Processor: KSTREAM-MERGE-0000000006 (stores: [])\n"
    "      --> none\n"
    "      <-- KSTREAM-OUTERTHIS-0000000004, KSTREAM-OUTEROTHER-0000000005\n\n"
)


@pytest.mark.parametrize(("kind", "store_name", "expected"), [
    ("inner", "custom-name", _INNER_NAMED),
    ("left", None, _LEFT_DEFAULT),
    ("outer", "custom-name", _OUTER_NAMED),
])
def test_describe_matches_kafka_topology_test(kind: str, store_name: str | None,
                                              expected: str) -> None:
    builder = StreamsBuilder()
    left, right = builder.stream("input-topic1"), builder.stream("input-topic2")
    joined = StreamJoined.with_(I32, S, S)
    if store_name:
        joined = joined.with_store_name(store_name)
    {"inner": left.join, "left": left.left_join, "outer": left.outer_join}[kind](
        right, plus, JoinWindows.of_time_difference_with_no_grace(100), joined)
    topology = builder.build()
    assert topology.describe() == expected
    # Changelogs named after the stores; join stores keep every record (delete, not compact).
    this_store = topology.stores[topology.nodes["KSTREAM-WINDOWED-0000000002"].stores[0]]
    assert this_store.changelog_configs()["cleanup.policy"] == "delete"
    assert this_store.changelog in topology.internal_topics


_REUSED_REPARTITION = (
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: KSTREAM-SOURCE-0000000000 (topics: [topic])\n"
    "      --> KSTREAM-MAP-0000000003\n"
    "    Processor: KSTREAM-MAP-0000000003 (stores: [])\n"
    "      --> KSTREAM-FILTER-0000000005\n"
    "      <-- KSTREAM-SOURCE-0000000000\n"
    "    Processor: KSTREAM-FILTER-0000000005 (stores: [])\n"
    "      --> KSTREAM-SINK-0000000004\n"
    "      <-- KSTREAM-MAP-0000000003\n"
    "    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-MAP-0000000003-repartition)\n"
    "      <-- KSTREAM-FILTER-0000000005\n"
    "\n"
    "  Sub-topology: 1\n"
    "    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-MAP-0000000003-repartition])\n"
    "      --> KSTREAM-WINDOWED-0000000007, KSTREAM-WINDOWED-0000000016\n"
    "    Source: KSTREAM-SOURCE-0000000001 (topics: [topic2])\n"
    "      --> KSTREAM-WINDOWED-0000000008\n"
    "    Source: KSTREAM-SOURCE-0000000002 (topics: [topic3])\n"
    "      --> KSTREAM-WINDOWED-0000000017\n"
    "    Processor: KSTREAM-WINDOWED-0000000007 (stores: [KSTREAM-JOINTHIS-0000000009-store])\n"
    "      --> KSTREAM-JOINTHIS-0000000009\n"
    "      <-- KSTREAM-SOURCE-0000000006\n"
    "    Processor: KSTREAM-WINDOWED-0000000008 (stores: [KSTREAM-JOINOTHER-0000000010-store])\n"
    "      --> KSTREAM-JOINOTHER-0000000010\n"
    "      <-- KSTREAM-SOURCE-0000000001\n"
    "    Processor: KSTREAM-WINDOWED-0000000016 (stores: [KSTREAM-JOINTHIS-0000000018-store])\n"
    "      --> KSTREAM-JOINTHIS-0000000018\n"
    "      <-- KSTREAM-SOURCE-0000000006\n"
    "    Processor: KSTREAM-WINDOWED-0000000017 (stores: [KSTREAM-JOINOTHER-0000000019-store])\n"
    "      --> KSTREAM-JOINOTHER-0000000019\n"
    "      <-- KSTREAM-SOURCE-0000000002\n"
    "    Processor: KSTREAM-JOINOTHER-0000000010 (stores: [KSTREAM-JOINTHIS-0000000009-store])\n"
    "      --> KSTREAM-MERGE-0000000011\n"
    "      <-- KSTREAM-WINDOWED-0000000008\n"
    "    Processor: KSTREAM-JOINOTHER-0000000019 (stores: [KSTREAM-JOINTHIS-0000000018-store])\n"
    "      --> KSTREAM-MERGE-0000000020\n"
    "      <-- KSTREAM-WINDOWED-0000000017\n"
    "    Processor: KSTREAM-JOINTHIS-0000000009 (stores: [KSTREAM-JOINOTHER-0000000010-store])\n"
    "      --> KSTREAM-MERGE-0000000011\n"
    "      <-- KSTREAM-WINDOWED-0000000007\n"
    "    Processor: KSTREAM-JOINTHIS-0000000018 (stores: [KSTREAM-JOINOTHER-0000000019-store])\n"
    "      --> KSTREAM-MERGE-0000000020\n"
    "      <-- KSTREAM-WINDOWED-0000000016\n"
    "    Processor: KSTREAM-MERGE-0000000011 (stores: [])\n"
    "      --> KSTREAM-SINK-0000000012\n"
    "      <-- KSTREAM-JOINTHIS-0000000009, KSTREAM-JOINOTHER-0000000010\n"
    "    Processor: KSTREAM-MERGE-0000000020 (stores: [])\n"
    "      --> KSTREAM-SINK-0000000021\n"
    "      <-- KSTREAM-JOINTHIS-0000000018, KSTREAM-JOINOTHER-0000000019\n"
    "    Sink: KSTREAM-SINK-0000000012 (topic: out-one)\n"
    "      <-- KSTREAM-MERGE-0000000011\n"
    "    Sink: KSTREAM-SINK-0000000021 (topic: out-to)\n"
    "      <-- KSTREAM-MERGE-0000000020\n\n"
)


def test_a_rekeyed_stream_joined_twice_is_repartitioned_once() -> None:
    """KStreamKStreamJoinTest.shouldReuseRepartitionTopicWithGeneratedName."""
    builder = StreamsBuilder()
    stream1, stream2, stream3 = (builder.stream(t) for t in ("topic", "topic2", "topic3"))
    rekeyed = stream1.map(lambda key, value: (value, key))
    windows = JoinWindows.of_time_difference_with_no_grace(100)
    rekeyed.join(stream2, plus, windows).to("out-one")
    rekeyed.join(stream3, plus, windows).to("out-to")
    topology = builder.build()
    assert topology.describe() == _REUSED_REPARTITION
    assert sorted(map(sorted, topology.copartition_groups)) == [
        ["KSTREAM-MAP-0000000003-repartition", "topic2"],
        ["KSTREAM-MAP-0000000003-repartition", "topic3"],
    ]


def test_named_join_names_its_nodes_and_repartition_topics() -> None:
    builder = StreamsBuilder()
    left = builder.stream("topic1", key_serde=S, value_serde=S).select_key(lambda k, v: v)
    right = builder.stream("topic2", key_serde=S, value_serde=S)
    left.join(right, plus, JoinWindows.of_time_difference_with_no_grace(100),
              name="clicks").to("out")
    topology = builder.build()
    text = topology.describe()
    for node in ("clicks-left-repartition-sink", "clicks-left-repartition-source",
                 "clicks-this-windowed", "clicks-other-windowed", "clicks-this-join",
                 "clicks-other-join", "clicks-merge"):
        assert node in text
    assert "clicks-left-repartition" in topology.internal_topics
    # The generated names are still burnt: 0-2 streams and select_key, 3-5 the repartition.
    assert "KSTREAM-JOINTHIS-0000000006-store" in topology.stores


# ---------------------------------------------------------------- partitions


def test_auto_repartition_after_select_key_joins_by_the_new_key() -> None:
    builder = StreamsBuilder()
    orders = builder.stream("topic1", key_serde=S, value_serde=S) \
        .select_key(lambda key, value: value.split(":")[0])
    users = builder.stream("topic2", key_serde=S, value_serde=S)
    orders.join(users, plus, JoinWindows.of_time_difference_with_no_grace(100),
                StreamJoined.with_(S, S, S)).to("out", value_serde=S)
    topology = builder.build()
    assert "KSTREAM-KEY-SELECT-0000000001-repartition" in topology.internal_topics
    with TopologyTestDriver(topology) as driver:
        left = driver.create_input_topic("topic1", S, S, partitions=3)
        right = driver.create_input_topic("topic2", S, S, partitions=3)
        out = driver.create_output_topic("out", S, S)
        right.pipe_input("u1", "alice", timestamp=10)
        right.pipe_input("u2", "bob", timestamp=11)
        left.pipe_input("order-1", "u2:book", timestamp=12)
        left.pipe_input("order-2", "u1:pen", timestamp=13)
        assert sorted(out.read_key_values_to_list()) == [
            ("u1", "u1:pen+alice"), ("u2", "u2:book+bob")]


def test_topics_of_different_partition_counts_cannot_be_joined() -> None:
    topology = join_topology("inner", JoinWindows.of_time_difference_with_no_grace(10))
    with TopologyTestDriver(topology) as driver:
        left = driver.create_input_topic("topic1", I32, S, partitions=2)
        driver.create_input_topic("topic2", I32, S, partitions=3)
        with pytest.raises(TopologyException, match=r"not co-partitioned: \[topic1=2, topic2=3\]"):
            left.pipe_input(1, "A", timestamp=1)


def test_a_repartition_topic_in_a_join_takes_the_other_side_s_count() -> None:
    builder = StreamsBuilder()
    wide = builder.stream("wide").select_key(lambda k, v: v)  # its writer has 5 partitions
    narrow = builder.stream("narrow")
    wide.join(narrow, plus, JoinWindows.of_time_difference_with_no_grace(1)).to("out")
    topology = builder.build()
    topics = resolve_topics(topology, "app")
    counts = internal_partition_counts(topology, topics, {"wide": 5, "narrow": 2})
    assert counts["app-KSTREAM-KEY-SELECT-0000000001-repartition"] == 2
    # The join stores' changelogs follow the join's task count.
    assert counts["app-KSTREAM-JOINTHIS-0000000008-store-changelog"] == 2


# ---------------------------------------------------------------- property: an oracle


def inner_join_oracle(records: list[tuple[str, int, int, int]], windows: JoinWindows,
                      ) -> list[tuple[int, str, int]]:
    """The inner join by its definition: a record meets every earlier record of the other
    side, same key, whose time is within its window and which its store still holds (kept
    for size + grace behind that store's highest time, stored only if not already older)."""
    retention = max(1, windows.retention_ms)
    kept: dict[str, list[tuple[int, int, str]]] = {"L": [], "R": []}
    newest = {"L": -1, "R": -1}
    results = []
    for index, (side, key, ts, _value) in enumerate(records):
        other = "R" if side == "L" else "L"
        low, high = ((ts - windows.before_ms, ts + windows.after_ms) if side == "L"
                     else (ts - windows.after_ms, ts + windows.before_ms))
        low = max(low, 0, newest[other] - retention + 1)
        for other_ts, other_key, name in sorted(kept[other], key=lambda e: e[0]):
            if other_key == key and low <= other_ts <= max(high, 0):
                pair = (f"L{index}", name) if side == "L" else (name, f"R{index}")
                results.append((key, f"{pair[0]}+{pair[1]}", max(ts, other_ts)))
        if ts > newest[side] - retention:
            kept[side].append((ts, key, f"{side}{index}"))
            newest[side] = max(newest[side], ts)
    return results


record_lists = st.lists(
    st.tuples(st.sampled_from("LR"), st.integers(0, 2), st.integers(0, 60), st.just(0)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(records=record_lists, before=st.integers(0, 12), after=st.integers(0, 12),
       grace=st.integers(0, 15))
def test_inner_join_matches_the_oracle(records: list[tuple[str, int, int, int]], before: int,
                                       after: int, grace: int) -> None:
    windows = JoinWindows.of_time_difference_and_grace(0, grace).before(before).after(after)
    with TopologyTestDriver(join_topology("inner", windows)) as driver:
        inputs = {"L": driver.create_input_topic("topic1", I32, S),
                  "R": driver.create_input_topic("topic2", I32, S)}
        out = driver.create_output_topic("out", I32, S)
        for index, (side, key, ts, _value) in enumerate(records):
            inputs[side].pipe_input(key, f"{side}{index}", timestamp=ts)
        got = [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()]
    assert got == inner_join_oracle(records, windows)


@settings(max_examples=100, deadline=None)
@given(records=record_lists, difference=st.integers(0, 10), grace=st.integers(0, 10))
def test_outer_join_emits_every_record_exactly_once_unless_joined(
        records: list[tuple[str, int, int, int]], difference: int, grace: int) -> None:
    """In-order input: every record either joins or comes out alone exactly once, after its
    window closed (a final record far in the future closes them all)."""
    records = sorted(records, key=lambda r: r[2])
    windows = JoinWindows.of_time_difference_and_grace(difference, grace)
    with TopologyTestDriver(join_topology("outer", windows)) as driver:
        inputs = {"L": driver.create_input_topic("topic1", I32, S),
                  "R": driver.create_input_topic("topic2", I32, S)}
        out = driver.create_output_topic("out", I32, S)
        for index, (side, key, ts, _value) in enumerate(records):
            inputs[side].pipe_input(key, f"{side}{index}", timestamp=ts)
        inputs["L"].pipe_input(99, "end", timestamp=10_000)
        got = [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()]
    joined = [g for g in got if "null" not in g[1]]
    assert joined == inner_join_oracle(records, windows)
    names_in_pairs = {name for _k, value, _t in joined for name in value.split("+")}
    alone = [(k, value.replace("+null", "").replace("null+", ""), t) for k, value, t in got
             if "null" in value]
    assert sorted(alone) == sorted(
        (key, f"{side}{index}", ts) for index, (side, key, ts, _v) in enumerate(records)
        if f"{side}{index}" not in names_in_pairs)
    # Alone records come out in time order.
    assert [t for _k, _v, t in alone] == sorted(t for _k, _v, t in alone)


# ---------------------------------------------------------------- a real broker

_names = itertools.count()


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from conftest import BrokerProcess

    broker = BrokerProcess(
        tmp_path_factory.mktemp("join-broker"), {"group.initial.rebalance.delay.ms": "0"}
    ).start()
    try:
        yield broker.bootstrap
    finally:
        broker.kill()


async def test_a_join_app_on_a_broker_joins_clicks_with_views(bootstrap: str,
                                                               tmp_path: Path) -> None:
    from flowlog.client import Admin, Consumer, NewTopic, Producer, TopicPartition
    from flowlog_streams import StreamsApp

    run = next(_names)
    views, clicks, out = f"views-{run}", f"clicks-{run}", f"joined-{run}"
    async with Admin(bootstrap) as admin:
        await admin.create_topics([NewTopic(views, 2), NewTopic(clicks, 2), NewTopic(out, 1)])
    async with Producer(bootstrap) as producer:
        for i in range(50):
            await producer.send(views, b"view%d" % i, key=b"u%d" % i, timestamp_ms=10_000 + i)
            # Every even user clicks 5 s after the view (within 10 s); odd users 20 s later.
            delay = 5_000 if i % 2 == 0 else 20_000
            await producer.send(clicks, b"click%d" % i, key=b"u%d" % i,
                                timestamp_ms=10_000 + i + delay)
    builder = StreamsBuilder()
    builder.stream(views, key_serde=S, value_serde=S).join(
        builder.stream(clicks, key_serde=S, value_serde=S), dash,
        JoinWindows.of_time_difference_with_no_grace(10_000),
    ).to(out, value_serde=S)
    app = StreamsApp(builder.build(), application_id=f"join-app-{run}", bootstrap=bootstrap,
                     state_dir=str(tmp_path), commit_interval_ms=100)
    found: list[Any] = []
    async with app:
        with trio.fail_after(30):
            async with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
                consumer.assign([TopicPartition(out, 0)])
                while len(found) < 25:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        found.extend(records)
    assert sorted((r.key, r.value) for r in found) == sorted(
        (b"u%d" % i, b"view%d-click%d" % (i, i)) for i in range(0, 50, 2))
    by_key = {r.key: r.timestamp for r in found}
    assert by_key[b"u0"] == 15_000  # the later of the two

    # The same app on an empty state dir restores the join stores from their changelogs:
    # a late click of u1 still meets the view stored before the restart.
    async with Producer(bootstrap) as producer:
        await producer.send(clicks, b"again", key=b"u1", timestamp_ms=10_001 + 9_000)
    app = StreamsApp(builder.build(), application_id=f"join-app-{run}", bootstrap=bootstrap,
                     state_dir=str(tmp_path / "fresh"), commit_interval_ms=100)
    async with app:
        with trio.fail_after(30):
            async with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
                consumer.assign([TopicPartition(out, 0)])
                consumer.seek(TopicPartition(out, 0), len(found))
                more: list[Any] = []
                while not more:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        more.extend(records)
    assert [(r.key, r.value, r.timestamp) for r in more] == [(b"u1", b"view1-again", 19_001)]
