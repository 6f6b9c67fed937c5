"""count / reduce / aggregate and tumbling / hopping windows through the test driver.

Kafka Streams' rules (kafka-streams-brief.md sections 5, 8): null keys and
values are not aggregated (dropped, counted); results carry the max
timestamp; a window is updated iff its end > stream time - grace; the
record cache emits one update per key per flush, caching off emits all.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog_streams import Serdes, StreamsBuilder
from flowlog_streams.materialized import Materialized
from flowlog_streams.testing import TopologyTestDriver
from flowlog_streams.windows import TimeWindows, Window, Windowed

S = Serdes.str()
L = Serdes.long()


def counting(materialized: Materialized | None = None) -> Any:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().count(materialized) \
        .to_stream().to("out", value_serde=L)
    return builder.build()


@pytest.mark.parametrize("in_memory", [False, True])
def test_count_per_key_emits_every_update_with_the_record_timestamp(in_memory: bool) -> None:
    materialized = Materialized.as_("counts").with_in_memory() if in_memory else None
    with TopologyTestDriver(counting(materialized)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, L)
        for key, ts in [("a", 5), ("b", 6), ("a", 3), ("a", 9)]:
            inp.pipe_input(key, "v", timestamp=ts)
        records = out.read_records_to_list()
    assert [(r.key, r.value) for r in records] == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    # The result's timestamp is the max of the record's and the stored one's.
    assert [r.timestamp for r in records] == [5, 6, 5, 9]


def test_null_keys_and_values_are_dropped_and_counted() -> None:
    with TopologyTestDriver(counting()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, L)
        inp.pipe_input(None, "v", timestamp=1)
        inp.pipe_input("a", None, timestamp=2)
        inp.pipe_input("a", "v", timestamp=3)
        assert out.read_key_values_to_list() == [("a", 1)]
        assert driver.metrics()["0_0"]["records_dropped"] == {"null_key": 1, "null_value": 1}


def test_reduce_and_aggregate_argument_orders() -> None:
    builder = StreamsBuilder()
    stream = builder.stream("in", key_serde=S, value_serde=L)
    grouped = stream.group_by_key()
    grouped.reduce(lambda aggregate, value: aggregate * 10 + value).to_stream().to("reduced")
    grouped.aggregate(
        lambda: "start", lambda key, value, aggregate: f"{aggregate}|{key}{value}",
        Materialized.as_("joined").with_value_serde(S),
    ).to_stream().to("aggregated", value_serde=S)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, L)
        reduced = driver.create_output_topic("reduced", S, L)
        aggregated = driver.create_output_topic("aggregated", S, S)
        for value in (1, 2, 3):
            inp.pipe_input("k", value, timestamp=value)
        assert reduced.read_values_to_list() == [1, 12, 123]
        assert aggregated.read_values_to_list() == ["start|k1", "start|k1|k2", "start|k1|k2|k3"]


def test_group_by_repartitions_by_the_new_key() -> None:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by(
        lambda key, value: value, key_serde=S
    ).count(Materialized.as_("by-value")).to_stream().to("out", value_serde=L)
    topology = builder.build()
    assert "by-value-repartition" in topology.internal_topics
    assert "by-value-changelog" in topology.internal_topics
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("in", S, S, partitions=3)
        out = driver.create_output_topic("out", S, L)
        for index in range(12):
            inp.pipe_input(f"user{index}", "page-a" if index % 3 else "page-b", timestamp=index)
        final = out.read_key_values_to_map()
    assert final == {"page-a": 8, "page-b": 4}


def test_caching_on_emits_the_last_update_per_flush_and_off_emits_every_one() -> None:
    # The driver flushes after every piped record, as Kafka Streams' driver does: a record
    # that updates the same key twice (flat_map) shows the difference.
    def topology(materialized: Materialized) -> Any:
        builder = StreamsBuilder()
        builder.stream("in", key_serde=S, value_serde=S).flat_map(
            lambda key, value: [(key, value), (key, value)]
        ).group_by_key(key_serde=S, value_serde=S).count(materialized).to_stream().to(
            "out", value_serde=L)
        return builder.build()

    for materialized, expected in [
        (Materialized.as_("cached"), [("k", 2), ("k", 4)]),
        (Materialized.as_("uncached").with_caching_disabled(), [("k", 1), ("k", 2), ("k", 3), ("k", 4)]),
    ]:
        with TopologyTestDriver(topology(materialized)) as driver:
            inp = driver.create_input_topic("in", S, S)
            out = driver.create_output_topic("out", S, L)
            inp.pipe_input("k", "v", timestamp=1)
            inp.pipe_input("k", "v", timestamp=2)
            assert out.read_key_values_to_list() == expected, materialized


def windowed_count(windows: TimeWindows) -> Any:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().windowed_by(windows).count(
        Materialized.as_("windows").with_caching_disabled()
    ).to_stream().to("out", key_serde=Serdes.windowed(S), value_serde=L)
    return builder.build()


def test_tumbling_windows_and_the_grace_boundary() -> None:
    windows = TimeWindows.of_size_and_grace(100, 20)
    with TopologyTestDriver(windowed_count(windows)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=50)    # window [0, 100)
        inp.pipe_input("k", "v", timestamp=119)   # window [100, 200); stream time 119, close 99
        inp.pipe_input("k", "v", timestamp=99)    # [0, 100): end 100 > close 99: accepted
        inp.pipe_input("k", "v", timestamp=120)   # stream time 120, close 100
        inp.pipe_input("k", "v", timestamp=99)    # end 100 <= close 100: late (boundary included)
        results = out.read_key_values_to_list()
        assert driver.metrics()["0_0"]["records_dropped"] == {"late": 1}
    first, second = Window(0, 100), Window(100, 200)
    assert results == [
        (Windowed("k", first), 1), (Windowed("k", second), 1),
        (Windowed("k", first), 2), (Windowed("k", second), 2),
    ]


def test_hopping_windows_count_a_record_in_every_window_it_falls_into() -> None:
    windows = TimeWindows.of_size_with_no_grace(100).advance_by(25)
    with TopologyTestDriver(windowed_count(windows)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=110)
        starts = [key.window.start for key, _count in out.read_key_values_to_list()]
    # Windows [start, start + 100) containing 110, aligned to the epoch, every 25 ms.
    assert starts == [25, 50, 75, 100]


def test_windows_for_matches_the_definition() -> None:
    windows = TimeWindows.of_size_with_no_grace(60).advance_by(20)
    for timestamp in range(0, 300, 7):
        expected = [s for s in range(0, timestamp + 1, 20) if s <= timestamp < s + 60]
        assert [w.start for w in windows.windows_for(timestamp)] == expected


def test_a_processor_api_step_uses_a_store_it_is_connected_to() -> None:
    from flowlog_streams import Processor, ProcessorContext, Record, StoreSpec

    class Deduplicate(Processor):
        """Forward a key's first value only: state in a key-value store."""

        def init(self, context: ProcessorContext) -> None:
            self.context = context
            self.seen = context.get_state_store("seen")

        def process(self, record: Record) -> None:
            if self.seen.get(record.key) is None:
                self.seen.put(record.key, record.value, record.timestamp)
                self.context.forward(record)

    builder = StreamsBuilder()
    builder.add_state_store(StoreSpec("seen", key_serde=S, value_serde=S))
    builder.stream("in", key_serde=S, value_serde=S).process(Deduplicate, "seen").to(
        "out", key_serde=S, value_serde=S)
    topology = builder.build()
    assert "seen-changelog" in topology.internal_topics
    with TopologyTestDriver(topology) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, S)
        for key, value in [("a", "1"), ("b", "2"), ("a", "3")]:
            inp.pipe_input(key, value, timestamp=1)
        assert out.read_key_values_to_list() == [("a", "1"), ("b", "2")]


