"""The Processor API: process() in the DSL and hand-built Topologies, through the test driver."""

from __future__ import annotations

from typing import Any

import pytest

from flowlog_streams import (
    Processor,
    ProcessorContext,
    Record,
    RecordMetadata,
    Serdes,
    StreamsBuilder,
    StreamsConfig,
    StreamsException,
    TaskFailedError,
    TaskId,
    Topology,
    TopologyException,
)
from flowlog_streams.testing import TestRecord, TopologyTestDriver

S = Serdes.str()


class Recorder(Processor):
    """Logs lifecycle calls and what its context says about each record."""

    def __init__(self, log: list[Any], forward: bool = True) -> None:
        self.log = log
        self.forward = forward

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.log.append(("init", str(context.task_id), context.node_name, context.application_id))

    def process(self, record: Record) -> None:
        ctx = self.context
        self.log.append((
            "process", record, ctx.topic, ctx.partition, ctx.offset, ctx.timestamp, ctx.headers,
            ctx.record_metadata(),
        ))
        if self.forward:
            ctx.forward(record)

    def close(self) -> None:
        self.log.append(("close",))


def test_init_process_close_lifecycle_and_context() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(lambda: Recorder(log), name="rec")
    driver = TopologyTestDriver(builder.build(), config={"application_id": "my-app"})
    inp = driver.create_input_topic("in", S, S)
    assert log == []  # tasks start with the first record
    inp.pipe_input("k1", "v1", timestamp=100, headers={"h": b"1"})
    inp.pipe_input("k2", "v2", timestamp=50)
    driver.close()
    driver.close()  # closing twice is harmless
    assert log == [
        ("init", "0_0", "rec", "my-app"),
        ("process", Record("k1", "v1", 100, (("h", b"1"),)), "in", 0, 0, 100, (("h", b"1"),),
         RecordMetadata("in", 0, 0)),
        ("process", Record("k2", "v2", 50, ()), "in", 0, 1, 50, (), RecordMetadata("in", 0, 1)),
        ("close",),
    ]


def test_the_driver_refuses_records_once_closed() -> None:
    builder = StreamsBuilder()
    builder.stream("in").to("out")
    driver = TopologyTestDriver(builder.build())
    inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
    driver.close()
    with pytest.raises(StreamsException, match="the driver is closed"):
        inp.pipe_input(b"k", b"v")


def test_context_as_a_with_block_closes_processors() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    builder.stream("in").process(lambda: Recorder(log, forward=False))
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes()).pipe_input(b"k", b"v")
    assert [entry[0] for entry in log] == ["init", "process", "close"]


def test_a_processor_failing_in_close_does_not_stop_the_others_closing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []

    class BadClose(Processor):
        def process(self, record: Record) -> None:
            self.context.forward(record)

        def close(self) -> None:
            raise RuntimeError("close failed")

    builder = StreamsBuilder()
    builder.stream("in").process(BadClose).process(lambda: Recorder(log))
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes()).pipe_input(b"k", b"v")
    assert log[-1] == ("close",)
    assert "close failed" in caplog.text


def test_supplier_is_called_once_per_task() -> None:
    instances: list[Recorder] = []
    log: list[Any] = []

    def supplier() -> Recorder:
        instances.append(Recorder(log))
        return instances[-1]

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(supplier)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=3)
        for partition in (0, 1, 2, 1):
            inp.pipe_input("k", str(partition), partition=partition)
    assert len(instances) == 3
    assert len({id(p) for p in instances}) == 3
    inits = sorted(entry[1] for entry in log if entry[0] == "init")
    assert inits == ["0_0", "0_1", "0_2"]


def test_supplier_must_return_a_processor() -> None:
    builder = StreamsBuilder()
    builder.stream("in").process(lambda: "not a processor")  # type: ignore[arg-type,return-value]
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        with pytest.raises(StreamsException, match="returned 'not a processor', not a Processor"):
            inp.pipe_input(b"k", b"v")


def test_process_needs_a_callable_supplier() -> None:
    with pytest.raises(TypeError, match="process\\(\\) needs a callable"):
        StreamsBuilder().stream("in").process(Recorder([]))  # type: ignore[arg-type]


