"""Deserialization and processing exception handlers: fail, continue, dead-letter, custom."""

from __future__ import annotations

from typing import Any

import pytest

from flowlog_streams import (
    DeadLetterQueue,
    ErrorContext,
    HandlerResponse,
    LogAndContinue,
    LogAndFail,
    Processor,
    ProcessorContext,
    PunctuationType,
    Record,
    Serdes,
    SerializationError,
    StreamsBuilder,
    StreamsConfig,
    TaskFailedError,
    Topology,
)
from flowlog_streams.handlers import DeadLetterSend, dead_letter_headers, resolve_handler
from flowlog_streams.testing import TestRecord, TopologyTestDriver

S = Serdes.str()
INT = Serdes.int()
B = Serdes.bytes()
ONE = b"\x00\x00\x00\x01"
ERROR_HEADERS = [
    "__streams.errors.kind", "__streams.errors.exception", "__streams.errors.message",
    "__streams.errors.stacktrace", "__streams.errors.topic", "__streams.errors.partition",
    "__streams.errors.offset", "__streams.errors.task", "__streams.errors.time_ms",
]


def int_topology(**stream_options: Any) -> Topology:
    """in (str key, int value) -> map_values(+1) -> out."""
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=INT, **stream_options).map_values(
        lambda v: v + 1).to("out", key_serde=S, value_serde=INT)
    return builder.build()


def headers_of(record: TestRecord) -> dict[str, bytes | None]:
    return dict(record.headers)


def check_time_header(record: TestRecord, expected_ms: int) -> None:
    """The handling time comes from the app's clock: the driver's mock clock here."""
    assert headers_of(record)["__streams.errors.time_ms"] == str(expected_ms).encode()


# ---------------------------------------------------------------- deserialization


def test_default_deserialization_handler_fails_the_task() -> None:
    with TopologyTestDriver(int_topology()) as driver:
        inp = driver.create_input_topic("in", S, B)
        with pytest.raises(TaskFailedError) as info:
            inp.pipe_input("k", b"\x01\x02")
        assert str(info.value) == (
            "deserialization error on in-0@0 (task 0_0): "
            "SerializationError: int serde needs 4 bytes, got 2"
        )
        assert isinstance(info.value.__cause__, SerializationError)


def test_bad_key_also_goes_to_the_deserialization_handler() -> None:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=INT, value_serde=INT).to("out", key_serde=INT, value_serde=INT)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", B, INT)
        with pytest.raises(TaskFailedError, match="int serde needs 4 bytes, got 3"):
            inp.pipe_input(b"abc", 1)


def test_log_and_continue_skips_counts_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    config = {"deserialization_exception_handler": "log_and_continue"}
    with TopologyTestDriver(int_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, B)
        out = driver.create_output_topic("out", S, INT)
        inp.pipe_input("a", ONE, timestamp=1)
        inp.pipe_input("b", b"bad", timestamp=2)
        inp.pipe_input("c", b"", timestamp=3)
        inp.pipe_input("d", b"\x00\x00\x00\x05", timestamp=4)
        assert out.read_records_to_list() == [TestRecord("a", 2, 1), TestRecord("d", 6, 4)]
        metrics = driver.metrics()["0_0"]
        assert metrics["records_handled"] == {"deserialization": 2, "processing": 0}
        assert metrics["records_processed"] == 2
    assert "deserialization error on in-0@1 (task 0_0)" in caplog.text
    assert "skipping the record (log_and_continue)" in caplog.text