def test_a_store_not_connected_to_the_processor_is_refused() -> None:
    from flowlog_streams import Processor, ProcessorContext, StoreSpec, StreamsException

    class Sneaky(Processor):
        def init(self, context: ProcessorContext) -> None:
            context.get_state_store("private")

        def process(self, record: Any) -> None:
            pass

    builder = StreamsBuilder()
    builder.add_state_store(StoreSpec("private"))
    stream = builder.stream("in")
    stream.process(Sneaky, "private")  # connected: fine
    stream.process(Sneaky)  # not connected to "private"
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.bytes())
        with pytest.raises(StreamsException, match="not connected"):
            inp.pipe_input(b"k", b"v")


def session_count(windows: Any, caching: bool = False) -> Any:
    from flowlog_streams import SessionWindows  # noqa: F401 (public name)

    materialized = Materialized.as_("sessions")
    if not caching:
        materialized = materialized.with_caching_disabled()
    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().windowed_by(windows).count(
        materialized).to_stream().to("out", key_serde=Serdes.windowed(S), value_serde=L)
    return builder.build()


def test_session_windows_merge_and_delete_merged_away_sessions() -> None:
    from flowlog_streams import SessionWindows

    # Grace 20 keeps 18 and 24 in time: with stream time 30, close = 30 - 20 - 10 = 0.
    windows = SessionWindows.of_inactivity_gap_and_grace(10, 20)
    with TopologyTestDriver(session_count(windows)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        for ts in (0, 5, 30, 18, 24):
            inp.pipe_input("k", "v", timestamp=ts)
        records = out.read_records_to_list()
    events = [((r.key.window.start, r.key.window.end), r.value, r.timestamp) for r in records]
    assert events == [
        ((0, 0), 1, 0),
        ((0, 0), None, 0), ((0, 5), 2, 5),          # 5 joins [0, 0]: the old session is deleted
        ((30, 30), 1, 30),
        ((18, 18), 1, 18),                            # 18 is more than a gap from 5 and from 30
        ((18, 18), None, 18), ((30, 30), None, 30),   # 24 bridges [18, 18] and [30, 30]
        ((18, 30), 3, 30),
    ]


def test_session_late_records_are_dropped_by_merged_end() -> None:
    from flowlog_streams import SessionWindows

    windows = SessionWindows.of_inactivity_gap_and_grace(10, 5)
    with TopologyTestDriver(session_count(windows)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=0)
        inp.pipe_input("other", "v", timestamp=14)  # stream time 14: close = 14 - 5 - 10 = -1
        inp.pipe_input("k", "v", timestamp=1)       # merges into [0, 1]: end 1 >= close: kept
        inp.pipe_input("other", "v", timestamp=17)  # close = 2
        inp.pipe_input("k", "v", timestamp=1)       # merged end 1 < close 2: late
        assert driver.metrics()["0_0"]["records_dropped"] == {"late": 1}
        final = out.read_key_values_to_map()
    assert final[Windowed("k", Window(0, 1))] == 2
    assert final[Windowed("k", Window(0, 0))] is None  # merged away: a tombstone


def test_a_session_past_the_store_retention_is_not_merged_into() -> None:
    # Kafka Streams' rule: stream time 15, retention gap + grace = 15, so [0, 0] has expired
    # (ends <= 15 - 15 are gone) and a record at 1 opens a session of its own.
    from flowlog_streams import SessionWindows

    windows = SessionWindows.of_inactivity_gap_and_grace(10, 5)
    with TopologyTestDriver(session_count(windows)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        for key, ts in [("k", 0), ("other", 15), ("k", 1)]:
            inp.pipe_input(key, "v", timestamp=ts)
        final = out.read_key_values_to_map()
    assert final[Windowed("k", Window(1, 1))] == 1 and final[Windowed("k", Window(0, 0))] == 1


def test_session_windows_with_the_cache_emit_the_merged_result_once_per_flush() -> None:
    from flowlog_streams import SessionWindows

    builder_topology = session_count(SessionWindows.of_inactivity_gap_with_no_grace(10), caching=True)
    with TopologyTestDriver(builder_topology) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=0)
        inp.pipe_input("k", "v", timestamp=4)
        final = out.read_key_values_to_map()
    assert final == {Windowed("k", Window(0, 0)): None, Windowed("k", Window(0, 4)): 2}


def test_suppress_until_window_closes_emits_one_final_result_per_window() -> None:
    from flowlog_streams import BufferConfig, Suppressed

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().windowed_by(
        TimeWindows.of_size_and_grace(100, 20)
    ).count().suppress(Suppressed.until_window_closes(BufferConfig.unbounded())).to_stream().to(
        "out", key_serde=Serdes.windowed(S), value_serde=L)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        for ts in (10, 50, 110):
            inp.pipe_input("k", "v", timestamp=ts)
        assert out.is_empty()  # [0, 100) closes at stream time 120 (end + grace)
        inp.pipe_input("k", "v", timestamp=119)
        assert out.is_empty()
        inp.pipe_input("other", "v", timestamp=120)  # stream time 120: 100 <= 120 - 20
        assert out.read_key_values_to_list() == [(Windowed("k", Window(0, 100)), 2)]
        inp.pipe_input("k", "v", timestamp=30)  # too late for [0, 100): dropped, never re-emitted
        inp.pipe_input("k", "v", timestamp=400)
        emitted = out.read_key_values_to_list()
    assert emitted == [(Windowed("k", Window(100, 200)), 2), (Windowed("other", Window(100, 200)), 1)]


def test_suppress_until_time_limit_emits_the_latest_value_once_per_interval() -> None:
    from flowlog_streams import Suppressed

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().count().suppress(
        Suppressed.until_time_limit(50)).to_stream().to("out", value_serde=L)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, L)
        inp.pipe_input("k", "v", timestamp=0)
        inp.pipe_input("k", "v", timestamp=10)
        assert out.is_empty()
        inp.pipe_input("k", "v", timestamp=60)  # the first buffered update (t=0) is 50 old
        assert out.read_key_values_to_list() == [("k", 3)]
        inp.pipe_input("k", "v", timestamp=70)  # buffered from 70: emitted at stream time 120
        inp.pipe_input("j", "v", timestamp=119)
        assert out.is_empty()
        inp.pipe_input("j", "v", timestamp=120)
        assert out.read_key_values_to_list() == [("k", 4)]


