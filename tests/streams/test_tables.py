"""Tables: builder.table, filter / filter_not / map_values, and re-aggregation (KGroupedTable)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog_streams import Materialized, Serdes, StreamsBuilder
from flowlog_streams.aggregate_processors import Change
from flowlog_streams.change_serde import ChangeSerde
from flowlog_streams.errors import SerializationError
from flowlog_streams.testing import TopologyTestDriver

S = Serdes.str()


def table_driver(build: Any, config: dict[str, Any] | None = None) -> TopologyTestDriver:
    builder = StreamsBuilder()
    build(builder, builder.table("in", key_serde=S, value_serde=Serdes.long()))
    return TopologyTestDriver(builder.build(), {"cache_max_bytes": 0, **(config or {})})


def test_a_source_table_keeps_the_latest_value_and_deletes_on_tombstones() -> None:
    def build(builder: StreamsBuilder, table: Any) -> None:
        table.to_stream().to("out", key_serde=S, value_serde=Serdes.long())

    with table_driver(build) as driver:
        source = driver.create_input_topic("in", S, Serdes.long())
        out = driver.create_output_topic("out", S, Serdes.long())
        source.pipe_input("a", 1, timestamp=1)
        source.pipe_input("a", 2, timestamp=2)
        source.pipe_input("b", None, timestamp=3)  # deleting a key never seen: nothing
        source.pipe_input("a", None, timestamp=4)
        source.pipe_input(None, 5, timestamp=5)  # no key: dropped and counted
        assert [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("a", 1, 1), ("a", 2, 2), ("a", None, 4),
        ]
        assert driver.metrics()["0_0"]["records_dropped"] == {"null_key": 1}


def test_the_source_topic_is_the_changelog() -> None:
    builder = StreamsBuilder()
    builder.table("users", key_serde=S, value_serde=S, materialized=Materialized.as_("users-store"))
    topology = builder.build()
    assert topology.stores["users-store"].changelog == "users"
    assert not topology.internal_topics  # no extra changelog topic


def test_filter_and_filter_not_emit_deletes_only_for_rows_that_leave() -> None:
    def build(builder: StreamsBuilder, table: Any) -> None:
        table.filter(lambda k, v: v % 2 == 0).to_stream().to("even", key_serde=S,
                                                             value_serde=Serdes.long())
        table.filter_not(lambda k, v: v % 2 == 0, Materialized.as_("odd")).to_stream().to(
            "odd", key_serde=S, value_serde=Serdes.long())

    with table_driver(build) as driver:
        source = driver.create_input_topic("in", S, Serdes.long())
        even = driver.create_output_topic("even", S, Serdes.long())
        odd = driver.create_output_topic("odd", S, Serdes.long())
        for key, value in [("a", 1), ("a", 3), ("a", 4), ("a", 6), ("a", 7), ("b", 2)]:
            source.pipe_input(key, value)
        assert even.read_key_values_to_list() == [("a", 4), ("a", 6), ("a", None), ("b", 2)]
        assert odd.read_key_values_to_list() == [("a", 1), ("a", 3), ("a", None), ("a", 7)]


def test_map_values_carries_old_values_to_a_regrouping() -> None:
    # Tens digit as group: moving a value between groups subtracts it from the old one.
    def build(builder: StreamsBuilder, table: Any) -> None:
        (table.map_values(lambda v: v // 10)
            .group_by(lambda k, tens: (str(tens), k), key_serde=S, value_serde=S)
            .count()
            .to_stream().to("counts", key_serde=S, value_serde=Serdes.long()))

    with table_driver(build) as driver:
        source = driver.create_input_topic("in", S, Serdes.long())
        counts = driver.create_output_topic("counts", S, Serdes.long())
        source.pipe_input("a", 11)
        source.pipe_input("b", 12)
        source.pipe_input("a", 25)  # a moves from group 1 to group 2
        source.pipe_input("b", None)  # b leaves group 1
        assert counts.read_key_values_to_list() == [
            ("1", 1), ("1", 2), ("1", 1), ("2", 1), ("1", 0),
        ]


def test_reduce_and_aggregate_use_kafka_argument_orders() -> None:
    def build(builder: StreamsBuilder, table: Any) -> None:
        grouped = table.group_by(lambda k, v: (k[0], v), key_serde=S, value_serde=Serdes.long())
        grouped.reduce(lambda agg, v: agg + v, lambda agg, v: agg - v).to_stream().to(
            "sums", key_serde=S, value_serde=Serdes.long())
        grouped.aggregate(lambda: "", lambda k, v, agg: agg + f"+{v}",
                          lambda k, v, agg: agg + f"-{v}",
                          Materialized.as_("trail").with_value_serde(S)).to_stream().to(
            "trail", key_serde=S, value_serde=S)

    with table_driver(build) as driver:
        source = driver.create_input_topic("in", S, Serdes.long())
        sums = driver.create_output_topic("sums", S, Serdes.long())
        trail = driver.create_output_topic("trail", S, S)
        source.pipe_input("x1", 5)
        source.pipe_input("x2", 7)
        source.pipe_input("x1", 1)  # same group: one record, subtract 5 then add 1
        assert sums.read_key_values_to_list() == [("x", 5), ("x", 12), ("x", 8)]
        assert trail.read_key_values_to_list() == [("x", "+5"), ("x", "+5+7"), ("x", "+5+7-5+1")]


def test_change_serde_round_trips_and_rejects_garbage() -> None:
    serde = ChangeSerde(S)
    for change in (Change("new", "old"), Change("new", None), Change(None, "old"), Change("", "")):
        assert serde.deserialize("t", serde.serialize("t", change)) == change
    with pytest.raises(SerializationError):
        serde.deserialize("t", b"\x09\x00")
    with pytest.raises(SerializationError):
        serde.deserialize("t", b"\x01\x00\x00\x00\x09ab")


@settings(max_examples=60, deadline=None)
@given(st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3", "u4"]),
              st.one_of(st.none(), st.sampled_from(["eu", "us", "apac"]))),
    max_size=40,
))
def test_property_regrouped_counts_match_a_model(updates: list[tuple[str, str | None]]) -> None:
    """Users move between regions (and leave): each region's count is always exact."""
    builder = StreamsBuilder()
    users = builder.table("users", key_serde=S, value_serde=S)
    (users.group_by(lambda user, region: (region, user), key_serde=S, value_serde=S)
        .count(Materialized.as_("per-region"))
        .to_stream().to("per-region", key_serde=S, value_serde=Serdes.long()))
    with TopologyTestDriver(builder.build()) as driver:  # caching on: emitted per commit
        source = driver.create_input_topic("users", S, S, partitions=3)
        out = driver.create_output_topic("per-region", S, Serdes.long())
        model: dict[str, str] = {}
        for user, region in updates:
            source.pipe_input(user, region)
            if region is None:
                model.pop(user, None)
            else:
                model[user] = region
        latest: dict[str, int] = {}
        for key, count in out.read_key_values_to_list():
            latest[key] = count
        expected = Counter(model.values())
        assert {r: c for r, c in latest.items() if c} == dict(expected)
        assert all(c >= 0 for c in latest.values())
