"""StreamsApp end to end: real broker, app instances in their own OS processes, real clients.

The app (tests/streams/e2e_app.py): input (6 partitions) -> select_key(user)
-> repartition "by-user" -> map_values -> output, undecodable values to a
dead-letter topic. 12 tasks: 0_0..0_5 read the input, 1_0..1_5 the
repartition topic. Records are produced and read back with confluent-kafka
(a client independent of the one the app runs on).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.client import Admin
from flowlog.client import TopicPartition as FlowlogTopicPartition

from .app_process import AppProcess, describe_all, wait_until

# No initial rebalance delay: the first member is assigned at once. The broker's minimum
# session timeout (group.min.session.timeout.ms) is 6000 ms by default, as in Kafka.
BROKER_CONFIG = {"group.initial.rebalance.delay.ms": "0"}
SESSION_TIMEOUT_S = 6.0  # e2e_app's --session-timeout-ms default (heartbeats every 500 ms)
# Takeover after kill -9 = the session expiring (<= SESSION_TIMEOUT_S after the last heartbeat)
# + the survivor's next heartbeat + a rebalance; this margin covers the rest on a busy machine.
TAKEOVER_MARGIN_S = 6.0
PARTITIONS = 6
ALL_TASKS = frozenset(f"{subtopology}_{p}" for subtopology in (0, 1) for p in range(PARTITIONS))
USERS = 37
BAD_VALUE = b"{not json"
START_WAIT_S = 30.0
PROCESS_WAIT_S = 30.0
# A clean stop (final commit, LeaveGroup) of an idle app.
STOP_WAIT_S = 15.0


# ---------------------------------------------------------------- records


@attrs.frozen
class Produced:
    key: bytes
    value: bytes
    partition: int
    offset: int


@attrs.frozen
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes | None]


def good(i: int) -> tuple[bytes, bytes]:
    return str(i).encode(), json.dumps({"id": i, "user": f"u{i % USERS}"}).encode()


def batch(ids: range, bad: int, tag: str) -> list[tuple[bytes, bytes]]:
    """Good records for `ids` with `bad` undecodable ones spread among them."""
    records = [good(i) for i in ids]
    step = max(1, len(records) // (bad + 1))
    for n in range(bad, 0, -1):
        records.insert(n * step, (f"bad-{tag}-{n}".encode(), BAD_VALUE))
    return records


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1)
                                   for t, n in topics.items()])
    for future in futures.values():
        future.result(timeout=30)


def topic_names(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return set(admin.list_topics(timeout=30).topics)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> list[Produced]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    delivered: list[Produced] = []
    errors: list[Any] = []

    def on_delivery(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(error)
            return
        delivered.append(Produced(message.key(), message.value(), message.partition(),
                                  message.offset()))

    for key, value in records:
        producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "records still undelivered after 30 s"
    assert not errors, errors
    assert len(delivered) == len(records)
    return delivered


class TopicReader:
    """Every record of a topic from its beginning (assigned partitions, no group)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"e2e-reader-{topic}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
        })
        metadata = self.consumer.list_topics(topic, timeout=30).topics[topic]
        assert metadata.error is None, metadata.error
        self.partitions = sorted(metadata.partitions)
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in self.partitions])
        self.records: list[Read] = []
        self._next: dict[int, int] = {p: 0 for p in self.partitions}

    def _poll(self, timeout_s: float) -> None:
        for message in self.consumer.consume(num_messages=1000, timeout=timeout_s):
            if message.error() is not None:
                raise AssertionError(f"reading {self.topic}: {message.error()}")
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None, message
            headers: dict[str, Any] = dict(message.headers() or ())
            self.records.append(Read(partition, offset, message.key(), message.value(), headers))
            self._next[partition] = offset + 1

    def read_until(self, condition: Callable[[list[Read]], bool], what: str,
                   apps: list[AppProcess], timeout_s: float = PROCESS_WAIT_S) -> float:
        """Read until condition(records); fails at the deadline or if one of `apps` exits."""
        started = time.monotonic()
        deadline = started + timeout_s
        while not condition(self.records):
            dead = [app for app in apps if not app.alive()]
            if dead or time.monotonic() > deadline:
                why = f"{dead[0].name} exited" if dead else f"timed out after {timeout_s:.0f} s"
                raise AssertionError(
                    f"{why} waiting for {what} in {self.topic} ({len(self.records)} records read)\n"
                    + describe_all(apps)
                )
            self._poll(0.2)
        return time.monotonic() - started

    def read_to_end(self, timeout_s: float = PROCESS_WAIT_S) -> list[Read]:
        """Everything up to the current end offsets (call once nothing writes any more)."""
        ends = {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=30)[1]
                for p in self.partitions}
        deadline = time.monotonic() + timeout_s
        while any(self._next[p] < ends[p] for p in self.partitions):
            assert time.monotonic() < deadline, (
                f"{self.topic}: read up to {self._next}, end offsets {ends}"
            )
            self._poll(0.2)
        return self.records

    def close(self) -> None:
        self.consumer.close()