def test_a_strict_suppress_buffer_that_overflows_stops_the_app() -> None:
    from flowlog_streams import BufferConfig, Suppressed, TaskFailedError

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().count().suppress(
        Suppressed.until_time_limit(1_000, BufferConfig.max_records(2).shutdown_when_full())
    ).to_stream().to("out", value_serde=L)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_input("a", "v", timestamp=0)
        inp.pipe_input("b", "v", timestamp=0)
        with pytest.raises(TaskFailedError, match="exceeded its max capacity"):
            inp.pipe_input("c", "v", timestamp=0)


def test_suppress_needs_a_windowed_table_for_window_close() -> None:
    from flowlog_streams import Suppressed, TopologyException

    builder = StreamsBuilder()
    table = builder.stream("in", key_serde=S, value_serde=S).group_by_key().count()
    with pytest.raises(TopologyException, match="windowed table"):
        table.suppress(Suppressed.until_window_closes())


def test_late_records_go_to_the_late_records_topic_with_why() -> None:
    windows = TimeWindows.of_size_and_grace(100, 0)
    config = {"late_records_topic": "late"}
    with TopologyTestDriver(windowed_count(windows), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        late = driver.create_output_topic("late", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input("k", "v1", timestamp=250)
        inp.pipe_input("k", "v2", timestamp=40, headers={"trace": b"t1"})  # [0, 100) closed at 100
        record = late.read_record()
        assert late.is_empty()
    assert (record.key, record.value, record.timestamp) == (b"k", b"v2", 40)
    headers = dict(record.headers)
    assert headers["trace"] == b"t1"
    assert headers["__streams.dropped.reason"] == b"late"
    assert headers["__streams.dropped.store"] == b"windows"
    assert (headers["__streams.dropped.window_start"], headers["__streams.dropped.window_end"]) == (
        b"0", b"100")
    # Stream time 250 is 150 ms past the window's close (end 100 + grace 0).
    assert headers["__streams.dropped.late_by_ms"] == b"150"
    assert (headers["__streams.dropped.topic"], headers["__streams.dropped.offset"]) == (b"in", b"1")


def test_window_close_wall_clock_ms_closes_windows_of_a_quiet_partition() -> None:
    from flowlog_streams import Suppressed

    def topology() -> Any:
        builder = StreamsBuilder()
        builder.stream("in", key_serde=S, value_serde=S).group_by_key().windowed_by(
            TimeWindows.of_size_and_grace(1_000, 0)
        ).count().suppress(Suppressed.until_window_closes()).to_stream().to(
            "out", key_serde=Serdes.windowed(S), value_serde=L)
        return builder.build()

    # Off (Kafka Streams): no new record, no new stream time, the window never closes.
    with TopologyTestDriver(topology()) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=500)
        driver.advance_wall_clock_time(60_000)
        assert out.is_empty()
    # On: after 5 s of wall-clock quiet, stream time follows the wall clock.
    config = {"window_close_wall_clock_ms": 5_000}
    with TopologyTestDriver(topology(), config=config) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=500)
        driver.advance_wall_clock_time(4_000)
        assert out.is_empty()
        driver.advance_wall_clock_time(2_000)
        assert out.read_key_values_to_list() == [(Windowed("k", Window(0, 1_000)), 1)]