def test_dead_letter_queue_for_deserialization_errors() -> None:
    config = {"deserialization_exception_handler": DeadLetterQueue("dlq")}
    with TopologyTestDriver(int_topology(), config=config, start_time_ms=7_000) as driver:
        inp = driver.create_input_topic("in", S, B)
        out = driver.create_output_topic("out", S, INT)
        dlq = driver.create_output_topic("dlq", B, B)
        inp.pipe_input("good", ONE, timestamp=10)
        inp.pipe_input("bad", b"\xff", timestamp=20, headers=[("trace", b"t-9")])
        inp.pipe_input("good2", ONE, timestamp=30)
        assert out.read_key_values_to_list() == [("good", 2), ("good2", 2)]
        dead = dlq.read_record()
        assert dlq.is_empty()
        assert driver.metrics()["0_0"]["records_handled"]["deserialization"] == 1
    assert (dead.key, dead.value, dead.timestamp) == (b"bad", b"\xff", 20)
    # The record's own headers come first, then the error headers, in this order.
    assert [name for name, _ in dead.headers] == ["trace"] + ERROR_HEADERS
    headers = headers_of(dead)
    assert headers["trace"] == b"t-9"
    assert headers["__streams.errors.kind"] == b"deserialization"
    assert headers["__streams.errors.exception"] == b"SerializationError"
    assert headers["__streams.errors.message"] == b"int serde needs 4 bytes, got 1"
    stack = headers["__streams.errors.stacktrace"]
    assert stack is not None and stack.startswith(b"Traceback (most recent call last):")
    assert b"SerializationError: int serde needs 4 bytes, got 1" in stack
    assert headers["__streams.errors.topic"] == b"in"
    assert headers["__streams.errors.partition"] == b"0"
    assert headers["__streams.errors.offset"] == b"1"
    assert headers["__streams.errors.task"] == b"0_0"
    assert "__streams.errors.node" not in headers
    check_time_header(dead, 7_000)


def test_dead_letter_partition_and_offset_on_a_multi_partition_topic() -> None:
    config = {"deserialization_exception_handler": DeadLetterQueue("dlq")}
    with TopologyTestDriver(int_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, B, partitions=3)
        dlq = driver.create_output_topic("dlq", B, B)
        inp.pipe_input("k", ONE, partition=2)
        inp.pipe_input("k", b"x", partition=2)
        headers = headers_of(dlq.read_record())
    assert headers["__streams.errors.partition"] == b"2"
    assert headers["__streams.errors.offset"] == b"1"
    assert headers["__streams.errors.task"] == b"0_2"


def test_negative_extracted_timestamp_goes_to_the_deserialization_handler() -> None:
    def extractor(key: Any, value: Any, timestamp: int, partition_time: int) -> int:
        return value  # the value is the event time

    topology = int_topology(timestamp_extractor=extractor)
    config = {"deserialization_exception_handler": DeadLetterQueue("dlq")}
    with TopologyTestDriver(topology, config=config) as driver:
        inp = driver.create_input_topic("in", S, INT)
        out = driver.create_output_topic("out", S, INT)
        dlq = driver.create_output_topic("dlq", B, B)
        inp.pipe_input("a", 500, timestamp=1)
        inp.pipe_input("b", -5, timestamp=2)
        inp.pipe_input("c", 0, timestamp=3)
        assert out.read_records_to_list() == [TestRecord("a", 501, 500), TestRecord("c", 1, 0)]
        dead = dlq.read_record()
    assert (dead.key, dead.value, dead.timestamp) == (b"b", b"\xff\xff\xff\xfb", 2)
    headers = headers_of(dead)
    assert headers["__streams.errors.exception"] == b"InvalidTimestampError"
    assert headers["__streams.errors.message"] == b"invalid timestamp -5 (must be >= 0)"


def test_negative_timestamp_fails_by_default() -> None:
    topology = int_topology(timestamp_extractor=lambda k, v, ts, pt: -1)
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("in", S, INT)
        with pytest.raises(TaskFailedError, match="invalid timestamp -1"):
            inp.pipe_input("k", 1)


def test_extractor_returning_none_or_raising_is_a_deserialization_error() -> None:
    def extractor(key: Any, value: Any, timestamp: int, partition_time: int) -> Any:
        if value == 1:
            return None
        raise KeyError("no time field")

    config = {"deserialization_exception_handler": "log_and_continue"}
    with TopologyTestDriver(int_topology(timestamp_extractor=extractor), config=config) as d:
        inp = d.create_input_topic("in", S, INT)
        inp.pipe_input("k", 1)
        inp.pipe_input("k", 2)
        assert d.metrics()["0_0"]["records_handled"]["deserialization"] == 2
        assert d.create_output_topic("out", S, INT).is_empty()


def test_extractor_sees_record_timestamp_and_partition_time() -> None:
    calls: list[tuple[Any, Any, int, int]] = []

    def extractor(key: Any, value: Any, timestamp: int, partition_time: int) -> int:
        calls.append((key, value, timestamp, partition_time))
        return timestamp + value

    with TopologyTestDriver(int_topology(timestamp_extractor=extractor)) as driver:
        inp = driver.create_input_topic("in", S, INT)
        out = driver.create_output_topic("out", S, INT)
        inp.pipe_input("a", 5, timestamp=100)
        inp.pipe_input("b", 1, timestamp=50)
        inp.pipe_input("c", 2, timestamp=200)
        assert [r.timestamp for r in out.read_records_to_list()] == [105, 51, 202]
    # partition time: the highest timestamp extracted so far on that partition (-1 at first).
    assert calls == [("a", 5, 100, -1), ("b", 1, 50, 105), ("c", 2, 200, 105)]