def output_ids(records: list[Read]) -> Counter[int]:
    """Ids in the output, checking each output record is what the app makes of its input."""
    ids: Counter[int] = Counter()
    for record in records:
        assert record.value is not None
        value = json.loads(record.value)
        assert value == {"id": value["id"], "user": f"u{value['id'] % USERS}", "seen": True}, record
        assert record.key == value["user"].encode(), record
        ids[value["id"]] += 1
    return ids


def good_ids(produced: list[Produced]) -> set[int]:
    return {json.loads(p.value)["id"] for p in produced if p.value != BAD_VALUE}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    """Start an e2e_app process; any still running at the end is killed."""
    started: list[AppProcess] = []

    def start(name: str, bootstrap: str, application_id: str, *options: str) -> AppProcess:
        app = AppProcess(name, bootstrap, application_id, tmp_path / f"state-{name}", *options)
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()


@pytest.fixture
def open_reader() -> Iterator[Callable[[str, str], TopicReader]]:
    readers: list[TopicReader] = []

    def open_(bootstrap: str, topic: str) -> TopicReader:
        reader = TopicReader(bootstrap, topic)
        readers.append(reader)
        return reader

    yield open_
    for reader in readers:
        reader.close()


# ---------------------------------------------------------------- app helpers


def start_pair(start_app: Callable[..., AppProcess], names: tuple[str, str], bootstrap: str,
               application_id: str, *options: str,
               between: Callable[[], object] = lambda: None) -> list[AppProcess]:
    """Start one instance, wait until it runs all 12 tasks, call `between()`, then start a
    second one and wait for the cooperative handoff of half the tasks to it."""
    first = start_app(names[0], bootstrap, application_id, *options)
    wait_until(lambda: first.is_running_state() and first.held_tasks() == ALL_TASKS,
               START_WAIT_S, lambda: f"{first.name} to run all 12 tasks", alive=[first])
    between()
    second = start_app(names[1], bootstrap, application_id, *options)
    wait_for_split([first, second])
    revoked = {t for _at, t, why in first.task_events() if why == "revoked"}
    assert revoked == second.held_tasks(), (revoked, first.describe(), second.describe())
    return [first, second]


def wait_for_split(apps: list[AppProcess]) -> float:
    """Both RUNNING, each holding some tasks, together all 12 and none twice; returns the wait."""

    def split() -> bool:
        held = [app.held_tasks() for app in apps]
        return (
            all(app.is_running_state() for app in apps)
            and all(held)
            and sum(len(h) for h in held) == len(ALL_TASKS)
            and set().union(*held) == ALL_TASKS
        )

    waited = wait_until(
        split, START_WAIT_S,
        lambda: "the 12 tasks split between " + ", ".join(
            f"{a.name} (states {a.states()}, tasks {sorted(a.held_tasks())})" for a in apps),
        alive=apps,
    )
    # The app's own metrics agree with its log lines (TASKS lines come every 50 ms).
    wait_until(lambda: all(a.reported_tasks() == a.held_tasks() for a in apps), 5.0,
               lambda: "app.metrics() tasks to match the logged tasks", alive=apps)
    return waited


def stop_all(apps: list[AppProcess]) -> None:
    """SIGTERM every app at once; each must exit 0 promptly after a clean shutdown."""
    held = {app.name: app.held_tasks() for app in apps}
    for app in apps:
        app.send_sigterm()
    for app in apps:
        code = app.terminate(STOP_WAIT_S)
        assert code == 0, f"{app.name} exited {code} after SIGTERM\n{app.describe()}"
        closed = {task for _at, task, why in app.task_events() if why == "shutdown"}
        assert held[app.name] <= closed, (held[app.name], app.describe())
        assert app.held_tasks() == set(), app.describe()
        assert "EXIT NOT_RUNNING" in app.output(), app.describe()