class Splitter(Processor):
    """Forwards to a named child, to all children, or several records, depending on the value."""

    def process(self, record: Record) -> None:
        kind, _, rest = record.value.partition(":")
        if kind == "all":
            self.context.forward(record.with_value(rest))
        elif kind == "many":
            for index, part in enumerate(rest.split(",")):
                self.context.forward(Record(record.key, part, record.timestamp + index))
        elif kind == "none":
            pass
        else:
            self.context.forward(record.with_value(rest), f"sink-{kind}")


def split_topology() -> Topology:
    builder = StreamsBuilder()
    processed = builder.stream("in", key_serde=S, value_serde=S).process(Splitter, name="split")
    processed.to("out-a", key_serde=S, value_serde=S, name="sink-a")
    processed.to("out-b", key_serde=S, value_serde=S, name="sink-b")
    return builder.build()


def test_forward_to_all_children_or_to_a_named_child() -> None:
    with TopologyTestDriver(split_topology()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out_a = driver.create_output_topic("out-a", S, S)
        out_b = driver.create_output_topic("out-b", S, S)
        inp.pipe_input("k", "a:1", timestamp=1)
        inp.pipe_input("k", "b:2", timestamp=2)
        inp.pipe_input("k", "all:3", timestamp=3)
        inp.pipe_input("k", "none:4", timestamp=4)
        inp.pipe_input("k", "many:5,6", timestamp=5)
        assert out_a.read_records_to_list() == [
            TestRecord("k", "1", 1), TestRecord("k", "3", 3),
            TestRecord("k", "5", 5), TestRecord("k", "6", 6),
        ]
        assert out_b.read_records_to_list() == [
            TestRecord("k", "2", 2), TestRecord("k", "3", 3),
            TestRecord("k", "5", 5), TestRecord("k", "6", 6),
        ]


def test_forward_to_an_unknown_child_fails_naming_the_children() -> None:
    with TopologyTestDriver(split_topology()) as driver:
        inp = driver.create_input_topic("in", S, S)
        with pytest.raises(TaskFailedError, match="split has no child 'sink-zzz'") as info:
            inp.pipe_input("k", "zzz:1")
        assert "['sink-a', 'sink-b']" in str(info.value)


def test_forwarded_timestamp_and_headers_reach_the_sink() -> None:
    class Stamp(Processor):
        def process(self, record: Record) -> None:
            self.context.forward(
                record.with_timestamp(record.timestamp * 2)
                .with_headers(record.headers + (("added", b"yes"),))
                .with_key(record.key.upper())
            )

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(Stamp).to(
        "out", key_serde=S, value_serde=S)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_input("k", "v", timestamp=21, headers=[("orig", b"1")])
        assert out.read_record() == TestRecord(
            "K", "v", 42, (("orig", b"1"), ("added", b"yes")))


def test_headers_and_timestamps_flow_unchanged_through_dsl_operations() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .map_values(str.upper).select_key(lambda k, v: v).flat_map_values(lambda v: [v, v])
     .process(lambda: Recorder(log)))
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_input("k", "v", timestamp=9, headers=[("a", b"1"), ("a", b"2"), ("n", None)])
    headers = (("a", b"1"), ("a", b"2"), ("n", None))
    processed = [entry for entry in log if entry[0] == "process"]
    assert [entry[1] for entry in processed] == [Record("V", "V", 9, headers)] * 2
    # The context still describes the input record.
    assert processed[0][2:] == ("in", 0, 0, 9, headers, RecordMetadata("in", 0, 0))


def test_context_clocks_config_and_missing_stores() -> None:
    seen: list[Any] = []

    class Clocks(Processor):
        def process(self, record: Record) -> None:
            ctx = self.context
            seen.append((ctx.current_stream_time_ms(), ctx.current_system_time_ms()))
            assert isinstance(ctx.app_config, StreamsConfig)
            assert ctx.app_config.application_id == "topology-test-driver"
            assert ctx.task_id == TaskId(0, 0)
            with pytest.raises(StreamsException, match="asked for store 'nope'"):
                ctx.get_state_store("nope")
            ctx.commit()

    builder = StreamsBuilder()
    builder.stream("in").process(Clocks)
    with TopologyTestDriver(builder.build(), start_time_ms=5_000) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input(b"k", b"v", timestamp=30)
        inp.pipe_input(b"k", b"v", timestamp=10)  # out of order: stream time stays 30
        driver.advance_wall_clock_time(250)
        inp.pipe_input(b"k", b"v", timestamp=40)
    assert seen == [(30, 5_000), (30, 5_000), (40, 5_250)]


