"""split/branch, merge, to() with a topic chooser or a partitioner, and repartition()."""

from __future__ import annotations

from typing import Any

import pytest

from flowlog.protocol.murmur2 import partition_for_key
from flowlog_streams import (
    KStream,
    Processor,
    Record,
    RecordMetadata,
    Serdes,
    StreamsBuilder,
    TaskFailedError,
    TopologyException,
)
from flowlog_streams.testing import TestRecord, TopologyTestDriver

S = Serdes.str()
APP = "topology-test-driver"  # the driver's application id: prefix of internal topics


def to_str(stream: KStream, topic: str) -> None:
    stream.to(topic, key_serde=S, value_serde=S)


class Where(Processor):
    """Records (task id, topic, partition, key, value) of everything it sees, then forwards."""

    def __init__(self, log: list[tuple[str, str | None, int, Any, Any]]) -> None:
        self._log = log

    def process(self, record: Record) -> None:
        ctx = self.context
        self._log.append((str(ctx.task_id), ctx.topic, ctx.partition, record.key, record.value))
        ctx.forward(record)


# ---------------------------------------------------------------- split / branch


def test_first_matching_branch_wins_and_default_gets_the_rest() -> None:
    builder = StreamsBuilder()
    branches = (
        builder.stream("in", key_serde=S, value_serde=S)
        .split("num-")
        .branch(lambda k, v: int(v) % 2 == 0, "even")
        .branch(lambda k, v: int(v) % 3 == 0, "three")  # 6 is even: it never gets here
        .default_branch("other")
    )
    assert list(branches) == ["num-even", "num-three", "num-other"]
    for name, stream in branches.items():
        to_str(stream, name)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        outs = {name: driver.create_output_topic(name, S, S) for name in branches}
        for n in range(1, 10):
            inp.pipe_input(str(n), str(n), timestamp=n)
        assert outs["num-even"].read_values_to_list() == ["2", "4", "6", "8"]
        assert outs["num-three"].read_values_to_list() == ["3", "9"]
        assert outs["num-other"].read_values_to_list() == ["1", "5", "7"]


def test_branch_records_keep_key_timestamp_and_headers() -> None:
    builder = StreamsBuilder()
    branches = builder.stream("in", key_serde=S, value_serde=S).split("b-").branch(
        lambda k, v: True, "all").no_default_branch()
    to_str(branches["b-all"], "out")
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_input("k", "v", timestamp=77, headers=[("h", b"1")])
        assert out.read_record() == TestRecord("k", "v", 77, (("h", b"1"),))


def test_unnamed_branches_are_numbered_from_1_and_default_is_0() -> None:
    builder = StreamsBuilder()
    branches = (
        builder.stream("in", key_serde=S, value_serde=S)
        .split("s-")
        .branch(lambda k, v: v == "a")
        .branch(lambda k, v: v == "b", "bee")
        .branch(lambda k, v: v == "c")
        .default_branch()
    )
    assert list(branches) == ["s-1", "s-bee", "s-3", "s-0"]
    for name, stream in branches.items():
        to_str(stream, name)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        outs = {name: driver.create_output_topic(name, S, S) for name in branches}
        inp.pipe_value_list(["c", "z", "a", "b"])
        assert {name: out.read_values_to_list() for name, out in outs.items()} == {
            "s-1": ["a"], "s-bee": ["b"], "s-3": ["c"], "s-0": ["z"],
        }


def test_split_without_prefix_uses_a_generated_name_and_burns_indexes() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in")  # KSTREAM-SOURCE-0000000000
    branches = stream.split().branch(lambda k, v: True).default_branch()
    assert list(branches) == ["KSTREAM-BRANCH-00000000011", "KSTREAM-BRANCH-00000000010"]
    # The splitter took index 1 and each branch burnt one: the next node gets 4.
    branches["KSTREAM-BRANCH-00000000011"].to("out")
    assert list(builder.build().nodes)[-1] == "KSTREAM-SINK-0000000004"


def test_no_default_branch_drops_unmatched_records() -> None:
    builder = StreamsBuilder()
    branches = (
        builder.stream("in", key_serde=S, value_serde=S).split("x-")
        .branch(lambda k, v: v.startswith("a"), "a").no_default_branch()
    )
    assert list(branches) == ["x-a"]
    to_str(branches["x-a"], "out")
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value_list(["ab", "ba", "ac"])
        assert out.read_values_to_list() == ["ab", "ac"]
        assert driver.metrics()["0_0"]["records_processed"] == 3