def group_offsets(bootstrap: str, group: str, topics: list[str]) -> tuple[
        dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """(committed offsets of the group, end offsets of `topics`), by (topic, partition)."""

    async def query() -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        async with Admin(bootstrap) as admin:
            committed = await admin.list_group_offsets(group)
            descriptions = await admin.describe_topics(topics)
            counts = {t: len(d.partitions) for t, d in descriptions.items()}
            assert counts == {t: PARTITIONS for t in topics}, counts
            tps = [FlowlogTopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
            ends = await admin.list_offsets({tp: "latest" for tp in tps})
        return (
            {(tp.topic, tp.partition): om.offset for tp, om in committed.items()},
            {(tp.topic, tp.partition): offset for tp, (offset, _ts) in ends.items()},
        )

    return trio.run(query)


# ---------------------------------------------------------------- tests


def test_failover_after_kill_9_and_dead_letters(broker_factory, start_app, open_reader,  # type: ignore[no-untyped-def]
                                                 record_property) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"e2e-in": PARTITIONS, "e2e-out": 3, "e2e-dlq": 1})
    started = time.monotonic()
    first, second = start_pair(start_app, ("first", "second"), bootstrap, "e2e-failover")
    print(f"\n12 tasks split {time.monotonic() - started:.1f} s after the first start: "
          f"first {sorted(first.held_tasks())}, second {sorted(second.held_tasks())}")

    out = open_reader(bootstrap, "e2e-out")
    dlq = open_reader(bootstrap, "e2e-dlq")
    batch1 = produce(bootstrap, "e2e-in", batch(range(0, 300), 3, "1"))
    ids1 = good_ids(batch1)
    out.read_until(lambda records: ids1 <= set(output_ids(records)), "batch 1's output",
                   [first, second])

    # kill -9 the second instance: nothing of it is committed or closed.
    victim_tasks = second.held_tasks()
    survivor_tasks = first.held_tasks()
    killed_at = time.monotonic()
    second.kill()
    # Records for every partition, the dead one's included: they wait for the takeover.
    batch2 = produce(bootstrap, "e2e-in", batch(range(300, 600), 3, "2"))
    ids2 = good_ids(batch2)

    def taken_over() -> bool:
        started = {t for at, t, what in first.task_events() if what == "started" and at > killed_at}
        return victim_tasks <= started and first.held_tasks() == ALL_TASKS

    waited = wait_until(
        taken_over, SESSION_TIMEOUT_S + TAKEOVER_MARGIN_S + 5.0,
        lambda: f"first to start {sorted(victim_tasks)} (holds {sorted(first.held_tasks())})",
        alive=[first],
    )
    takeover_s = max(at for at, t, what in first.task_events()
                     if what == "started" and at > killed_at and t in victim_tasks) - killed_at
    print(f"takeover of {sorted(victim_tasks)} {takeover_s:.1f} s after kill -9 "
          f"(seen after {waited:.1f} s)")
    record_property("takeover_s", round(takeover_s, 2))
    assert takeover_s <= SESSION_TIMEOUT_S + TAKEOVER_MARGIN_S, (takeover_s, first.describe())
    wait_until(lambda: first.is_running_state() and first.reported_tasks() == ALL_TASKS, 10.0,
               lambda: f"first RUNNING with all 12 tasks in app.metrics() ({first.states()[-3:]})",
               alive=[first])
    # Cooperative: the survivor kept its own tasks running through the takeover.
    closed_after = {t for at, t, what in first.task_events() if what != "started" and at > killed_at}
    assert not closed_after & survivor_tasks, (closed_after, first.describe())

    # Every input record's output at least once (a crash may repeat what was not committed).
    expected = ids1 | ids2
    out.read_until(lambda records: expected <= set(output_ids(records)),
                   "every id's output after the takeover", [first])
    ids = output_ids(out.records)
    assert set(ids) <= expected, set(ids) - expected
    print(f"{len(expected)} ids, {sum(ids.values())} output records "
          f"({sum(ids.values()) - len(ids)} repeated after the crash)")

    # Undecodable values: in the dead-letter topic, raw, saying where they came from.
    bad = [p for p in batch1 + batch2 if p.value == BAD_VALUE]
    assert len(bad) == 6
    bad_places = {(p.partition, p.offset) for p in bad}

    def dead_letters(records: list[Read]) -> set[tuple[int, int]]:
        return {(int(r.headers["__streams.errors.partition"] or b"-1"),
                 int(r.headers["__streams.errors.offset"] or b"-1"))
                for r in records if "__streams.errors.offset" in r.headers}

    dlq.read_until(lambda records: bad_places <= dead_letters(records),
                   "every undecodable record's dead letter", [first])
    by_place = {(p.partition, p.offset): p for p in bad}
    for record in dlq.records:
        headers = record.headers
        place = (int(headers["__streams.errors.partition"] or b""),
                 int(headers["__streams.errors.offset"] or b""))
        assert place in by_place, (place, record)
        source = by_place[place]
        assert record.value == BAD_VALUE, record
        assert record.key == source.key, record
        assert headers["__streams.errors.kind"] == b"deserialization", record
        assert headers["__streams.errors.topic"] == b"e2e-in", record
        assert headers["__streams.errors.exception"] == b"SerializationError", record
        assert headers["__streams.errors.message"], record
        assert headers["__streams.errors.task"] == f"0_{source.partition}".encode(), record
    assert first.terminate(STOP_WAIT_S) == 0, first.describe()