def sliding_count(difference: int, grace: int) -> Any:
    from flowlog_streams import SlidingWindows

    builder = StreamsBuilder()
    builder.stream("in", key_serde=S, value_serde=S).group_by_key().windowed_by(
        SlidingWindows.of_time_difference_and_grace(difference, grace)
    ).count(Materialized.as_("sliding").with_caching_disabled()).to_stream().to(
        "out", key_serde=Serdes.windowed(S), value_serde=L)
    return builder.build()


def sliding_model(timestamps: list[int], difference: int) -> dict[tuple[int, int], int]:
    """Kafka Streams' sliding windows by definition: a left window per record ([0, d] for
    records before d), a right window after a record when a later one is within d, each
    counting the records in [start, end]."""
    starts = {max(0, t - difference) for t in timestamps}
    starts |= {t + 1 for t in timestamps if any(t < u <= t + difference for u in timestamps)}
    return {
        (s, s + difference): sum(1 for t in timestamps if s <= t <= s + difference)
        for s in starts
    }


def test_sliding_windows_example() -> None:
    with TopologyTestDriver(sliding_count(10, 100)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        for ts in (15, 20, 40):
            inp.pipe_input("k", "v", timestamp=ts)
        final = {(k.window.start, k.window.end): v for k, v in out.read_key_values_to_map().items()}
    assert final == {(5, 15): 1, (10, 20): 2, (16, 26): 1, (30, 40): 1}
    assert final == sliding_model([15, 20, 40], 10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=25))