def test_branches_can_be_chained_further_and_feed_one_topic() -> None:
    builder = StreamsBuilder()
    branches = (
        builder.stream("in", key_serde=S, value_serde=S).split("p-")
        .branch(lambda k, v: v.isdigit(), "digits").default_branch("rest")
    )
    to_str(branches["p-digits"].map_values(lambda v: str(int(v) * 10)), "out")
    to_str(branches["p-rest"].map_values(str.upper), "out")
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_value_list(["4", "x", "12"])
        assert out.read_values_to_list() == ["40", "X", "120"]


def test_branch_errors() -> None:
    builder = StreamsBuilder()
    split = builder.stream("in").split("e-").branch(lambda k, v: True, "a")
    with pytest.raises(TopologyException, match="branch 'e-a' already exists"):
        split.branch(lambda k, v: False, "a")
    with pytest.raises(TypeError, match="branch\\(\\) needs a callable"):
        split.branch("nope")  # type: ignore[arg-type]
    split.default_branch()
    with pytest.raises(TopologyException, match="default_branch\\(\\) was already called"):
        split.default_branch()
    with pytest.raises(TopologyException, match="branch\\(\\) after default_branch\\(\\)"):
        split.branch(lambda k, v: True, "late")


def test_default_branch_name_cannot_repeat_a_branch_name() -> None:
    split = StreamsBuilder().stream("in").split("d-").branch(lambda k, v: True, "0")
    with pytest.raises(TopologyException, match="branch 'd-0' already exists"):
        split.default_branch()


# ---------------------------------------------------------------- merge


def test_merge_interleaves_both_streams_in_arrival_order() -> None:
    builder = StreamsBuilder()
    left = builder.stream("left", key_serde=S, value_serde=S).map_values(lambda v: "L" + v)
    right = builder.stream("right", key_serde=S, value_serde=S).map_values(lambda v: "R" + v)
    to_str(left.merge(right), "out")
    with TopologyTestDriver(builder.build()) as driver:
        lin = driver.create_input_topic("left", S, S)
        rin = driver.create_input_topic("right", S, S)
        out = driver.create_output_topic("out", S, S)
        lin.pipe_input("a", "1", timestamp=5)
        rin.pipe_input("b", "2", timestamp=3)
        lin.pipe_input("c", "3", timestamp=9, headers={"x": b"y"})
        assert out.read_records_to_list() == [
            TestRecord("a", "L1", 5, ()),
            TestRecord("b", "R2", 3, ()),
            TestRecord("c", "L3", 9, (("x", b"y"),)),
        ]


def test_merge_of_two_sources_is_one_sub_topology_and_one_task() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    merged = builder.stream("a", key_serde=S, value_serde=S).merge(
        builder.stream("b", key_serde=S, value_serde=S))
    merged.process(lambda: Where(log))
    topology = builder.build()
    assert len(topology.subtopologies()) == 1
    with TopologyTestDriver(topology) as driver:
        driver.create_input_topic("a", S, S).pipe_input("k", "1")
        driver.create_input_topic("b", S, S).pipe_input("k", "2")
    assert log == [("0_0", "a", 0, "k", "1"), ("0_0", "b", 0, "k", "2")]


def test_merge_with_itself_forwards_twice() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in", key_serde=S, value_serde=S)
    to_str(stream.merge(stream.map_values(str.upper)), "out")
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", S, S).pipe_input("k", "v")
        # The source's children in the order they were added: map_values (created as the
        # argument, before the merge), then the merge itself.
        assert driver.create_output_topic("out", S, S).read_values_to_list() == ["V", "v"]


def test_merge_keeps_serdes_only_when_both_sides_agree() -> None:
    builder = StreamsBuilder()
    a = builder.stream("a", key_serde=S, value_serde=Serdes.int())
    b = builder.stream("b", key_serde=S, value_serde=Serdes.long())
    merged = a.merge(b)
    assert merged.key_serde is S
    assert merged.value_serde is None
    assert not merged.repartition_required
    assert a.merge(b.select_key(lambda k, v: v)).repartition_required


def test_merge_needs_streams_of_the_same_builder() -> None:
    a = StreamsBuilder().stream("a")
    b = StreamsBuilder().stream("b")
    with pytest.raises(TopologyException, match="same StreamsBuilder"):
        a.merge(b)


# ---------------------------------------------------------------- to()


