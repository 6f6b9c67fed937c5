"""Punctuation: stream-time and wall-clock schedules, as Kafka Streams fires them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flowlog_streams import (
    Cancellable,
    Processor,
    ProcessorContext,
    PunctuationType,
    Record,
    Serdes,
    StreamsBuilder,
)
from flowlog_streams.punctuation import Schedule, ScheduleQueue
from flowlog_streams.testing import TestRecord, TopologyTestDriver

S = Serdes.str()
STREAM = PunctuationType.STREAM_TIME
WALL = PunctuationType.WALL_CLOCK_TIME


class Scheduler(Processor):
    """Schedules in init; each punctuation logs (time, context view) and may forward a record."""

    def __init__(self, log: list[Any], interval_ms: int, kind: PunctuationType,
                 emit: bool = False) -> None:
        self.log = log
        self.interval_ms = interval_ms
        self.kind = kind
        self.emit = emit
        self.schedule: Cancellable | None = None

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.schedule = context.schedule(self.interval_ms, self.kind, self.punctuate)

    def punctuate(self, now_ms: int) -> None:
        ctx = self.context
        self.log.append((now_ms, ctx.topic, ctx.partition, ctx.offset, ctx.timestamp,
                         ctx.record_metadata(), ctx.current_stream_time_ms()))
        if self.emit:
            ctx.forward(Record("tick", str(now_ms), now_ms, (("from", b"punctuation"),)))

    def process(self, record: Record) -> None:
        self.context.forward(record)


def driver_for(
    make: Callable[[], Processor], start_time_ms: int = 0
) -> tuple[TopologyTestDriver, Any, Any]:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).process(make).to(
        "out", key_serde=S, value_serde=S)
    driver = TopologyTestDriver(builder.build(), start_time_ms=start_time_ms)
    return (driver, driver.create_input_topic("in", S, S),
            driver.create_output_topic("out", S, S))


def times(log: list[Any]) -> list[int]:
    return [entry[0] for entry in log]


# ---------------------------------------------------------------- stream time


def test_stream_time_first_deadline_is_zero_so_the_first_record_fires() -> None:
    log: list[Any] = []
    driver, inp, _ = driver_for(lambda: Scheduler(log, 10, STREAM))
    with driver:
        inp.pipe_input("k", "v", timestamp=3)
        assert times(log) == [3]


def test_stream_time_fires_on_reaching_deadlines_skipping_missed_ones() -> None:
    log: list[Any] = []
    driver, inp, _ = driver_for(lambda: Scheduler(log, 10, STREAM))
    expected: list[int] = []
    steps = [
        (3, [3]),     # deadline 0; next 10
        (7, []),
        (10, [10]),   # next 20
        (19, []),
        (45, [45]),   # 20, 30, 40 were missed: fires once; next 50 (aligned)
        (49, []),
        (50, [50]),   # next 60
        (12, []),     # out of order: stream time stays 50
        (59, []),
        (60, [60]),
        (61, []),
    ]
    with driver:
        for timestamp, fired in steps:
            inp.pipe_input("k", "v", timestamp=timestamp)
            expected += fired
            assert times(log) == expected, f"after timestamp {timestamp}"
        assert driver.metrics()["0_0"]["punctuations"] == 5


def test_stream_time_punctuation_gets_the_current_stream_time_and_an_empty_context() -> None:
    log: list[Any] = []
    driver, inp, _ = driver_for(lambda: Scheduler(log, 100, STREAM))
    with driver:
        inp.pipe_input("k", "v", timestamp=250, headers={"h": b"x"})
    # topic None, partition and offset -1, timestamp = punctuation time, no record metadata.
    assert log == [(250, None, -1, -1, 250, None, 250)]


def test_stream_time_does_not_move_with_the_wall_clock() -> None:
    log: list[Any] = []
    driver, inp, _ = driver_for(lambda: Scheduler(log, 10, STREAM))
    with driver:
        inp.pipe_input("k", "v", timestamp=5)
        driver.advance_wall_clock_time(1_000)
        assert times(log) == [5]


def test_forwarding_from_a_punctuation_reaches_the_sink() -> None:
    log: list[Any] = []
    driver, inp, out = driver_for(lambda: Scheduler(log, 10, STREAM, emit=True))
    with driver:
        inp.pipe_input("k", "v", timestamp=4)
        inp.pipe_input("k", "w", timestamp=20)
        assert out.read_records_to_list() == [
            TestRecord("k", "v", 4, ()),
            TestRecord("tick", "4", 4, (("from", b"punctuation"),)),
            TestRecord("k", "w", 20, ()),
            TestRecord("tick", "20", 20, (("from", b"punctuation"),)),
        ]


def test_schedule_from_process_starts_at_deadline_zero() -> None:
    log: list[int] = []

    class Lazy(Processor):
        scheduled = False

        def process(self, record: Record) -> None:
            if not self.scheduled:
                self.scheduled = True
                self.context.schedule(100, STREAM, log.append)

    builder = StreamsBuilder()
    builder.stream("in").process(Lazy)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input(b"k", b"v", timestamp=150)
        inp.pipe_input(b"k", b"v", timestamp=199)
        inp.pipe_input(b"k", b"v", timestamp=200)
    assert log == [150, 200]


# ---------------------------------------------------------------- wall clock


def test_wall_clock_first_fires_at_start_plus_interval() -> None:
    log: list[Any] = []
    driver, inp, out = driver_for(lambda: Scheduler(log, 100, WALL, emit=True),
                                  start_time_ms=1_000)
    with driver:
        driver.advance_wall_clock_time(99)
        assert log == []
        driver.advance_wall_clock_time(1)
        assert log == [(1_100, None, -1, -1, 1_100, None, -1)]  # no record yet: stream time -1
        assert out.read_record() == TestRecord("tick", "1100", 1_100, (("from", b"punctuation"),))


def test_wall_clock_fires_once_per_advance_and_stays_aligned() -> None:
    log: list[Any] = []
    driver, inp, _ = driver_for(lambda: Scheduler(log, 100, WALL))
    with driver:
        driver.advance_wall_clock_time(100)   # fires at 100; next 200
        driver.advance_wall_clock_time(250)   # now 350: fires once; 200 and 300 skipped; next 400
        driver.advance_wall_clock_time(49)    # 399
        driver.advance_wall_clock_time(1)     # 400
        driver.advance_wall_clock_time(0)     # no move, no fire
        inp.pipe_input("k", "v", timestamp=10_000)  # records do not drive wall-clock schedules
        driver.advance_wall_clock_time(100)   # 500
    assert times(log) == [100, 350, 400, 500]
    assert log[-1][-1] == 10_000  # the stream time seen inside the wall-clock punctuation


def test_wall_clock_cannot_go_backwards() -> None:
    builder = StreamsBuilder()
    builder.stream("in").to("out")
    with TopologyTestDriver(builder.build()) as driver:
        with pytest.raises(ValueError, match="only moves forward"):
            driver.advance_wall_clock_time(-1)


def test_stream_and_wall_clock_schedules_are_independent() -> None:
    stream_log: list[int] = []
    wall_log: list[int] = []

    class Both(Processor):
        def init(self, context: ProcessorContext) -> None:
            self.context = context
            context.schedule(10, STREAM, stream_log.append)
            context.schedule(10, WALL, wall_log.append)

        def process(self, record: Record) -> None:
            pass

    builder = StreamsBuilder()
    builder.stream("in").process(Both)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input(b"k", b"v", timestamp=1_000)
        driver.advance_wall_clock_time(10)
        inp.pipe_input(b"k", b"v", timestamp=1_010)
    assert stream_log == [1_000, 1_010]
    assert wall_log == [10]


# ---------------------------------------------------------------- cancel


def test_cancel_stops_a_schedule() -> None:
    log: list[Any] = []
    processors: list[Scheduler] = []

    def make() -> Scheduler:
        processors.append(Scheduler(log, 10, STREAM))
        return processors[-1]

    driver, inp, _ = driver_for(make)
    with driver:
        inp.pipe_input("k", "v", timestamp=0)
        inp.pipe_input("k", "v", timestamp=10)
        assert processors[0].schedule is not None
        processors[0].schedule.cancel()
        inp.pipe_input("k", "v", timestamp=20)
        inp.pipe_input("k", "v", timestamp=30)
    assert times(log) == [0, 10]


def test_cancel_from_inside_the_punctuation() -> None:
    fired: list[int] = []

    class Once(Processor):
        def init(self, context: ProcessorContext) -> None:
            self.context = context
            self.handle = context.schedule(5, WALL, self.punctuate)

        def punctuate(self, now_ms: int) -> None:
            fired.append(now_ms)
            self.handle.cancel()

        def process(self, record: Record) -> None:
            pass

    builder = StreamsBuilder()
    builder.stream("in").process(Once)
    with TopologyTestDriver(builder.build()) as driver:
        for _ in range(4):
            driver.advance_wall_clock_time(5)
    assert fired == [5]


def test_several_schedules_fire_in_deadline_order() -> None:
    fired: list[tuple[str, int]] = []

    class Two(Processor):
        def init(self, context: ProcessorContext) -> None:
            self.context = context
            context.schedule(30, WALL, lambda t: fired.append(("slow", t)))
            context.schedule(20, WALL, lambda t: fired.append(("fast", t)))

        def process(self, record: Record) -> None:
            pass

    builder = StreamsBuilder()
    builder.stream("in").process(Two)
    with TopologyTestDriver(builder.build()) as driver:
        driver.advance_wall_clock_time(20)   # fast@20
        driver.advance_wall_clock_time(10)   # slow@30 (fast next at 40)
        driver.advance_wall_clock_time(30)   # 60: fast (deadline 40) first, then slow (60)
    assert fired == [("fast", 20), ("slow", 30), ("fast", 60), ("slow", 60)]


def test_interval_must_be_positive() -> None:
    class Bad(Processor):
        def init(self, context: ProcessorContext) -> None:
            context.schedule(0, STREAM, lambda t: None)

        def process(self, record: Record) -> None:
            pass

    builder = StreamsBuilder()
    builder.stream("in").process(Bad)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        with pytest.raises(ValueError, match="interval must be >= 1 ms, not 0"):
            inp.pipe_input(b"k", b"v")


def test_punctuation_writing_to_a_repartition_topic_is_processed_downstream() -> None:
    seen: list[tuple[str, Any, Any]] = []

    class Log(Processor):
        def process(self, record: Record) -> None:
            seen.append((str(self.context.task_id), record.key, record.value))

    builder = StreamsBuilder()
    (builder.stream("in", key_serde=S, value_serde=S)
     .process(lambda: Scheduler([], 50, WALL, emit=True))
     .repartition(name="ticks", key_serde=S, value_serde=S)
     .process(Log))
    with TopologyTestDriver(builder.build()) as driver:
        driver.advance_wall_clock_time(50)
    assert seen == [("1_0", "tick", "50")]


# ---------------------------------------------------------------- the schedule arithmetic


@pytest.mark.parametrize(("deadline", "interval", "now", "following"), [
    (0, 10, 0, 10),
    (0, 10, 3, 10),
    (0, 10, 10, 20),
    (0, 10, 19, 20),
    (20, 10, 45, 50),
    (100, 100, 350, 400),
    (100, 7, 100, 107),
    (5, 10, 1_000_000, 1_000_005),
])
def test_next_deadline_skips_missed_intervals_and_stays_aligned(
    deadline: int, interval: int, now: int, following: int
) -> None:
    schedule = Schedule("node", interval, STREAM, lambda t: None, deadline)
    schedule.advance(now)
    assert schedule.deadline_ms == following
    # Kafka Streams' rule: next = deadline + (missed + 1) * interval, strictly after now.
    missed = max(0, (now - deadline) // interval)
    assert following == deadline + (missed + 1) * interval
    assert following > now


def test_schedule_queue_fires_each_due_schedule_once() -> None:
    fired: list[tuple[str, int]] = []
    queue = ScheduleQueue()
    assert queue.next_deadline_ms == float("inf")
    a = Schedule("a", 10, STREAM, lambda t: None, 0)
    b = Schedule("b", 25, STREAM, lambda t: None, 5)
    queue.add(b)
    queue.add(a)
    assert queue.next_deadline_ms == 0

    def fire(schedule: Schedule, now: int) -> None:
        fired.append((schedule.node_name, now))

    assert queue.run_due(100, fire) == 2
    assert fired == [("a", 100), ("b", 100)]
    assert (a.deadline_ms, b.deadline_ms) == (110, 105)
    assert queue.next_deadline_ms == 105
    assert queue.run_due(104, fire) == 0
    b.cancel()
    assert queue.run_due(200, fire) == 1
    assert queue.schedules == [a]
    assert queue.next_deadline_ms == 210
