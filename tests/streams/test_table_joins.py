"""Stream-table, stream-globaltable and table-table joins against Kafka Streams' semantics.

One key, a left and a right input, records in the order below (`None` is a
tombstone for a table, a null value for a stream); after each record the
join's output is exactly the list given (value, timestamp), or nothing.
The expected results follow Kafka Streams' join-semantics tables for an
unversioned table with the record cache off (`cache_max_bytes=0`);
`joiner(l, r) = f"{l}-{r}"`, None printed as "null".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flowlog_streams import Materialized, Serdes, StreamsBuilder
from flowlog_streams.errors import TopologyException
from flowlog_streams.testing import TopologyTestDriver

L, R = "left", "right"
KEY = 0

# (input, value, timestamp): the same sequence for every join kind, out-of-order tail included.
SEQUENCE = [
    (L, None, 1), (R, None, 2), (L, "A", 3), (R, "a", 4), (L, "B", 5), (R, "b", 6),
    (L, None, 7), (R, None, 8), (L, "C", 9), (R, "c", 10), (R, None, 11), (L, None, 12),
    (R, None, 13), (R, "d", 7), (L, "D", 6), (L, None, 2), (R, None, 3), (R, "e", 14),
    (L, "E", 15), (L, None, 10), (R, None, 9), (L, "F", 4), (R, "f", 3),
]

Out = list[tuple[str | None, int]]
N: Out = []

STREAM_TABLE_INNER: list[Out] = [
    N, N, N, N, [("B-a", 5)], N, N, N, N, N, N, N, N, N, [("D-d", 6)], N, N, N,
    [("E-e", 15)], N, N, N, N,
]
STREAM_TABLE_LEFT: list[Out] = [
    N, N, [("A-null", 3)], N, [("B-a", 5)], N, N, N, [("C-null", 9)], N, N, N, N, N,
    [("D-d", 6)], N, N, N, [("E-e", 15)], N, N, [("F-null", 4)], N,
]
TABLE_TABLE_INNER: list[Out] = [
    N, N, N, [("A-a", 4)], [("B-a", 5)], [("B-b", 6)], [(None, 7)], N, N, [("C-c", 10)],
    [(None, 11)], N, N, N, [("D-d", 7)], [(None, 7)], N, N, [("E-e", 15)], [(None, 14)], N, N,
    [("F-f", 4)],
]
TABLE_TABLE_LEFT: list[Out] = [
    N, N, [("A-null", 3)], [("A-a", 4)], [("B-a", 5)], [("B-b", 6)], [(None, 7)], N,
    [("C-null", 9)], [("C-c", 10)], [("C-null", 11)], [(None, 12)], N, N, [("D-d", 7)],
    [(None, 7)], N, N, [("E-e", 15)], [(None, 14)], N, [("F-null", 4)], [("F-f", 4)],
]
TABLE_TABLE_OUTER: list[Out] = [
    N, N, [("A-null", 3)], [("A-a", 4)], [("B-a", 5)], [("B-b", 6)], [("null-b", 7)],
    [(None, 8)], [("C-null", 9)], [("C-c", 10)], [("C-null", 11)], [(None, 12)], N,
    [("null-d", 7)], [("D-d", 7)], [("null-d", 7)], [(None, 3)], [("null-e", 14)],
    [("E-e", 15)], [("null-e", 14)], [(None, 9)], [("F-null", 4)], [("F-f", 4)],
]


def joiner(left: Any, right: Any) -> str:
    return f"{'null' if left is None else left}-{'null' if right is None else right}"


def run(build: Callable[[StreamsBuilder], None], expected: list[Out],
        sequence: list[tuple[str, str | None, int]] = SEQUENCE) -> None:
    builder = StreamsBuilder()
    build(builder)
    with TopologyTestDriver(builder.build(), {"cache_max_bytes": 0}) as driver:
        inputs = {side: driver.create_input_topic(side, Serdes.long(), Serdes.str())
                  for side in (L, R)}
        out = driver.create_output_topic("out", Serdes.long(), Serdes.str())
        for step, ((side, value, timestamp), want) in enumerate(zip(sequence, expected, strict=True)):
            inputs[side].pipe_input(KEY, value, timestamp=timestamp)
            got = [(r.value, r.timestamp) for r in out.read_records_to_list()]
            assert got == want, f"step {step}: {side} {value!r} @{timestamp}"


def stream_table(kind: str) -> Callable[[StreamsBuilder], None]:
    def build(builder: StreamsBuilder) -> None:
        stream = builder.stream(L, key_serde=Serdes.long(), value_serde=Serdes.str())
        table = builder.table(R, key_serde=Serdes.long(), value_serde=Serdes.str())
        getattr(stream, kind)(table, joiner).to("out", key_serde=Serdes.long(),
                                                 value_serde=Serdes.str())

    return build


def table_table(kind: str, materialized: bool) -> Callable[[StreamsBuilder], None]:
    def build(builder: StreamsBuilder) -> None:
        left = builder.table(L, key_serde=Serdes.long(), value_serde=Serdes.str())
        right = builder.table(R, key_serde=Serdes.long(), value_serde=Serdes.str())
        store = Materialized.as_("joined").with_value_serde(Serdes.str()) if materialized else None
        getattr(left, kind)(right, joiner, store).to_stream().to(
            "out", key_serde=Serdes.long(), value_serde=Serdes.str()
        )

    return build


@pytest.mark.parametrize(("kind", "expected"), [
    ("join", STREAM_TABLE_INNER), ("left_join", STREAM_TABLE_LEFT),
])
def test_stream_table_join_semantics(kind: str, expected: list[Out]) -> None:
    run(stream_table(kind), expected)


@pytest.mark.parametrize("materialized", [False, True])
@pytest.mark.parametrize(("kind", "expected"), [
    ("join", TABLE_TABLE_INNER), ("left_join", TABLE_TABLE_LEFT),
    ("outer_join", TABLE_TABLE_OUTER),
])
def test_table_table_join_semantics(kind: str, expected: list[Out], materialized: bool) -> None:
    run(table_table(kind, materialized), expected)


def test_stream_global_table_join_maps_keys_and_never_repartitions() -> None:
    builder = StreamsBuilder()
    metrics = builder.stream("metrics", key_serde=Serdes.str(), value_serde=Serdes.json())
    limits = builder.global_table("limits", key_serde=Serdes.str(), value_serde=Serdes.json())
    mapper = lambda key, value: value["metric"]  # noqa: E731  (host|metric -> metric)
    metrics.join(limits, mapper, lambda v, t: [v["value"], t["max"]]).to(
        "inner", key_serde=Serdes.str(), value_serde=Serdes.json())
    metrics.left_join(limits, mapper, lambda v, t: [v["value"], t and t["max"]]).to(
        "left", key_serde=Serdes.str(), value_serde=Serdes.json())
    topology = builder.build()
    assert not topology.internal_topics  # no repartition, no changelog
    assert "for global store (will not generate tasks)" in topology.describe()
    with TopologyTestDriver(topology) as driver:
        metrics_in = driver.create_input_topic("metrics", Serdes.str(), Serdes.json(), partitions=3)
        limits_in = driver.create_input_topic("limits", Serdes.str(), Serdes.json())
        inner = driver.create_output_topic("inner", Serdes.str(), Serdes.json())
        left = driver.create_output_topic("left", Serdes.str(), Serdes.json())
        metrics_in.pipe_input("h1|cpu", {"metric": "cpu", "value": 1}, timestamp=1)
        limits_in.pipe_input("cpu", {"max": 90}, timestamp=2)
        for host in ("h1", "h2", "h3"):  # every partition sees the whole table
            metrics_in.pipe_input(f"{host}|cpu", {"metric": "cpu", "value": 2}, timestamp=3)
        limits_in.pipe_input("cpu", None, timestamp=4)
        metrics_in.pipe_input("h1|cpu", {"metric": "cpu", "value": 3}, timestamp=5)
        assert inner.read_key_values_to_list() == [
            (f"{h}|cpu", [2, 90]) for h in ("h1", "h2", "h3")
        ]
        assert left.read_key_values_to_list() == [
            ("h1|cpu", [1, None]), *((f"{h}|cpu", [2, 90]) for h in ("h1", "h2", "h3")),
            ("h1|cpu", [3, None]),
        ]


def test_null_keys_and_values_are_dropped_and_counted() -> None:
    builder = StreamsBuilder()
    stream = builder.stream(L, key_serde=Serdes.str(), value_serde=Serdes.str())
    table = builder.table(R, key_serde=Serdes.str(), value_serde=Serdes.str())
    stream.join(table, joiner).to("inner-out", key_serde=Serdes.str(), value_serde=Serdes.str())
    stream.left_join(table, joiner).to("left-out", key_serde=Serdes.str(), value_serde=Serdes.str())
    with TopologyTestDriver(builder.build(), {"cache_max_bytes": 0}) as driver:
        left_in = driver.create_input_topic(L, Serdes.str(), Serdes.str())
        right_in = driver.create_input_topic(R, Serdes.str(), Serdes.str())
        inner = driver.create_output_topic("inner-out", Serdes.str(), Serdes.str())
        left = driver.create_output_topic("left-out", Serdes.str(), Serdes.str())
        right_in.pipe_input(None, "x", timestamp=1)  # a table record without key: dropped
        left_in.pipe_input(None, "v", timestamp=2)  # inner drops it; left joins it with None
        left_in.pipe_input("k", None, timestamp=3)  # a null value: dropped by both
        assert inner.read_key_values_to_list() == []
        assert left.read_key_values_to_list() == [(None, "v-null")]
        dropped = driver.metrics()["0_0"]["records_dropped"]
        assert dropped == {"null_key": 2, "null_value": 2}


def test_table_updates_never_trigger_stream_table_output() -> None:
    builder = StreamsBuilder()
    stream = builder.stream(L, key_serde=Serdes.str(), value_serde=Serdes.str())
    table = builder.table(R, key_serde=Serdes.str(), value_serde=Serdes.str())
    stream.join(table, joiner).to("out", key_serde=Serdes.str(), value_serde=Serdes.str())
    with TopologyTestDriver(builder.build()) as driver:
        left_in = driver.create_input_topic(L, Serdes.str(), Serdes.str())
        right_in = driver.create_input_topic(R, Serdes.str(), Serdes.str())
        out = driver.create_output_topic("out", Serdes.str(), Serdes.str())
        left_in.pipe_input("k", "v1", timestamp=1)
        right_in.pipe_input("k", "t1", timestamp=2)
        right_in.pipe_input("k", "t2", timestamp=3)
        assert out.read_key_values_to_list() == []
        left_in.pipe_input("k", "v2", timestamp=4)
        assert out.read_key_values_to_list() == [("k", "v2-t2")]


def test_a_rekeyed_stream_is_repartitioned_before_the_join() -> None:
    builder = StreamsBuilder()
    views = builder.stream("views", key_serde=Serdes.str(), value_serde=Serdes.str())
    users = builder.table("users", key_serde=Serdes.str(), value_serde=Serdes.str())
    (views.select_key(lambda k, v: v)
        .join(users, lambda page_user, region: region)
        .to("out", key_serde=Serdes.str(), value_serde=Serdes.str()))
    topology = builder.build()
    assert any(t.endswith("-repartition") for t in topology.internal_topics)
    with TopologyTestDriver(topology) as driver:
        views_in = driver.create_input_topic("views", Serdes.str(), Serdes.str(), partitions=2)
        users_in = driver.create_input_topic("users", Serdes.str(), Serdes.str(), partitions=2)
        out = driver.create_output_topic("out", Serdes.str(), Serdes.str())
        users_in.pipe_input("alice", "eu", timestamp=1)
        users_in.pipe_input("bob", "us", timestamp=1)
        views_in.pipe_input("/home", "alice", timestamp=2)
        views_in.pipe_input("/about", "bob", timestamp=3)
        assert out.read_key_values_to_list() == [("alice", "eu"), ("bob", "us")]


def test_co_partitioning_is_checked() -> None:
    builder = StreamsBuilder()
    stream = builder.stream(L, key_serde=Serdes.str(), value_serde=Serdes.str())
    table = builder.table(R, key_serde=Serdes.str(), value_serde=Serdes.str())
    stream.join(table, joiner).to("out")
    with TopologyTestDriver(builder.build()) as driver:
        left_in = driver.create_input_topic(L, Serdes.str(), Serdes.str(), partitions=2)
        driver.create_input_topic(R, Serdes.str(), Serdes.str(), partitions=3)
        with pytest.raises(TopologyException, match=r"not co-partitioned: \[left=2, right=3\]"):
            left_in.pipe_input("k", "v")


def test_join_argument_errors() -> None:
    builder = StreamsBuilder()
    stream = builder.stream(L)
    table = builder.table(R)
    with pytest.raises(TypeError, match="KTable or GlobalKTable"):
        stream.join(42, joiner)
    with pytest.raises(TopologyException, match="joiner"):
        stream.join(table, "nope")
    with pytest.raises(TopologyException, match="joins another KTable"):
        table.join(stream, joiner)  # type: ignore[arg-type]


def test_a_record_the_join_drops_goes_to_the_late_records_topic() -> None:
    builder = StreamsBuilder()
    stream = builder.stream(L, key_serde=Serdes.str(), value_serde=Serdes.str())
    table = builder.table(R, key_serde=Serdes.str(), value_serde=Serdes.str(),
                          materialized=Materialized.as_("right-store"))
    stream.join(table, joiner).to("out", key_serde=Serdes.str(), value_serde=Serdes.str())
    with TopologyTestDriver(builder.build(), {"late_records_topic": "invalid"}) as driver:
        left_in = driver.create_input_topic(L, Serdes.str(), Serdes.str())
        invalid = driver.create_output_topic("invalid", Serdes.bytes(), Serdes.bytes())
        left_in.pipe_input("k", None, timestamp=7)
        record = invalid.read_record()
    headers = dict(record.headers)
    assert (record.key, record.value, record.timestamp) == (b"k", None, 7)
    assert headers["__streams.dropped.reason"] == b"null_value"
    assert headers["__streams.dropped.store"] == b"right-store"
    assert headers["__streams.dropped.topic"] == L.encode()