def test_to_with_a_topic_chooser() -> None:
    calls: list[tuple[Any, Any, Any]] = []

    def choose(key: Any, value: Any, metadata: RecordMetadata | None) -> str:
        calls.append((key, value, metadata))
        return f"out-{value[0]}"

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).to(choose, key_serde=S, value_serde=S)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out_a = driver.create_output_topic("out-a", S, S)
        out_b = driver.create_output_topic("out-b", S, S)
        inp.pipe_input("1", "apple", timestamp=4)
        inp.pipe_input("2", "bean", timestamp=5)
        inp.pipe_input("3", "avocado", timestamp=6)
        assert out_a.read_records_to_list() == [
            TestRecord("1", "apple", 4, ()), TestRecord("3", "avocado", 6, ())]
        assert out_b.read_key_values_to_list() == [("2", "bean")]
    assert calls == [
        ("1", "apple", RecordMetadata("in", 0, 0)),
        ("2", "bean", RecordMetadata("in", 0, 1)),
        ("3", "avocado", RecordMetadata("in", 0, 2)),
    ]


@pytest.mark.parametrize("bad", ["", None, 5])
def test_topic_chooser_returning_no_topic_fails(bad: Any) -> None:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).to(lambda k, v, m: bad)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        with pytest.raises(TaskFailedError, match="topic chooser of KSTREAM-SINK-0000000001"):
            inp.pipe_input("k", "v")


def test_to_with_a_partitioner_gets_topic_key_value_and_partition_count() -> None:
    calls: list[tuple[str, Any, Any, int]] = []

    def partitioner(topic: str, key: Any, value: Any, count: int) -> int:
        calls.append((topic, key, value, count))
        return count - 1

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).to(
        "out", key_serde=S, value_serde=S, partitioner=partitioner)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S, partitions=5)
        inp.pipe_input("k", "v")
        assert out.read_key_value() == ("k", "v")
    assert calls == [("out", "k", "v", 5)]


@pytest.mark.parametrize("chosen", [-1, 3, 10])
def test_partitioner_choosing_a_missing_partition_fails(chosen: int) -> None:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).to(
        "out", key_serde=S, value_serde=S, partitioner=lambda t, k, v, n: chosen)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        driver.create_output_topic("out", S, S, partitions=3)
        with pytest.raises(TaskFailedError, match=f"chose partition {chosen} of 'out', which has 3"):
            inp.pipe_input("k", "v")


def test_to_rejects_a_topic_that_is_neither_name_nor_callable() -> None:
    with pytest.raises(TopologyException, match="topic must be a name or a callable"):
        StreamsBuilder().stream("in").to(42)  # type: ignore[arg-type]


def test_writing_to_a_source_topic_feeds_the_record_back() -> None:
    # Kafka Streams' driver re-enqueues what a sink writes to a source topic of the topology.
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).filter(lambda k, v: len(v) < 3).map_values(
        lambda v: v + "!").to("loop", key_serde=S, value_serde=S)
    to_str(builder.stream("loop", key_serde=S, value_serde=S).map_values(str.upper), "out")
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", S, S).pipe_input("k", "ab")
        assert driver.create_output_topic("loop", S, S).read_values_to_list() == ["ab!"]
        assert driver.create_output_topic("out", S, S).read_values_to_list() == ["AB!"]


# ---------------------------------------------------------------- repartition


def test_repartition_routes_records_through_the_internal_topic() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .select_key(lambda k, v: v.split(":")[0])
     .repartition(name="by-user", key_serde=S, value_serde=S)
     .process(lambda: Where(log))
     .to("out", key_serde=S, value_serde=S))
    topology = builder.build()
    assert list(topology.internal_topics) == ["by-user-repartition"]
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        inp.pipe_input("x", "ann:1", timestamp=11, headers={"h": b"v"})
        # Processed through both sub-topologies within the one pipe call.
        assert out.read_record() == TestRecord("ann", "ann:1", 11, (("h", b"v"),))
        assert log == [("1_0", f"{APP}-by-user-repartition", 0, "ann", "ann:1")]
        # The internal topic is written (and counted) but is not an output to read.
        assert driver.producer_count(f"{APP}-by-user-repartition") == 1
        assert driver.create_output_topic(f"{APP}-by-user-repartition", S, S).is_empty()
        assert driver.producer_count("out") == 1
        assert set(driver.metrics()) == {"0_0", "1_0"}
        assert driver.metrics()["0_0"]["records_produced"] == 1
        assert driver.metrics()["1_0"]["records_processed"] == 1


def test_repartition_with_generated_name() -> None:
    builder = StreamsBuilder()
    repartitioned = builder.stream("in", key_serde=S, value_serde=S).repartition()
    to_str(repartitioned, "out")
    topology = builder.build()
    assert list(topology.internal_topics) == ["KSTREAM-REPARTITION-0000000001-repartition"]
    assert repartitioned.node_name == "KSTREAM-SOURCE-0000000004"
    assert repartitioned.key_serde is S and repartitioned.value_serde is S
    with TopologyTestDriver(topology) as driver:
        driver.create_input_topic("in", S, S).pipe_input("k", "v")
        assert driver.create_output_topic("out", S, S).read_key_value() == ("k", "v")


