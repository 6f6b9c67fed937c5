"""TopologyTestDriver: input and output topics, timestamps, several partitions, topology errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol.murmur2 import partition_for_key
from flowlog_streams import (
    Processor,
    Record,
    Serdes,
    StreamsBuilder,
    StreamsException,
    Topology,
    TopologyException,
)
from flowlog_streams.testing import NoSuchElementError, TestRecord, TopologyTestDriver

S = Serdes.str()


def pass_through() -> Topology:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).to("out", key_serde=S, value_serde=S)
    return builder.build()


class Where(Processor):
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def process(self, record: Record) -> None:
        ctx = self.context
        self.log.append((str(ctx.task_id), ctx.partition, ctx.offset, record.key, record.value))


def where_topology(log: list[Any]) -> Topology:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(lambda: Where(log))
    return builder.build()


# ---------------------------------------------------------------- output topics


def test_reading_an_empty_output_raises_no_such_element() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        out = driver.create_output_topic("out", S, S)
        assert out.is_empty()
        assert out.get_queue_size() == 0
        with pytest.raises(NoSuchElementError, match="output topic 'out' is empty"):
            out.read_record()
        with pytest.raises(NoSuchElementError):
            out.read_value()
        with pytest.raises(NoSuchElementError):
            out.read_key_value()
        with pytest.raises(NoSuchElementError, match="'never-written' is empty"):
            driver.create_output_topic("never-written", S, S).read_value()
        assert out.read_records_to_list() == []
        assert out.read_key_values_to_map() == {}


def test_reads_consume_records_in_order() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_key_value_list([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")])
        assert out.get_queue_size() == 5
        assert out.read_value() == "1"
        assert out.read_key_value() == ("b", "2")
        assert out.read_record() == TestRecord("c", "3", 0, ())
        assert out.get_queue_size() == 2
        assert not out.is_empty()
        assert out.read_key_values_to_list() == [("d", "4"), ("e", "5")]
        assert out.is_empty()
        assert driver.producer_count("out") == 5  # everything ever written


def test_output_topic_objects_share_one_queue_and_see_earlier_records() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        driver.create_input_topic("in", S, S).pipe_value_list(["1", "2"])
        first = driver.create_output_topic("out", S, S)  # created after the writes
        second = driver.create_output_topic("out", S, Serdes.bytes())
        assert first.read_value() == "1"
        assert second.read_value() == b"2"
        assert first.is_empty() and second.is_empty()


def test_read_key_values_to_map_keeps_the_last_value_and_tombstones() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_key_value_list([("a", "1"), ("b", "2"), ("a", "3"), ("b", None), ("c", None)])
        assert out.read_key_values_to_map() == {"a": "3", "b": None, "c": None}
        assert out.is_empty()
        inp.pipe_input(None, "no key")
        with pytest.raises(StreamsException, match="a record has a null key"):
            out.read_key_values_to_map()


def test_read_values_to_list_keeps_tombstones() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        driver.create_input_topic("in", S, S).pipe_key_value_list([("a", None), ("a", "x")])
        assert driver.create_output_topic("out", S, S).read_values_to_list() == [None, "x"]


# ---------------------------------------------------------------- input topics


def test_pipe_variants() -> None:
    with TopologyTestDriver(pass_through(), start_time_ms=500) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value("only value")
        inp.pipe_value("timed", timestamp=7)
        inp.pipe_value_list(["v1", "v2"])
        inp.pipe_key_value_list([("k1", "a"), ("k2", None)])
        inp.pipe_records([
            TestRecord("r1", "x", 11, (("h", b"1"),)),
            TestRecord("r2", "y"),
        ])
        inp.pipe_input("m", "map headers", headers={"a": b"1", "b": None})
        assert out.read_records_to_list() == [
            TestRecord(None, "only value", 500, ()),
            TestRecord(None, "timed", 7, ()),
            TestRecord(None, "v1", 500, ()),
            TestRecord(None, "v2", 500, ()),
            TestRecord("k1", "a", 500, ()),
            TestRecord("k2", None, 500, ()),
            TestRecord("r1", "x", 11, (("h", b"1"),)),
            TestRecord("r2", "y", 500, ()),
            TestRecord("m", "map headers", 500, (("a", b"1"), ("b", None))),
        ]


def test_default_timestamp_is_the_driver_wall_clock() -> None:
    with TopologyTestDriver(pass_through(), start_time_ms=1_000) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value("a")
        driver.advance_wall_clock_time(250)
        inp.pipe_value("b")
        assert [r.timestamp for r in out.read_records_to_list()] == [1_000, 1_250]


def test_start_timestamp_and_auto_advance() -> None:
    with TopologyTestDriver(pass_through(), start_time_ms=99_999) as driver:
        inp = driver.create_input_topic("in", S, S, start_timestamp_ms=1_000, auto_advance_ms=10)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value("a")
        inp.pipe_value("b")
        inp.pipe_value("explicit", timestamp=5)  # an explicit timestamp does not move the clock
        inp.pipe_value_list(["c", "d"])
        driver.advance_wall_clock_time(1_000_000)  # the topic's clock is its own
        inp.pipe_value("e")
        assert [(r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("a", 1_000), ("b", 1_010), ("explicit", 5), ("c", 1_020), ("d", 1_030),
            ("e", 1_040),
        ]


def test_start_timestamp_without_auto_advance_stamps_every_record_alike() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        inp = driver.create_input_topic("in", S, S, start_timestamp_ms=42)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value_list(["a", "b", "c"])
        assert [r.timestamp for r in out.read_records_to_list()] == [42, 42, 42]


def test_input_topic_must_be_a_source() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        with pytest.raises(TopologyException, match="'out' is not a source topic"):
            driver.create_input_topic("out", S, S)


def test_input_topic_matching_a_pattern_source() -> None:
    builder = StreamsBuilder()
    builder.stream(re.compile(r"events-\d+"), key_serde=S, value_serde=S).map_values(
        str.upper).to("out", key_serde=S, value_serde=S)
    with TopologyTestDriver(builder.build()) as driver:
        with pytest.raises(TopologyException, match="'events-x' is not a source topic"):
            driver.create_input_topic("events-x", S, S)
        first = driver.create_input_topic("events-1", S, S)
        second = driver.create_input_topic("events-22", S, S)
        first.pipe_input("k", "a")
        second.pipe_input("k", "b")
        assert driver.create_output_topic("out", S, S).read_values_to_list() == ["A", "B"]
        # The tasks are planned at the first record: a matching topic cannot join later
        # (Kafka Streams' driver matches patterns at any time).
        with pytest.raises(TopologyException, match="create input topic 'events-3' before piping"):
            driver.create_input_topic("events-3", S, S)


def test_serialization_of_piped_records_uses_the_input_topic_serdes() -> None:
    with TopologyTestDriver(pass_through()) as driver:
        inp = driver.create_input_topic("in", S, S)
        with pytest.raises(StreamsException, match="str serde got int"):
            inp.pipe_input("k", 5)


# ---------------------------------------------------------------- several partitions


def test_keys_spread_by_murmur2_and_each_partition_is_a_task() -> None:
    log: list[Any] = []
    keys = [f"key-{n}" for n in range(20)]
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=3)
        for key in keys:
            inp.pipe_input(key, "v")
        assert sorted(driver.metrics()) == ["0_0", "0_1", "0_2"]
    offsets = [0, 0, 0]
    expected = []
    for key in keys:
        partition = partition_for_key(key.encode(), 3)
        expected.append((f"0_{partition}", partition, offsets[partition], key, "v"))
        offsets[partition] += 1
    assert log == expected
    assert all(offsets)  # every partition got some keys


def test_same_key_same_partition() -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=4)
        for n in range(5):
            inp.pipe_input("stable", str(n))
    partition = partition_for_key(b"stable", 4)
    assert log == [(f"0_{partition}", partition, n, "stable", str(n)) for n in range(5)]


def test_null_keys_go_round_robin() -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=3)
        inp.pipe_value_list([str(n) for n in range(7)])
    assert [(entry[1], entry[2]) for entry in log] == [
        (0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2)]


def test_explicit_partition_is_honoured() -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=3)
        inp.pipe_input("k", "a", partition=2)
        inp.pipe_input("k", "b", partition=0)
        inp.pipe_input(None, "c", partition=2)
        with pytest.raises(StreamsException, match="'in' has no partition 3"):
            inp.pipe_input("k", "d", partition=3)
        with pytest.raises(StreamsException, match="'in' has no partition -1"):
            inp.pipe_input("k", "d", partition=-1)
    assert log == [("0_2", 2, 0, "k", "a"), ("0_0", 0, 0, "k", "b"), ("0_2", 2, 1, None, "c")]


def test_one_partition_ignores_the_key() -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_key_value_list([("x", "1"), ("y", "2"), (None, "3")])
    assert [entry[:3] for entry in log] == [("0_0", 0, 0), ("0_0", 0, 1), ("0_0", 0, 2)]


def test_partition_count_errors() -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        with pytest.raises(ValueError, match="partitions must be >= 1"):
            driver.create_input_topic("in", S, S, partitions=0)
        driver.create_input_topic("in", S, S, partitions=2)
        driver.create_input_topic("in", S, S, partitions=2)  # the same count again is fine
        with pytest.raises(TopologyException, match="'in' already has 2 partitions"):
            driver.create_input_topic("in", S, S, partitions=3)


def test_input_topic_created_after_the_first_record_cannot_widen() -> None:
    builder = StreamsBuilder()
    builder.stream("a").to("out")
    builder.stream("b").to("out")
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("a", Serdes.bytes(), Serdes.bytes()).pipe_value(b"x")
        # The first record planned the tasks with one partition for every source topic.
        with pytest.raises(TopologyException, match="input topic 'b' already has 1 partitions"):
            driver.create_input_topic("b", Serdes.bytes(), Serdes.bytes(), partitions=2)
        # One partition is what the tasks were planned with: that works.
        driver.create_input_topic("b", Serdes.bytes(), Serdes.bytes()).pipe_value(b"y")
        assert driver.create_output_topic("out", S, S).read_values_to_list() == ["x", "y"]


def test_two_source_topics_of_different_widths_share_tasks_by_partition() -> None:
    log: list[Any] = []

    class Topic(Processor):
        def process(self, record: Record) -> None:
            log.append((str(self.context.task_id), self.context.topic, self.context.partition))

    builder = StreamsBuilder()
    builder.stream(["wide", "narrow"], key_serde=S, value_serde=S).process(Topic)
    with TopologyTestDriver(builder.build()) as driver:
        wide = driver.create_input_topic("wide", S, S, partitions=3)
        narrow = driver.create_input_topic("narrow", S, S, partitions=1)
        wide.pipe_input("k", "v", partition=2)
        narrow.pipe_input("k", "v")
        wide.pipe_input("k", "v", partition=0)
        assert sorted(driver.metrics()) == ["0_0", "0_1", "0_2"]
    assert log == [("0_2", "wide", 2), ("0_0", "narrow", 0), ("0_0", "wide", 0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=6) | st.none(),
                          st.integers(0, 1_000)), max_size=30),
       st.integers(1, 5))
def test_every_record_lands_where_a_producer_would_put_it(
    records: list[tuple[str | None, int]], partitions: int
) -> None:
    log: list[Any] = []
    with TopologyTestDriver(where_topology(log)) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=partitions)
        for key, timestamp in records:
            inp.pipe_input(key, str(timestamp), timestamp=timestamp)
    assert len(log) == len(records)
    offsets = [0] * partitions
    robin = 0
    for (key, timestamp), (task, partition, offset, seen_key, value) in zip(records, log,
                                                                          strict=True):
        if partitions == 1:
            expected = 0
        elif key is None:
            expected, robin = robin % partitions, robin + 1
        else:
            expected = partition_for_key(key.encode(), partitions)
        assert (task, partition, offset, seen_key, value) == (
            f"0_{expected}", expected, offsets[expected], key, str(timestamp))
        offsets[expected] += 1


# ---------------------------------------------------------------- topology errors


def test_duplicate_node_names() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in", name="x")
    with pytest.raises(TopologyException, match="node 'x' is already in the topology"):
        stream.filter(lambda k, v: True, name="x")
    stream.map_values(str, name="m")
    with pytest.raises(TopologyException, match="node 'm' is already in the topology"):
        stream.to("out", name="m")
    with pytest.raises(TopologyException, match="node 'x' is already in the topology"):
        builder.stream("other", name="x")


def test_a_topic_read_by_two_sources() -> None:
    builder = StreamsBuilder()
    builder.stream("in")
    with pytest.raises(TopologyException, match="topic 'in' is already read by source "
                                                 "'KSTREAM-SOURCE-0000000000'"):
        builder.stream("in")
    with pytest.raises(TopologyException, match="topic 'in' is already read"):
        builder.stream(["other", "in"])


def test_empty_builder_cannot_build() -> None:
    with pytest.raises(TopologyException, match="Invalid topology: the topology is empty"):
        StreamsBuilder().build()


def test_stream_needs_a_topic() -> None:
    with pytest.raises(TopologyException, match="stream\\(\\) needs at least one topic"):
        StreamsBuilder().stream([])


def test_nothing_can_be_added_after_build() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in")
    other = builder.stream("in2")
    topology = builder.build()
    nodes_before = list(topology.nodes)
    attempts = [
        lambda: builder.stream("late"),
        lambda: stream.filter(lambda k, v: True),
        lambda: stream.map_values(str),
        lambda: stream.foreach(lambda k, v: None),
        lambda: stream.process(Processor),
        lambda: stream.to("out"),
        lambda: stream.repartition(),
        lambda: stream.merge(other),
        lambda: stream.split("s-"),
    ]
    for attempt in attempts:
        with pytest.raises(TopologyException, match="build\\(\\) was called"):
            attempt()
    assert list(topology.nodes) == nodes_before


@pytest.mark.parametrize("name", [
    "", "has space", "slash/name", "x" * 250, ".", "..", "ümlaut", "colon:name",
])
def test_bad_topic_names(name: str) -> None:
    with pytest.raises(TopologyException, match="illegal topic name"):
        StreamsBuilder().stream(name)
    with pytest.raises(TopologyException, match="illegal topic name"):
        StreamsBuilder().stream("ok").to(name)


def test_legal_topic_names() -> None:
    builder = StreamsBuilder()
    builder.stream(["a.b", "A_B-9", "x" * 249]).to("out.topic_1-x")
    assert builder.build().sources()[0].topics == ("a.b", "A_B-9", "x" * 249)


def test_bad_repartition_name() -> None:
    with pytest.raises(TopologyException, match="illegal topic name 'bad name-repartition'"):
        StreamsBuilder().stream("in").repartition(name="bad name")


def test_bad_offset_reset_on_stream() -> None:
    with pytest.raises(TopologyException, match="auto_offset_reset must be one of"):
        StreamsBuilder().stream("in", auto_offset_reset="newest")
    builder = StreamsBuilder()
    builder.stream("in", auto_offset_reset="latest")
    assert builder.build().sources()[0].auto_offset_reset == "latest"


def test_generated_names_share_one_counter() -> None:
    builder = StreamsBuilder()
    a = builder.stream("a")
    b = builder.stream("b")
    a.filter(lambda k, v: True).merge(b.map_values(str)).flat_map(lambda k, v: []).to("out")
    assert list(builder.build().nodes) == [
        "KSTREAM-SOURCE-0000000000", "KSTREAM-SOURCE-0000000001", "KSTREAM-FILTER-0000000002",
        "KSTREAM-MAPVALUES-0000000003", "KSTREAM-MERGE-0000000004", "KSTREAM-FLATMAP-0000000005",
        "KSTREAM-SINK-0000000006",
    ]


def test_generated_name_prefixes_match_kafka_streams() -> None:
    builder = StreamsBuilder()
    s = builder.stream("in")
    s.filter(lambda k, v: True)
    s.filter_not(lambda k, v: True)
    s.map(lambda k, v: (k, v))
    s.map_values(str)
    s.flat_map(lambda k, v: [])
    s.flat_map_values(lambda v: [])
    s.select_key(lambda k, v: k)
    s.peek(lambda k, v: None)
    s.foreach(lambda k, v: None)
    s.process(Processor)
    assert list(builder.build().nodes) == [
        "KSTREAM-SOURCE-0000000000", "KSTREAM-FILTER-0000000001", "KSTREAM-FILTER-0000000002",
        "KSTREAM-MAP-0000000003", "KSTREAM-MAPVALUES-0000000004", "KSTREAM-FLATMAP-0000000005",
        "KSTREAM-FLATMAPVALUES-0000000006", "KSTREAM-KEY-SELECT-0000000007",
        "KSTREAM-PEEK-0000000008", "KSTREAM-FOREACH-0000000009", "KSTREAM-PROCESSOR-0000000010",
    ]
