"""Every stateless KStream operation through the TopologyTestDriver, with exact outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog_streams import KStream, Serdes, StreamsBuilder, StreamsException, TaskFailedError
from flowlog_streams.testing import TestRecord, TopologyTestDriver

S = Serdes.str()
HEADERS = (("trace", b"t-1"), ("empty", None))


def run(
    build: Callable[[KStream], None],
    records: list[tuple[Any, Any]],
    *,
    outputs: tuple[str, ...] = ("out",),
    config: dict[str, Any] | None = None,
) -> dict[str, list[TestRecord]]:
    """Pipe (key, value) str records with timestamps 10, 20, ... and headers; read every output."""
    builder = StreamsBuilder()
    build(builder.stream("in", key_serde=S, value_serde=S))
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        topics = {name: driver.create_output_topic(name, S, S) for name in outputs}
        for index, (key, value) in enumerate(records):
            inp.pipe_input(key, value, timestamp=10 * (index + 1), headers=HEADERS)
        return {name: topic.read_records_to_list() for name, topic in topics.items()}


def kvs(records: list[TestRecord]) -> list[tuple[Any, Any]]:
    return [(r.key, r.value) for r in records]


def sink(stream: KStream, topic: str = "out") -> None:
    stream.to(topic, key_serde=S, value_serde=S)


INPUT = [("a", "apple"), ("b", "banana"), (None, "cherry"), ("d", None), ("e", "egg")]


def test_filter_keeps_matching_records_with_timestamp_and_headers() -> None:
    out = run(lambda s: sink(s.filter(lambda k, v: v is not None and "a" in v)), INPUT)["out"]
    assert out == [
        TestRecord("a", "apple", 10, HEADERS),
        TestRecord("b", "banana", 20, HEADERS),
    ]


def test_filter_not_keeps_the_others() -> None:
    out = run(lambda s: sink(s.filter_not(lambda k, v: v is not None and "a" in v)), INPUT)["out"]
    assert out == [
        TestRecord(None, "cherry", 30, HEADERS),
        TestRecord("d", None, 40, HEADERS),
        TestRecord("e", "egg", 50, HEADERS),
    ]


def test_filter_uses_truthiness_of_the_predicate() -> None:
    out = run(lambda s: sink(s.filter(lambda k, v: v and len(v) - 5)), INPUT)["out"]
    # len - 5: 0 (falsy) for "apple", 1 for "banana"/"cherry", -2 (truthy) for "egg"; None is falsy.
    assert kvs(out) == [("b", "banana"), (None, "cherry"), ("e", "egg")]


def test_map_changes_key_and_value() -> None:
    out = run(lambda s: sink(s.map(lambda k, v: (v, k))), [("a", "1"), ("b", "2")])["out"]
    assert out == [TestRecord("1", "a", 10, HEADERS), TestRecord("2", "b", 20, HEADERS)]


def test_map_accepts_a_two_item_list() -> None:
    out = run(lambda s: sink(s.map(lambda k, v: [k + "!", v + "?"])), [("a", "1")])["out"]
    assert kvs(out) == [("a!", "1?")]


def test_map_values_changes_only_the_value() -> None:
    out = run(lambda s: sink(s.map_values(lambda v: v.upper())), [("a", "x"), ("b", "y")])["out"]
    assert out == [TestRecord("a", "X", 10, HEADERS), TestRecord("b", "Y", 20, HEADERS)]


def test_map_values_may_produce_a_tombstone() -> None:
    out = run(lambda s: sink(s.map_values(lambda v: None)), [("a", "x")])["out"]
    assert out == [TestRecord("a", None, 10, HEADERS)]


def test_flat_map_emits_each_pair_in_order() -> None:
    def explode(key: str, value: str) -> list[tuple[str, str]]:
        return [(f"{key}{i}", ch) for i, ch in enumerate(value)]

    out = run(lambda s: sink(s.flat_map(explode)), [("a", "xy"), ("b", ""), ("c", "z")])["out"]
    assert out == [
        TestRecord("a0", "x", 10, HEADERS),
        TestRecord("a1", "y", 10, HEADERS),
        TestRecord("c0", "z", 30, HEADERS),
    ]


def test_flat_map_accepts_a_generator() -> None:
    def pairs(key: str, value: str) -> Any:
        for part in value.split(","):
            yield key, part

    out = run(lambda s: sink(s.flat_map(pairs)), [("k", "1,2,3")])["out"]
    assert kvs(out) == [("k", "1"), ("k", "2"), ("k", "3")]


def test_flat_map_values_keeps_the_key() -> None:
    out = run(lambda s: sink(s.flat_map_values(lambda v: v.split())), [("k", "a b c"), ("j", "")])
    assert out["out"] == [
        TestRecord("k", "a", 10, HEADERS),
        TestRecord("k", "b", 10, HEADERS),
        TestRecord("k", "c", 10, HEADERS),
    ]


def test_select_key_keeps_the_value() -> None:
    out = run(lambda s: sink(s.select_key(lambda k, v: v[0])), [("a", "xy"), ("b", "zz")])["out"]
    assert out == [TestRecord("x", "xy", 10, HEADERS), TestRecord("z", "zz", 20, HEADERS)]


def test_peek_sees_every_record_and_forwards_it_unchanged() -> None:
    seen: list[tuple[Any, Any]] = []
    out = run(lambda s: sink(s.peek(lambda k, v: seen.append((k, v)))), INPUT)["out"]
    assert seen == INPUT
    assert kvs(out) == INPUT
    assert [r.timestamp for r in out] == [10, 20, 30, 40, 50]


def test_peek_return_value_is_ignored() -> None:
    out = run(lambda s: sink(s.peek(lambda k, v: "ignored")), [("a", "b")])["out"]
    assert out == [TestRecord("a", "b", 10, HEADERS)]


def test_foreach_is_terminal_and_sees_every_record() -> None:
    seen: list[tuple[Any, Any]] = []
    builder = StreamsBuilder()
    result = builder.stream("in", key_serde=S, value_serde=S).foreach(
        lambda k, v: seen.append((k, v))
    )
    assert result is None
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_key_value_list(INPUT)
    assert seen == INPUT


def test_chain_of_operations() -> None:
    def build(stream: KStream) -> None:
        (stream.filter(lambda k, v: v is not None)
         .map_values(str.upper)
         .flat_map_values(lambda v: [v, v.lower()])
         .select_key(lambda k, v: v[:2])
         .filter_not(lambda k, v: k == "EG")
         .peek(lambda k, v: None)
         .to("out", key_serde=S, value_serde=S))

    out = run(build, INPUT)["out"]
    assert kvs(out) == [
        ("AP", "APPLE"), ("ap", "apple"), ("BA", "BANANA"), ("ba", "banana"),
        ("CH", "CHERRY"), ("ch", "cherry"), ("eg", "egg"),
    ]
    assert [r.timestamp for r in out] == [10, 10, 20, 20, 30, 30, 50]


def test_one_stream_feeds_several_operations() -> None:
    def build(stream: KStream) -> None:
        sink(stream.map_values(str.upper), "upper")
        sink(stream.map_values(str.lower), "lower")

    out = run(build, [("k", "MiXed")], outputs=("upper", "lower"))
    assert kvs(out["upper"]) == [("k", "MIXED")]
    assert kvs(out["lower"]) == [("k", "mixed")]


def test_named_operations_use_the_given_names() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in", name="source")
    stream.filter(lambda k, v: True, name="keep").map_values(lambda v: v, name="same").to(
        "out", name="sink"
    )
    assert list(builder.build().nodes) == ["source", "keep", "same", "sink"]


@pytest.mark.parametrize(("build", "message"), [
    (lambda s: s.map(lambda k, v: v), "map must return a \\(key, value\\) pair"),
    (lambda s: s.map(lambda k, v: (k, v, 1)), "map must return a \\(key, value\\) pair"),
    (lambda s: s.flat_map(lambda k, v: None), "flat_map must return an iterable"),
    (lambda s: s.flat_map(lambda k, v: [k]), "flat_map must return a \\(key, value\\) pair"),
    (lambda s: s.flat_map_values(lambda v: v), "flat_map_values must return an iterable"),
    (lambda s: s.flat_map_values(lambda v: 5), "flat_map_values must return an iterable"),
])
def test_mapper_returning_the_wrong_shape_fails_the_task(
    build: Callable[[KStream], KStream], message: str
) -> None:
    with pytest.raises(TaskFailedError, match=message) as info:
        run(lambda s: sink(build(s)), [("a", "xy")])
    assert isinstance(info.value.__cause__, StreamsException)


@pytest.mark.parametrize("operation", [
    "filter", "filter_not", "map", "map_values", "flat_map", "flat_map_values", "select_key",
    "peek", "foreach",
])
def test_operations_need_a_callable(operation: str) -> None:
    stream = StreamsBuilder().stream("in")
    with pytest.raises(TypeError, match=f"{operation}\\(\\) needs a callable"):
        getattr(stream, operation)("not callable")


def test_key_changing_operations_mark_the_stream_for_repartitioning() -> None:
    stream = StreamsBuilder().stream("in")
    assert not stream.repartition_required
    assert not stream.filter(lambda k, v: True).map_values(str).repartition_required
    assert stream.map(lambda k, v: (k, v)).repartition_required
    assert stream.select_key(lambda k, v: k).repartition_required
    assert stream.flat_map(lambda k, v: []).repartition_required
    assert stream.select_key(lambda k, v: k).map_values(str).repartition_required
    assert not stream.select_key(lambda k, v: k).repartition().repartition_required


def test_serdes_flow_as_kafka_streams_passes_them_on() -> None:
    stream = StreamsBuilder().stream("in", key_serde=Serdes.str(), value_serde=Serdes.int())
    assert (stream.key_serde, stream.value_serde) == (Serdes.str(), Serdes.int())
    kept = stream.filter(lambda k, v: True).peek(lambda k, v: None)
    assert (kept.key_serde, kept.value_serde) == (Serdes.str(), Serdes.int())
    assert (stream.map_values(str).key_serde, stream.map_values(str).value_serde) == (
        Serdes.str(), None)
    assert (stream.select_key(str).key_serde, stream.select_key(str).value_serde) == (
        None, Serdes.int())
    assert (stream.map(lambda k, v: (k, v)).key_serde, stream.map(lambda k, v: (k, v)).value_serde) == (
        None, None)
    assert stream.flat_map_values(lambda v: [v]).key_serde is Serdes.str()


# ---------------------------------------------------------------- properties

RECORDS = st.lists(
    st.tuples(st.none() | st.text(max_size=5), st.none() | st.text(max_size=8)), max_size=25
)


@settings(max_examples=60, deadline=None)
@given(RECORDS, st.integers(0, 8))
def test_filter_map_values_equals_plain_python(records: list[tuple[Any, Any]], cut: int) -> None:
    def keep(key: Any, value: Any) -> bool:
        return value is not None and len(value) >= cut % 4

    def build(stream: KStream) -> None:
        stream.filter(keep).map_values(lambda v: v[::-1] + str(cut)).to(
            "out", key_serde=S, value_serde=S
        )

    out = run(build, records)["out"]
    expected = [(k, v[::-1] + str(cut)) for k, v in records if keep(k, v)]
    assert kvs(out) == expected
    kept_times = [10 * (i + 1) for i, (k, v) in enumerate(records) if keep(k, v)]
    assert [r.timestamp for r in out] == kept_times


@settings(max_examples=60, deadline=None)
@given(RECORDS)
def test_flat_map_select_key_filter_not_equals_plain_python(records: list[tuple[Any, Any]]) -> None:
    def build(stream: KStream) -> None:
        (stream.filter_not(lambda k, v: v is None)
         .flat_map(lambda k, v: [(ch, k) for ch in v[:3]])
         .select_key(lambda k, v: (k or "") * 2)
         .map(lambda k, v: (k, "" if v is None else v.upper()))
         .to("out", key_serde=S, value_serde=S))

    expected = [
        (ch * 2, "" if k is None else k.upper())
        for k, v in records if v is not None for ch in v[:3]
    ]
    assert kvs(run(build, records)["out"]) == expected