def test_repartition_name_ending_in_repartition_is_not_suffixed_twice() -> None:
    builder = StreamsBuilder()
    builder.stream("in").repartition(name="x-repartition").to("out")
    topology = builder.build()
    assert list(topology.internal_topics) == ["x-repartition"]
    assert "x-repartition-source" in topology.nodes


def test_repartition_spreads_keys_by_murmur2_over_num_partitions() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .select_key(lambda k, v: v)
     .repartition(name="rk", num_partitions=3, key_serde=S, value_serde=S)
     .process(lambda: Where(log)))
    topology = builder.build()
    assert topology.internal_topics["rk-repartition"].num_partitions == 3
    values = [str(n) for n in range(12)]
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("in", S, S)
        for value in values:
            inp.pipe_input("same-key", value)
        assert set(driver.metrics()) == {"0_0", "1_0", "1_1", "1_2"}
    expected = []
    for value in values:
        partition = partition_for_key(value.encode(), 3)
        expected.append((f"1_{partition}", f"{APP}-rk-repartition", partition, value, value))
    assert log == expected
    assert {entry[2] for entry in log} == {0, 1, 2}  # the keys do spread


def test_repartition_partitioner_chooses_the_partition() -> None:
    log: list[Any] = []
    calls: list[Any] = []

    def by_value(topic: str, key: Any, value: Any, count: int) -> int:
        calls.append((topic, key, value, count))
        return int(value) % count

    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .repartition(name="rp", num_partitions=4, partitioner=by_value)
     .process(lambda: Where(log)))
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        for value in ["1", "2", "7", "8"]:
            inp.pipe_input("k", value)
    topic = f"{APP}-rp-repartition"
    assert calls == [(topic, "k", v, 4) for v in ["1", "2", "7", "8"]]
    assert log == [("1_1", topic, 1, "k", "1"), ("1_2", topic, 2, "k", "2"),
                   ("1_3", topic, 3, "k", "7"), ("1_0", topic, 0, "k", "8")]


def test_partitioner_returning_none_falls_back_to_murmur2() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .repartition(name="rp", num_partitions=5, partitioner=lambda t, k, v, n: None)
     .process(lambda: Where(log)))
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", S, S).pipe_key_value_list([("a", "1"), ("bb", "2")])
    assert [entry[2] for entry in log] == [partition_for_key(b"a", 5), partition_for_key(b"bb", 5)]


def test_repartition_without_count_takes_the_writers_widest_source() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .repartition(name="wide")
     .process(lambda: Where(log)))
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=2)
        inp.pipe_input("k", "v", partition=1)
        assert set(driver.metrics()) == {"0_0", "0_1", "1_0", "1_1"}
    assert log == [(f"1_{partition_for_key(b'k', 2)}", f"{APP}-wide-repartition",
                    partition_for_key(b"k", 2), "k", "v")]


def test_repartition_keeps_null_keys() -> None:
    # Kafka Streams' repartition() filter passes every record (groupBy's drops null keys).
    builder = StreamsBuilder()
    to_str(builder.stream("in", key_serde=S, value_serde=S).repartition(name="n"), "out")
    with TopologyTestDriver(builder.build()) as driver:
        driver.create_input_topic("in", S, S).pipe_value("v")
        assert driver.create_output_topic("out", S, S).read_key_value() == (None, "v")


def test_two_repartitions_in_a_row() -> None:
    log: list[Any] = []
    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .repartition(name="one", num_partitions=2)
     .map_values(str.upper)
     .repartition(name="two", key_serde=S, value_serde=S)
     .process(lambda: Where(log)))
    topology = builder.build()
    assert len(topology.subtopologies()) == 3
    with TopologyTestDriver(topology) as driver:
        driver.create_input_topic("in", S, S).pipe_input("key", "v")
        # "two" has no count: it takes sub-topology 1's source count, 2.
        assert set(driver.metrics()) == {"0_0", "1_0", "1_1", "2_0", "2_1"}
    partition = partition_for_key(b"key", 2)
    assert log == [(f"2_{partition}", f"{APP}-two-repartition", partition, "key", "V")]


def test_repartition_rejects_a_zero_partition_count() -> None:
    with pytest.raises(TopologyException, match="num_partitions must be >= 1"):
        StreamsBuilder().stream("in").repartition(name="z", num_partitions=0)