def test_record_helpers() -> None:
    record = Record("k", "v", 5, (("h", b"1"),))
    assert record.with_key("x") == Record("x", "v", 5, (("h", b"1"),))
    assert record.with_value("y") == Record("k", "y", 5, (("h", b"1"),))
    assert record.with_timestamp(9) == Record("k", "v", 9, (("h", b"1"),))
    assert record.with_headers([("z", None)]) == Record("k", "v", 5, (("z", None),))
    assert record == Record("k", "v", 5, (("h", b"1"),))
    assert record != Record("k", "v", 6, (("h", b"1"),))
    assert record.__eq__("other") is NotImplemented
    assert Record("k", "v", 1).headers == ()
    with pytest.raises(TypeError):
        hash(record)
    assert repr(Record("k", 1, 2)) == "Record(key='k', value=1, timestamp=2, headers=())"


def test_base_processor_process_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        Processor().process(Record(None, None, 0))


# ---------------------------------------------------------------- hand-built Topology


def test_hand_built_topology_runs_in_the_driver() -> None:
    class Upper(Processor):
        def process(self, record: Record) -> None:
            target = "to-long" if len(record.value) > 3 else "to-short"
            self.context.forward(record.with_value(record.value.upper()), target)

    topology = (
        Topology()
        .add_source("src", "words", key_serde=S, value_serde=S)
        .add_processor("upper", Upper, "src")
        .add_sink("to-long", "long", "upper", key_serde=S, value_serde=S)
        .add_sink("to-short", "short", "upper", key_serde=S, value_serde=S)
    )
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("words", S, S)
        long_out = driver.create_output_topic("long", S, S)
        short_out = driver.create_output_topic("short", S, S)
        inp.pipe_value_list(["hi", "hello", "abc", "abcd"])
        assert long_out.read_values_to_list() == ["HELLO", "ABCD"]
        assert short_out.read_values_to_list() == ["HI", "ABC"]


def test_processor_with_two_parents() -> None:
    log: list[Any] = []
    topology = (
        Topology()
        .add_source("s1", "one", key_serde=S, value_serde=S)
        .add_source("s2", "two", key_serde=S, value_serde=S)
        .add_processor("both", lambda: Recorder(log, forward=False), "s1", "s2")
    )
    assert len(topology.subtopologies()) == 1
    with TopologyTestDriver(topology) as driver:
        driver.create_input_topic("two", S, S).pipe_input("b", "2", timestamp=2)
        driver.create_input_topic("one", S, S).pipe_input("a", "1", timestamp=1)
    processed = [(e[1], e[2]) for e in log if e[0] == "process"]
    assert processed == [(Record("b", "2", 2), "two"), (Record("a", "1", 1), "one")]


def test_hand_built_topology_errors() -> None:
    topology = Topology().add_source("src", "in")
    with pytest.raises(TopologyException, match="parent 'missing' of 'p' is not in the topology"):
        topology.add_processor("p", Recorder, "missing")
    with pytest.raises(TopologyException, match="node 'p' needs at least one parent"):
        topology.add_processor("p", Recorder)
    with pytest.raises(TopologyException, match="node 'p' cannot be its own parent"):
        topology.add_processor("p", Recorder, "p")
    with pytest.raises(TopologyException, match="processor 'p': supplier must be callable"):
        topology.add_processor("p", "nope", "src")  # type: ignore[arg-type]
    topology.add_sink("sink", "out", "src")
    with pytest.raises(TopologyException, match="sink 'sink' cannot be the parent of 'q'"):
        topology.add_processor("q", Recorder, "sink")
    with pytest.raises(TopologyException, match="node 'src' is already in the topology"):
        topology.add_processor("src", Recorder, "sink")
    with pytest.raises(TopologyException, match="needs either topics or a pattern"):
        topology.add_source("both", "x", pattern="y.*")
    with pytest.raises(TopologyException, match="needs either topics or a pattern"):
        topology.add_source("neither")
    with pytest.raises(TopologyException, match="auto_offset_reset must be one of"):
        topology.add_source("reset", "z", auto_offset_reset="middle")
    with pytest.raises(TopologyException, match="node names must not be empty"):
        topology.add_source("", "zz")
