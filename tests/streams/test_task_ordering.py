"""A task's record order across its partitions, stream time and max_task_idle_ms (StreamTask driven directly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.client.types import ConsumerRecord, TopicPartition
from flowlog_streams import (
    Processor,
    PunctuationType,
    Record,
    Serdes,
    StreamsBuilder,
    StreamsConfig,
    TaskId,
)
from flowlog_streams.processor import Headers
from flowlog_streams.task import StreamTask
from flowlog_streams.testing import TopologyTestDriver
from flowlog_streams.topics import resolve_topics

S = Serdes.str()
A0 = TopicPartition("a", 0)
B0 = TopicPartition("b", 0)


class Collector:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers, int, int | None]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers,
             timestamp: int, partition: int | None) -> None:
        self.sent.append((topic, key, value, headers, timestamp, partition))

    def partition_count(self, topic: str) -> int:
        return 1


class Log(Processor):
    """Logs (topic, offset, timestamp, stream time) of each record and forwards it."""

    def __init__(self, log: list[tuple[str | None, int, int, int]]) -> None:
        self.log = log

    def process(self, record: Record) -> None:
        ctx = self.context
        self.log.append((ctx.topic, ctx.offset, record.timestamp, ctx.current_stream_time_ms()))
        ctx.forward(record)


class Harness:
    """One task of builder.stream(["a", "b"]) -> Log -> "out", with a mock clock and lags."""

    def __init__(self, *, idle_ms: int = 0,
                 lag_of: Callable[[TopicPartition], int | None] = lambda tp: 0,
                 topics: tuple[str, ...] = ("a", "b")) -> None:
        self.log: list[tuple[str | None, int, int, int]] = []
        self.now_ms = 0
        self.lag_calls: list[TopicPartition] = []
        self.offsets: dict[TopicPartition, int] = {}
        builder = StreamsBuilder()
        builder.stream(list(topics), key_serde=S, value_serde=S).process(
            lambda: Log(self.log)).to("out", key_serde=S, value_serde=S)
        topology = builder.build()
        config = StreamsConfig(application_id="app", max_task_idle_ms=idle_ms)
        self.collector = Collector()

        def lag(tp: TopicPartition) -> int | None:
            self.lag_calls.append(tp)
            return lag_of(tp)

        self.task = StreamTask(
            TaskId(0, 0), topology, resolve_topics(topology, "app"),
            [TopicPartition(t, 0) for t in topics], self.collector, config,
            wall_clock_ms=lambda: self.now_ms, lag_of=lag,
        )

    def add(self, tp: TopicPartition, *timestamps: int) -> None:
        records = []
        for timestamp in timestamps:
            offset = self.offsets.get(tp, 0)
            self.offsets[tp] = offset + 1
            records.append(ConsumerRecord(tp.topic, tp.partition, offset, timestamp, b"k",
                                          str(timestamp).encode()))
        self.task.add_records(tp, records)

    def order(self) -> list[tuple[str | None, int]]:
        return [(topic, timestamp) for topic, _, timestamp, _ in self.log]


def test_a_two_topic_stream_gives_each_task_one_partition_of_each() -> None:
    seen: list[tuple[str, str | None, int]] = []

    class Where(Processor):
        def process(self, record: Record) -> None:
            seen.append((str(self.context.task_id), self.context.topic, self.context.partition))

    builder = StreamsBuilder()
    builder.stream(["a", "b"], key_serde=S, value_serde=S).process(Where)
    topology = builder.build()
    (subtopology,) = topology.subtopologies()
    assert subtopology.source_topics == ("a", "b")
    with TopologyTestDriver(topology) as driver:
        a = driver.create_input_topic("a", S, S, partitions=2)
        b = driver.create_input_topic("b", S, S, partitions=2)
        for partition in (0, 1):
            a.pipe_input("k", "v", partition=partition)
            b.pipe_input("k", "v", partition=partition)
        assert sorted(driver.metrics()) == ["0_0", "0_1"]
    # Task p reads partition p of both topics.
    assert seen == [("0_0", "a", 0), ("0_0", "b", 0), ("0_1", "a", 1), ("0_1", "b", 1)]


def test_records_are_processed_in_timestamp_order_across_partitions() -> None:
    harness = Harness()
    harness.add(A0, 1, 5, 9)
    harness.add(B0, 2, 3, 10)
    assert harness.task.buffered(A0) == 3 and harness.task.has_buffered()
    assert harness.task.process(100) == 6
    assert harness.order() == [("a", 1), ("b", 2), ("b", 3), ("a", 5), ("a", 9), ("b", 10)]
    assert not harness.task.has_buffered()
    assert harness.task.metrics.records_processed == 6
    # Outputs keep the input timestamps, in processing order.
    assert [sent[4] for sent in harness.collector.sent] == [1, 2, 3, 5, 9, 10]


def test_each_partition_stays_fifo_and_stream_time_is_the_max_so_far() -> None:
    harness = Harness()
    harness.add(A0, 10, 3)   # out of order inside the partition: FIFO all the same
    harness.add(B0, 5, 20)
    harness.task.process(100)
    assert [(t, ts, stream) for t, _, ts, stream in harness.log] == [
        ("b", 5, 5), ("a", 10, 10), ("a", 3, 10), ("b", 20, 20),
    ]
    assert harness.task.stream_time == 20
    harness.add(A0, 7)
    harness.task.process(100)
    assert harness.log[-1] == ("a", 2, 7, 20)  # stream time never goes back
    assert harness.task.stream_time == 20


def test_stream_time_starts_unknown() -> None:
    harness = Harness()
    assert harness.task.stream_time == -1
    assert harness.task.process(10) == 0


def test_process_stops_at_max_records() -> None:
    harness = Harness()
    harness.add(A0, 1, 2, 3)
    harness.add(B0, 4)
    assert harness.task.process(2) == 2
    assert harness.order() == [("a", 1), ("a", 2)]
    assert harness.task.process(2) == 2
    assert harness.order()[2:] == [("a", 3), ("b", 4)]


def test_unknown_lag_on_an_empty_partition_holds_the_task_back() -> None:
    harness = Harness(lag_of=lambda tp: None)
    harness.add(A0, 1, 2)
    assert harness.task.process(100) == 0       # b may have earlier records: wait
    assert harness.lag_calls == [B0]
    harness.add(B0, 0, 5)
    assert harness.task.process(100) == 3        # b0, a1, a2; then a is empty again
    assert harness.order() == [("b", 0), ("a", 1), ("a", 2)]
    assert harness.task.buffered(B0) == 1
    harness.add(A0, 4)
    assert harness.task.process(100) == 1        # a4, then a empty: b5 waits
    assert harness.order()[-1] == ("a", 4)
    assert harness.task.buffered(B0) == 1


def test_positive_lag_waits_however_long_the_idle_time() -> None:
    harness = Harness(lag_of=lambda tp: 3, idle_ms=10)
    harness.add(A0, 1)
    for now in (0, 10, 1_000_000):
        assert harness.task.process(100, now_ms=now) == 0
    harness.add(B0, 2)
    assert harness.task.process(100, now_ms=1_000_000) == 1  # a1; then a is empty: b2 waits
    assert harness.order() == [("a", 1)]
    assert harness.task.buffered(B0) == 1


def test_zero_lag_waits_up_to_max_task_idle_ms_of_wall_clock() -> None:
    harness = Harness(idle_ms=100)
    harness.now_ms = 1_000
    harness.add(A0, 5, 6)
    assert harness.task.process(100) == 0                    # idle since 1000
    assert harness.task.process(100, now_ms=1_099) == 0
    assert harness.task.process(1, now_ms=1_100) == 1        # deadline 1000 + 100 reached
    assert harness.task.process(100, now_ms=1_100) == 1      # still given up on b
    assert harness.order() == [("a", 5), ("a", 6)]
    harness.add(B0, 7)
    harness.add(A0, 8)
    assert harness.task.process(100, now_ms=1_200) == 1      # b7; then b is empty again
    # b had data since: its idle clock restarts at 1200, so a8 waits until 1300.
    assert harness.task.process(100, now_ms=1_299) == 0
    assert harness.task.process(100, now_ms=1_300) == 1
    assert harness.order()[2:] == [("b", 7), ("a", 8)]


def test_zero_lag_idle_clock_restarts_after_the_partition_had_data() -> None:
    harness = Harness(idle_ms=100)
    harness.add(A0, 1)
    assert harness.task.process(100, now_ms=0) == 0
    assert harness.task.process(100, now_ms=100) == 1        # gave up waiting for b at 100
    harness.add(B0, 2)
    harness.add(A0, 3)
    assert harness.task.process(1, now_ms=150) == 1          # b2 (both had data)
    harness.add(A0, 4)
    assert harness.task.process(100, now_ms=150) == 0        # b empty again: idle from 150
    assert harness.task.process(100, now_ms=249) == 0
    assert harness.task.process(100, now_ms=250) == 2
    assert harness.order() == [("a", 1), ("b", 2), ("a", 3), ("a", 4)]


def test_zero_idle_time_never_waits_for_a_caught_up_partition() -> None:
    harness = Harness(idle_ms=0)
    harness.add(A0, 3, 4)
    assert harness.task.process(100) == 2


def test_minus_one_never_waits_even_for_unknown_lag() -> None:
    harness = Harness(idle_ms=-1, lag_of=lambda tp: None)
    harness.add(A0, 3)
    assert harness.task.process(100) == 1
    assert harness.lag_calls == []


def test_a_single_partition_task_never_waits() -> None:
    harness = Harness(lag_of=lambda tp: None, idle_ms=1_000, topics=("a",))
    harness.add(A0, 3, 1)
    assert harness.task.process(100) == 2
    assert harness.order() == [("a", 3), ("a", 1)]


def test_stream_time_punctuation_runs_between_records_of_a_batch() -> None:
    # flowlog checks stream-time punctuation after every record (as Kafka Streams' test
    # driver does); Kafka Streams' runtime checks once per processing batch instead.
    fired: list[int] = []

    class Punctuated(Processor):
        def init(self, context: Any) -> None:
            self.context = context
            context.schedule(10, PunctuationType.STREAM_TIME, fired.append)

        def process(self, record: Record) -> None:
            pass

    builder = StreamsBuilder()
    builder.stream(["a", "b"]).process(Punctuated)
    topology = builder.build()
    task = StreamTask(TaskId(0, 0), topology, resolve_topics(topology, "app"), [A0, B0],
                      Collector(), StreamsConfig(application_id="app"), wall_clock_ms=lambda: 0)
    task.add_records(A0, [ConsumerRecord("a", 0, n, ts, None, b"") for n, ts in
                          enumerate([1, 12, 35])])
    task.add_records(B0, [ConsumerRecord("b", 0, n, ts, None, b"") for n, ts in
                          enumerate([5, 21])])
    assert task.process(100) == 5
    assert fired == [1, 12, 21, 35]
    assert task.metrics.punctuations == 4


# ---------------------------------------------------------------- properties

PARTITION_TIMESTAMPS = st.lists(st.lists(st.integers(0, 50), max_size=8), min_size=2, max_size=4)


@settings(max_examples=150, deadline=None)
@given(PARTITION_TIMESTAMPS)
def test_random_timestamps_are_processed_lowest_head_first(batches: list[list[int]]) -> None:
    topics = tuple(f"t{n}" for n in range(len(batches)))
    harness = Harness(topics=topics)
    for topic, timestamps in zip(topics, batches, strict=True):
        harness.add(TopicPartition(topic, 0), *timestamps)
    total = sum(len(b) for b in batches)
    assert harness.task.process(1_000) == total
    # Replay: every processed record was the head of its partition and no other head was lower.
    heads = {topic: 0 for topic in topics}
    stream_time = -1
    for topic, offset, timestamp, seen_stream_time in harness.log:
        assert topic is not None
        assert offset == heads[topic]
        assert timestamp == batches[topics.index(topic)][offset]
        for other in topics:
            queue = batches[topics.index(other)]
            if heads[other] < len(queue):
                assert timestamp <= queue[heads[other]]
        heads[topic] += 1
        stream_time = max(stream_time, timestamp)
        assert seen_stream_time == stream_time
    assert harness.task.stream_time == stream_time


@settings(max_examples=100, deadline=None)
@given(PARTITION_TIMESTAMPS, st.data())
def test_unknown_lag_processes_only_while_every_partition_has_data(
    batches: list[list[int]], data: st.DataObject
) -> None:
    topics = tuple(f"t{n}" for n in range(len(batches)))
    harness = Harness(topics=topics, lag_of=lambda tp: None)
    for topic, timestamps in zip(topics, batches, strict=True):
        harness.add(TopicPartition(topic, 0), *timestamps)
    processed = harness.task.process(1_000)
    # It stops as soon as a partition is empty: before the first record of a partition
    # that had none, else right after the last record of some partition.
    if any(not batch for batch in batches):
        assert processed == 0
    else:
        last_topic = harness.log[-1][0]
        assert harness.task.buffered(TopicPartition(last_topic, 0)) == 0  # type: ignore[arg-type]
        assert processed == len(harness.log)
        assert all(harness.task.buffered(TopicPartition(t, 0)) > 0
                   for t in topics if t != last_topic)
