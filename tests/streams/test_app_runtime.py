"""StreamsApp against a real broker process: lifecycle, commits, start-up checks, stream time.

One broker serves the module (each test uses its own topics and application id).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import BrokerProcess

from flowlog.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from flowlog_streams import (
    Materialized,
    MissingSourceTopicError,
    Processor,
    ProcessorContext,
    Record,
    Serdes,
    State,
    StreamsApp,
    StreamsBuilder,
    TaskFailedError,
    TopologyException,
)

WAIT_S = 30.0
_names = itertools.count()


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = BrokerProcess(
        tmp_path_factory.mktemp("streams-broker"), {"group.initial.rebalance.delay.ms": "0"}
    ).start()
    try:
        yield broker.bootstrap
    finally:
        broker.kill()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


async def create_topics(bootstrap: str, **partitions: int) -> None:
    async with Admin(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, count) for name, count in partitions.items()])


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None, int]]) -> None:
    async with Producer(bootstrap) as producer:
        for key, value, timestamp in records:
            await producer.send(topic, value, key=key, timestamp_ms=timestamp)


async def read_all(bootstrap: str, topic: str, count: int, partitions: int) -> list[Any]:
    found: list[Any] = []
    with trio.fail_after(WAIT_S):
        async with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    found.extend(records)
    return found


async def committed_equals_end(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    async with Admin(bootstrap) as admin:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await admin.list_offsets(dict.fromkeys(tps, "latest"))
        committed = await admin.list_group_offsets(group)
    for tp in tps:
        end = ends[tp][0] if isinstance(ends[tp], tuple) else ends[tp]
        assert _offset(committed.get(tp)) == end, (tp, committed, ends)


async def eventually(condition: Any, timeout_s: float = WAIT_S) -> None:
    """Poll `condition()` until it holds; fail after timeout_s."""
    with trio.fail_after(timeout_s):
        for _ in itertools.count():
            if condition():
                return
            await trio.sleep(0.02)


def _offset(value: Any) -> int | None:
    return getattr(value, "offset", value)


def upper_topology(source: str, sink: str, **source_options: Any) -> Any:
    builder = StreamsBuilder()
    builder.stream(source, key_serde=Serdes.str(), value_serde=Serdes.str(), **source_options) \
        .map_values(str.upper).to(sink, value_serde=Serdes.str())
    return builder.build()


def app_for(topology: Any, bootstrap: str, tmp_path: Path, **options: Any) -> StreamsApp:
    options = {"commit_interval_ms": 100, **options}
    return StreamsApp(topology, application_id=unique("app"), bootstrap=bootstrap,
                      state_dir=str(tmp_path), **options)


async def test_processes_commits_and_stops_cleanly(bootstrap: str, tmp_path: Path) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 3, sink: 2})
    await produce(bootstrap, source, [(b"k%d" % i, b"v%d" % i, 1000 + i) for i in range(300)])
    changes: list[tuple[State, State]] = []
    app = app_for(upper_topology(source, sink), bootstrap, tmp_path,
                  state_listener=lambda new, old: changes.append((old, new)))
    async with app:
        records = await read_all(bootstrap, sink, 300, 2)
        metrics = app.metrics()
    assert sorted(r.value for r in records) == sorted(b"V%d" % i for i in range(300))
    # Keys and timestamps are kept.
    assert {(r.key, r.timestamp) for r in records} == {(b"k%d" % i, 1000 + i) for i in range(300)}
    assert metrics["records_processed"] == 300
    assert metrics["records_produced"] == 300
    assert sorted(metrics["tasks"]) == ["0_0", "0_1", "0_2"]
    assert app.state is State.NOT_RUNNING
    assert changes == [
        (State.CREATED, State.REBALANCING),
        (State.REBALANCING, State.RUNNING),
        (State.RUNNING, State.PENDING_SHUTDOWN),
        (State.PENDING_SHUTDOWN, State.NOT_RUNNING),
    ]
    await committed_equals_end(bootstrap, app.config.application_id, source, 3)


async def test_cancelling_run_commits_and_leaves(bootstrap: str, tmp_path: Path) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 2, sink: 1})
    await produce(bootstrap, source, [(b"k%d" % i, b"v", 5) for i in range(50)])
    app = app_for(upper_topology(source, sink), bootstrap, tmp_path, commit_interval_ms=60_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app.run)
        await read_all(bootstrap, sink, 50, 1)
        nursery.cancel_scope.cancel()
    assert app.state is State.NOT_RUNNING
    # The commit interval never came round: only the shutdown commit stored these offsets.
    await committed_equals_end(bootstrap, app.config.application_id, source, 2)
    async with Admin(bootstrap) as admin:
        group = (await admin.describe_groups([app.config.application_id]))[app.config.application_id]
    assert not group.members


async def test_missing_source_topic_is_a_clear_error(bootstrap: str, tmp_path: Path) -> None:
    missing, sink = unique("nowhere"), unique("out")
    await create_topics(bootstrap, **{sink: 1})
    app = app_for(upper_topology(missing, sink), bootstrap, tmp_path)
    with pytest.raises(MissingSourceTopicError, match=missing):
        await app.run()
    assert app.state is State.ERROR


async def test_auto_create_topics(bootstrap: str, tmp_path: Path) -> None:
    source, sink = unique("in"), unique("out")
    app = app_for(upper_topology(source, sink), bootstrap, tmp_path,
                  auto_create_topics=True, auto_create_partitions=2)
    async with app:
        await app.wait_until_running()
        await produce(bootstrap, source, [(b"a", b"x", 1)])
        records = await read_all(bootstrap, sink, 1, 2)
    assert [r.value for r in records] == [b"X"]
    async with Admin(bootstrap) as admin:
        described = await admin.describe_topics([source, sink])
    assert len(described[source].partitions) == 2


async def test_repartition_topic_is_created_with_the_writer_partitions(
    bootstrap: str, tmp_path: Path
) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 4, sink: 1})
    builder = StreamsBuilder()
    builder.stream(source, key_serde=Serdes.str(), value_serde=Serdes.str()) \
        .select_key(lambda key, value: value).repartition(name="by-value", key_serde=Serdes.str()) \
        .to(sink, key_serde=Serdes.str(), value_serde=Serdes.str())
    app = app_for(builder.build(), bootstrap, tmp_path)
    await produce(bootstrap, source, [(b"k%d" % i, b"v%d" % (i % 5), 7) for i in range(40)])
    async with app:
        records = await read_all(bootstrap, sink, 40, 1)
        metrics = app.metrics()
    assert sorted(r.key for r in records) == sorted(b"v%d" % (i % 5) for i in range(40))
    repartition = f"{app.config.application_id}-by-value-repartition"
    async with Admin(bootstrap) as admin:
        described = await admin.describe_topics([repartition])
    assert len(described[repartition].partitions) == 4
    assert sorted(metrics["tasks"]) == [f"{s}_{p}" for s in (0, 1) for p in range(4)]


async def test_internal_topic_with_other_partition_count_is_refused(
    bootstrap: str, tmp_path: Path
) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 3, sink: 1})
    builder = StreamsBuilder()
    builder.stream(source).repartition(name="r").to(sink)
    app = app_for(builder.build(), bootstrap, tmp_path)
    await create_topics(bootstrap, **{f"{app.config.application_id}-r-repartition": 2})
    with pytest.raises(TopologyException, match="has 2 partitions but the topology needs 3"):
        await app.run()


async def test_log_and_fail_stops_without_committing_the_bad_record(
    bootstrap: str, tmp_path: Path
) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 1, sink: 1})
    await produce(bootstrap, source, [(b"a", b'{"n": 1}', 1), (b"b", b"{bad", 2), (b"c", b'{"n": 3}', 3)])
    builder = StreamsBuilder()
    builder.stream(source, value_serde=Serdes.json()).map_values(lambda v: v["n"]).to(
        sink, value_serde=Serdes.long())
    app = app_for(builder.build(), bootstrap, tmp_path)
    with pytest.raises(TaskFailedError, match="invalid JSON"):
        with trio.fail_after(WAIT_S):
            await app.run()
    assert app.state is State.ERROR
    async with Admin(bootstrap) as admin:
        committed = await admin.list_group_offsets(app.config.application_id)
    # Offset 1 (the bad record) was never passed: a restart meets it again.
    assert _offset(committed.get(TopicPartition(source, 0))) in (None, 0, 1)


class StreamTimeRecorder(Processor):
    seen: list[int] = []

    def init(self, context: ProcessorContext) -> None:
        self.context = context

    def process(self, record: Record) -> None:
        StreamTimeRecorder.seen.append(self.context.current_stream_time_ms())


async def test_stream_time_resumes_after_a_restart(bootstrap: str, tmp_path: Path) -> None:
    source = unique("in")
    await create_topics(bootstrap, **{source: 1})
    builder = StreamsBuilder()
    builder.stream(source).process(StreamTimeRecorder)
    topology = builder.build()
    application_id = unique("app")
    StreamTimeRecorder.seen = []

    async def run_until(count: int) -> None:
        app = StreamsApp(topology, application_id=application_id, bootstrap=bootstrap,
                         state_dir=str(tmp_path), commit_interval_ms=100)
        async with app:
            await eventually(lambda: len(StreamTimeRecorder.seen) >= count)

    await produce(bootstrap, source, [(b"k", b"v", 5_000)])
    await run_until(1)
    await produce(bootstrap, source, [(b"k", b"v", 1_000)])
    await run_until(2)
    # The late record does not pull stream time back: it was restored from the commit.
    assert StreamTimeRecorder.seen == [5_000, 5_000]


async def test_source_auto_offset_reset_latest_skips_old_records(
    bootstrap: str, tmp_path: Path
) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 1, sink: 1})
    await produce(bootstrap, source, [(b"old", b"old", 1)])
    app = app_for(upper_topology(source, sink, auto_offset_reset="latest"), bootstrap, tmp_path)
    async with app:
        await app.wait_until_running()
        await eventually(lambda: app.metrics()["lag"].get(f"{source}-0") == 0)
        await produce(bootstrap, source, [(b"new", b"new", 2)])
        records = await read_all(bootstrap, sink, 1, 1)
    assert [r.value for r in records] == [b"NEW"]


async def test_second_instance_takes_half_and_first_rebalances(
    bootstrap: str, tmp_path: Path
) -> None:
    source, sink = unique("in"), unique("out")
    await create_topics(bootstrap, **{source: 4, sink: 1})
    topology = upper_topology(source, sink)
    application_id = unique("app")
    changes: list[State] = []
    first = StreamsApp(topology, application_id=application_id, bootstrap=bootstrap,
                       state_dir=str(tmp_path / "a"), commit_interval_ms=100,
                       heartbeat_interval_ms=300, state_listener=lambda new, old: changes.append(new))
    second = StreamsApp(topology, application_id=application_id, bootstrap=bootstrap,
                        state_dir=str(tmp_path / "b"), commit_interval_ms=100,
                        heartbeat_interval_ms=300)
    async with first:
        await first.wait_until_running()
        await eventually(lambda: len(first.metrics()["tasks"]) == 4)
        async with second:
            await eventually(lambda: len(first.metrics()["tasks"]) == 2
                             and len(second.metrics()["tasks"]) == 2)
            await eventually(lambda: first.state is State.RUNNING)
            both = set(first.metrics()["tasks"]) | set(second.metrics()["tasks"])
            assert both == {"0_0", "0_1", "0_2", "0_3"}
            await produce(bootstrap, source, [(b"k%d" % i, b"v", 1) for i in range(40)])
            records = await read_all(bootstrap, sink, 40, 1)
    assert len(records) == 40
    assert changes[:3] == [State.REBALANCING, State.RUNNING, State.REBALANCING]
    assert State.RUNNING in changes[3:]


async def test_interactive_queries_read_local_stores_and_locate_keys(
    bootstrap: str, tmp_path: Path
) -> None:
    from flowlog.protocol.murmur2 import partition_for_key
    from flowlog_streams import Materialized, TimeWindows
    from flowlog_streams.queries import InvalidStateStoreError

    source = unique("in")
    await create_topics(bootstrap, **{source: 3})
    builder = StreamsBuilder()
    grouped = builder.stream(source, key_serde=Serdes.str(), value_serde=Serdes.str()).group_by_key()
    grouped.count(Materialized.as_("totals"))
    # Windows kept a minute (retention), so the early ones are still there to query.
    grouped.windowed_by(TimeWindows.of_size_with_no_grace(1_000)).count(
        Materialized.as_("per-second").with_retention(60_000))
    app = app_for(builder.build(), bootstrap, tmp_path, application_server="127.0.0.1:7070")
    with pytest.raises(InvalidStateStoreError, match="not queryable"):
        app.store("totals")
    produced = [(b"k%d" % (i % 5), b"v", 1_000 + i * 300) for i in range(20)]
    await produce(bootstrap, source, produced)
    async with app:
        await app.wait_until_running()
        totals = app.store("totals")
        await eventually(lambda: sum(v for _k, v in totals.all()) == 20)
        assert totals.get("k1") == 4 and totals.get("nope") is None
        assert sorted(totals.all()) == [(f"k{i}", 4) for i in range(5)]
        assert totals.approximate_num_entries() >= 5
        windows = app.store("per-second")
        # k0 at 1000, 2500, 4000, 5500: one record in each of four one-second windows.
        assert windows.fetch("k0", 0, 10_000) == [(1_000, 1), (2_000, 1), (4_000, 1), (5_000, 1)]
        assert windows.fetch("k0", 2_000, 4_000) == [(2_000, 1), (4_000, 1)]
        metadata = app.metadata_for_key("totals", "k1")
        assert metadata.partition == partition_for_key(b"k1", 3)
        assert metadata.active_host == "127.0.0.1:7070"
        with pytest.raises(InvalidStateStoreError, match="no store"):
            app.store("missing")


async def test_a_global_table_is_queryable_in_full(bootstrap: str, tmp_path: Path) -> None:
    table, source, sink = unique("regions"), unique("events"), unique("out")
    await create_topics(bootstrap, **{table: 3, source: 1, sink: 1})
    await produce(bootstrap, table, [(b"r%d" % i, b"name%d" % i, 1_000) for i in range(30)])
    builder = StreamsBuilder()
    regions = builder.global_table(table, key_serde=Serdes.str(), value_serde=Serdes.str(),
                                   materialized=Materialized.as_("regions"))
    builder.stream(source, key_serde=Serdes.str(), value_serde=Serdes.str()) \
        .join(regions, lambda k, v: v, lambda v, name: name).to(sink, value_serde=Serdes.str())
    app = app_for(builder.build(), bootstrap, tmp_path)
    async with app:
        await app.wait_until_running()
        view = app.store("regions")  # every partition's rows, on this one instance
        assert view.get("r17") == "name17" and view.approximate_num_entries() == 30
        assert sorted(view.all()) == sorted((f"r{i}", f"name{i}") for i in range(30))