def test_sliding_windows_match_their_definition_in_any_order(timestamps: list[int]) -> None:
    with TopologyTestDriver(sliding_count(30, 10_000)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        for ts in timestamps:
            inp.pipe_input("k", "v", timestamp=ts)
        final = {(k.window.start, k.window.end): v for k, v in out.read_key_values_to_map().items()}
    assert final == sliding_model(timestamps, 30)


def test_a_sliding_window_record_is_late_when_t_plus_difference_is_before_close() -> None:
    with TopologyTestDriver(sliding_count(10, 5)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", Serdes.windowed(S), L)
        inp.pipe_input("k", "v", timestamp=100)  # close = 100 - 5 = 95
        inp.pipe_input("k", "v", timestamp=95)   # its left window [85, 95] ends at the close: kept
        assert driver.metrics()["0_0"]["records_dropped"] == {}
        inp.pipe_input("k", "v", timestamp=84)   # 84 + 10 = 94 < 95: late
        assert driver.metrics()["0_0"]["records_dropped"] == {"late": 1}
        # 85 is in time (85 + 10 = 95): it joins [85, 95] and makes its right window
        # [86, 96], but its left window [75, 85] ended before the close: that one is
        # skipped and counted, as Kafka Streams counts each window it skips.
        inp.pipe_input("k", "v", timestamp=85)
        assert driver.metrics()["0_0"]["records_dropped"] == {"late": 2}
        final = {(k.window.start, k.window.end): v for k, v in out.read_key_values_to_map().items()}
    assert final == {(85, 95): 2, (86, 96): 1, (90, 100): 2, (96, 106): 1}