def test_exactly_once_across_a_clean_stop_and_restart(broker_factory, start_app,  # type: ignore[no-untyped-def]
                                                      open_reader) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    app_id = "e2e-restart"
    topics = ("--input", "restart-in", "--output", "restart-out", "--dlq", "restart-dlq")
    create_topics(bootstrap, {"restart-in": PARTITIONS, "restart-out": 3, "restart-dlq": 1})
    out = open_reader(bootstrap, "restart-out")
    produced: list[Produced] = []

    def run_round(round_: int, ids: range) -> None:
        """Two instances process `ids`, then both stop cleanly."""
        # Half the records go in while one instance runs every task, so some may be in
        # flight when it hands half of them over (commit on revocation).
        half = len(ids) // 2
        records: list[Produced] = []
        apps = start_pair(
            start_app, (f"round{round_}-a", f"round{round_}-b"), bootstrap, app_id, *topics,
            between=lambda: records.extend(
                produce(bootstrap, "restart-in", [good(i) for i in ids[:half]])),
        )
        records += produce(bootstrap, "restart-in", [good(i) for i in ids[half:]])
        produced.extend(records)
        expected = good_ids(records)
        out.read_until(lambda read: expected <= set(output_ids(read)),
                       f"round {round_}'s output", apps)
        stopping = time.monotonic()
        stop_all(apps)
        print(f"\nround {round_}: both stopped {time.monotonic() - stopping:.1f} s after SIGTERM")

    run_round(1, range(0, 300))
    run_round(2, range(300, 600))  # new instances carry on from the committed offsets

    ids = output_ids(out.read_to_end())
    repeated = {i: n for i, n in ids.items() if n > 1}
    assert not repeated, f"ids output more than once: {repeated}"
    assert set(ids) == good_ids(produced), good_ids(produced) ^ set(ids)

    repartition = f"{app_id}-by-user-repartition"
    committed, ends = group_offsets(bootstrap, app_id, ["restart-in", repartition])
    assert sum(ends[("restart-in", p)] for p in range(PARTITIONS)) == 600
    assert sum(ends[(repartition, p)] for p in range(PARTITIONS)) == 600
    # A partition that never had a record has no committed offset; every other one is at its end.
    assert committed == {tp: end for tp, end in ends.items() if end > 0}, (committed, ends)


def test_missing_input_topic_fails_with_a_clear_message(broker_factory, start_app) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topics(broker.bootstrap, {"e2e-out": 3, "e2e-dlq": 1})
    app = start_app("missing", broker.bootstrap, "e2e-missing")
    try:
        code = app.process.wait(timeout=START_WAIT_S)
    except Exception:
        raise AssertionError(f"the app kept running without its input topic\n{app.describe()}") from None
    wait_until(lambda: app.finished, 5.0, lambda: "the end of the app's output")
    output = app.output()
    assert code != 0, app.describe()
    named = [line for line in output.splitlines()
             if "MissingSourceTopicError" in line and re.search(r"\be2e-in\b", line)]
    assert named, f"no error naming e2e-in:\n{output}"
    assert any("do not exist" in line and "e2e-out" not in line for line in named), named
    assert "RUNNING" not in app.states(), app.states()
    assert "e2e-in" not in topic_names(broker.bootstrap)