# ---------------------------------------------------------------- processing


def raising_topology() -> Topology:
    """in -> filter (raises on "boom") -> map_values (raises on "bang") -> out."""
    def keep(key: Any, value: str) -> bool:
        if value == "boom":
            raise ValueError("filter exploded")
        return True

    def shout(value: str) -> str:
        if value == "bang":
            raise RuntimeError("mapper exploded")
        return value.upper()

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).filter(keep).map_values(shout).to(
        "out", key_serde=S, value_serde=S)
    return builder.build()


def test_default_processing_handler_fails_naming_the_node() -> None:
    with TopologyTestDriver(raising_topology()) as driver:
        inp = driver.create_input_topic("in", S, S)
        with pytest.raises(TaskFailedError) as info:
            inp.pipe_input("k", "boom")
        assert str(info.value) == (
            "processing error on in-0@0 (task 0_0 in KSTREAM-FILTER-0000000001): "
            "ValueError: filter exploded"
        )
        assert isinstance(info.value.__cause__, ValueError)


def test_processing_log_and_continue_skips_the_record() -> None:
    config = {"processing_exception_handler": "log_and_continue"}
    with TopologyTestDriver(raising_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value_list(["a", "boom", "b", "bang", "c"])
        assert out.read_values_to_list() == ["A", "B", "C"]
        metrics = driver.metrics()["0_0"]
        assert metrics["records_handled"] == {"deserialization": 0, "processing": 2}
        assert metrics["records_processed"] == 5


def test_processing_dead_letter_queue_has_raw_bytes_and_the_node_name() -> None:
    config = {"processing_exception_handler": DeadLetterQueue("errors")}
    with TopologyTestDriver(raising_topology(), config=config, start_time_ms=9_000) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        dlq = driver.create_output_topic("errors", B, B)
        inp.pipe_input("k1", "ok", timestamp=1)
        inp.pipe_input("k2", "bang", timestamp=2, headers={"h": b"v"})
        inp.pipe_input("k3", "boom", timestamp=3)
        assert out.read_values_to_list() == ["OK"]
        first, second = dlq.read_records_to_list()
    assert (first.key, first.value, first.timestamp) == (b"k2", b"bang", 2)
    assert [name for name, _ in first.headers] == ["h"] + ERROR_HEADERS + ["__streams.errors.node"]
    headers = headers_of(first)
    assert headers["__streams.errors.kind"] == b"processing"
    assert headers["__streams.errors.exception"] == b"RuntimeError"
    assert headers["__streams.errors.message"] == b"mapper exploded"
    assert headers["__streams.errors.node"] == b"KSTREAM-MAPVALUES-0000000002"
    assert headers["__streams.errors.offset"] == b"1"
    check_time_header(first, 9_000)
    assert (second.key, second.value) == (b"k3", b"boom")
    assert headers_of(second)["__streams.errors.node"] == b"KSTREAM-FILTER-0000000001"
    assert headers_of(second)["__streams.errors.exception"] == b"ValueError"


def test_continue_abandons_only_the_failing_nodes_work() -> None:
    # KIP-1033: the source forwards to two children; one raising does not stop the other.
    builder = StreamsBuilder()
    stream = builder.stream("in", key_serde=S, value_serde=S)
    stream.filter(lambda k, v: 1 / 0).to("never", key_serde=S, value_serde=S)
    stream.map_values(str.upper).to("out", key_serde=S, value_serde=S)
    config = {"processing_exception_handler": "log_and_continue"}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value_list(["a", "b"])
        assert out.read_values_to_list() == ["A", "B"]
        assert driver.create_output_topic("never", S, S).is_empty()
        assert driver.metrics()["0_0"]["records_handled"]["processing"] == 2


def test_continue_keeps_what_was_already_forwarded() -> None:
    # flat_map_values forwards three records; the mapper downstream fails on the second only.
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .flat_map_values(lambda v: v.split(","))
     .map_values(lambda v: str(10 // int(v)))
     .to("out", key_serde=S, value_serde=S))
    config = {"processing_exception_handler": "log_and_continue"}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_value("1,0,5")
        assert driver.create_output_topic("out", S, S).read_values_to_list() == ["10", "2"]
        assert driver.metrics()["0_0"]["records_handled"]["processing"] == 1


def test_sibling_split_branch_is_unaffected() -> None:
    builder = StreamsBuilder()
    branches = (
        builder.stream("in", key_serde=S, value_serde=S).split("b-")
        .branch(lambda k, v: v.startswith("x"), "x").default_branch("rest")
    )
    branches["b-x"].map_values(lambda v: v[100]).to("x-out", key_serde=S, value_serde=S)
    branches["b-rest"].to("rest-out", key_serde=S, value_serde=S)
    config = {"processing_exception_handler": "log_and_continue"}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_value_list(["x1", "y1", "x2", "y2"])
        assert driver.create_output_topic("rest-out", S, S).read_values_to_list() == ["y1", "y2"]
        assert driver.create_output_topic("x-out", S, S).is_empty()


class Ticker(Processor):
    def init(self, context: ProcessorContext) -> None:
        self.context = context
        context.schedule(10, PunctuationType.WALL_CLOCK_TIME, self.tick)

    def tick(self, now_ms: int) -> None:
        raise RuntimeError(f"tick at {now_ms} failed")

    def process(self, record: Record) -> None:
        self.context.forward(record)


def ticker_topology() -> Topology:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(Ticker, name="ticker").to(
        "out", key_serde=S, value_serde=S)
    return builder.build()


def test_raising_punctuation_fails_by_default() -> None:
    with TopologyTestDriver(ticker_topology()) as driver:
        with pytest.raises(TaskFailedError) as info:
            driver.advance_wall_clock_time(10)
        assert str(info.value) == (
            "processing error on a punctuation (task 0_0 in ticker): "
            "RuntimeError: tick at 10 failed"
        )


def test_raising_punctuation_goes_to_the_dead_letter_queue() -> None:
    config = {"processing_exception_handler": DeadLetterQueue("dlq")}
    with TopologyTestDriver(ticker_topology(), config=config) as driver:
        dlq = driver.create_output_topic("dlq", B, B)
        driver.advance_wall_clock_time(10)
        driver.advance_wall_clock_time(10)
        first, second = dlq.read_records_to_list()
        assert driver.metrics()["0_0"]["records_handled"]["processing"] == 2
        # Processing goes on after a skipped punctuation.
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_input("k", "v")
        assert driver.create_output_topic("out", S, S).read_key_value() == ("k", "v")
    assert (first.key, first.value, first.timestamp) == (None, None, 10)
    headers = headers_of(first)
    assert headers["__streams.errors.kind"] == b"processing"
    assert headers["__streams.errors.message"] == b"tick at 10 failed"
    assert headers["__streams.errors.topic"] == b""
    assert headers["__streams.errors.partition"] == b"-1"
    assert headers["__streams.errors.offset"] == b"-1"
    assert headers["__streams.errors.node"] == b"ticker"
    assert headers_of(second)["__streams.errors.message"] == b"tick at 20 failed"


# ---------------------------------------------------------------- custom handlers


class Collecting:
    """A custom handler: keeps every ErrorContext and answers with a fixed response."""

    def __init__(self, response: HandlerResponse) -> None:
        self.response = response
        self.errors: list[ErrorContext] = []

    def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
        self.errors.append(error)
        return self.response


def test_custom_deserialization_handler_gets_the_full_context() -> None:
    handler = Collecting(HandlerResponse.CONTINUE)
    config = {"deserialization_exception_handler": handler}
    with TopologyTestDriver(int_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, B)
        inp.pipe_input("k", b"12", timestamp=42, headers={"h": b"1"})
        assert driver.metrics()["0_0"]["records_handled"]["deserialization"] == 1
    (error,) = handler.errors
    assert (error.kind, error.task_id, error.topic, error.partition, error.offset) == (
        "deserialization", "0_0", "in", 0, 0)
    assert (error.timestamp, error.raw_key, error.raw_value, error.headers, error.node_name) == (
        42, b"k", b"12", (("h", b"1"),), None)
    assert isinstance(error.error, SerializationError)


def test_custom_processing_handler_answering_fail() -> None:
    handler = Collecting(HandlerResponse.FAIL)
    config = {"processing_exception_handler": handler}
    with TopologyTestDriver(raising_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_input("k", "fine")
        with pytest.raises(TaskFailedError, match="RuntimeError: mapper exploded"):
            inp.pipe_input("k", "bang", timestamp=8)
    (error,) = handler.errors
    assert (error.kind, error.topic, error.offset, error.timestamp, error.node_name) == (
        "processing", "in", 1, 8, "KSTREAM-MAPVALUES-0000000002")
    assert (error.raw_key, error.raw_value) == (b"k", b"bang")
    assert isinstance(error.error, RuntimeError)


def test_custom_handler_may_send_its_own_records() -> None:
    class Redirect:
        def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
            send("quarantine", error.raw_key, b"was:" + (error.raw_value or b""),
                 (("why", error.kind.encode()),), error.timestamp)
            return HandlerResponse.CONTINUE

    config = {"processing_exception_handler": Redirect()}
    with TopologyTestDriver(raising_topology(), config=config) as driver:
        driver.create_input_topic("in", S, S).pipe_input("k", "boom", timestamp=5)
        record = driver.create_output_topic("quarantine", S, S).read_record()
    assert record == TestRecord("k", "was:boom", 5, (("why", b"processing"),))


def test_a_handler_that_raises_fails_the_task() -> None:
    class Broken:
        def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
            raise OSError("disk full")

    config = {"processing_exception_handler": Broken()}
    with TopologyTestDriver(raising_topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        with pytest.raises(TaskFailedError, match="the processing handler raised: OSError"):
            inp.pipe_input("k", "boom")


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("setting", [
    "deserialization_exception_handler", "processing_exception_handler",
])
@pytest.mark.parametrize("bad", ["log_and_ignore", "", 42, object()])
def test_bad_handler_is_rejected_at_config_time(setting: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=setting):
        StreamsConfig(application_id="app", **{setting: bad})
    builder = StreamsBuilder()
    builder.stream("in").to("out")
    with pytest.raises(ValueError, match=setting):
        TopologyTestDriver(builder.build(), config={setting: bad})


def test_unknown_setting_is_rejected() -> None:
    builder = StreamsBuilder()
    builder.stream("in").to("out")
    with pytest.raises(ValueError, match="unknown streams setting\\(s\\) \\['max_idle'\\]"):
        TopologyTestDriver(builder.build(), config={"max_idle": 5})


def test_handler_specs_resolve() -> None:
    assert isinstance(resolve_handler("log_and_fail", "x"), LogAndFail)
    assert isinstance(resolve_handler("log_and_continue", "x"), LogAndContinue)
    dlq = DeadLetterQueue("dead")
    assert resolve_handler(dlq, "x") is dlq
    assert repr(dlq) == "DeadLetterQueue('dead')"
    assert repr(LogAndFail()) == "'log_and_fail'"
    assert repr(LogAndContinue()) == "'log_and_continue'"
    with pytest.raises(ValueError, match="DeadLetterQueue needs a topic name"):
        DeadLetterQueue("")
    config = StreamsConfig(application_id="app")
    assert isinstance(config.deserialization_handler(), LogAndFail)
    assert isinstance(config.processing_handler(), LogAndFail)


def test_error_context_describe_and_dead_letter_headers() -> None:
    error = ErrorContext("processing", ValueError("bad"), "1_2", "t", 2, 7, 99, b"k", b"v",
                         (("a", b"b"),), "node-x")
    assert error.describe() == "processing error on t-2@7 (task 1_2 in node-x): ValueError: bad"
    headers = dict(dead_letter_headers(error))
    assert headers["a"] == b"b"
    assert headers["__streams.errors.node"] == b"node-x"
    assert headers["__streams.errors.task"] == b"1_2"
    punctuation = ErrorContext("processing", KeyError("x"), "0_0", None, -1, -1, 5, None, None, ())
    assert punctuation.describe() == "processing error on a punctuation (task 0_0): KeyError: 'x'"


def test_stack_trace_header_is_bounded() -> None:
    try:
        raise ValueError("x" * 50_000)
    except ValueError as caught:
        error = ErrorContext("processing", caught, "0_0", "t", 0, 0, 0, None, None, ())
    stack = dict(dead_letter_headers(error))["__streams.errors.stacktrace"]
    assert stack is not None and len(stack) == 8 * 1024
