"""A windowed count on real broker and app processes: kill -9, restore, clean restart.

The app (tests/streams/e2e_app.py --topology windowed-count) counts records per
key in one-minute windows in a RocksDB window store changelogged to
`<application_id>-counts-changelog`, over 6 input partitions. The output's
last value per (key, window) is the count.
- kill -9 mid-stream, restart on the same state dir: the store restores from
  its local checkpoint (only the changelog's tail) and no count is below the
  truth (at-least-once);
- a fresh state dir restores from the changelog's start;
- after a clean stop and start the counts grow by exactly what was produced.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from .app_process import AppProcess, wait_until
from .test_app_end_to_end import (  # noqa: F401, F811 (fixtures)
    BROKER_CONFIG,
    START_WAIT_S,
    TopicReader,
    create_topics,
    group_offsets,
    open_reader,
    start_app,
)

PARTITIONS = 6
KEYS = 40
WINDOW_MS = 60_000
# Every record is stamped with this minute's start: one window per key. (Recent, not some
# fixed old time: the broker's retention would delete old-stamped segments.)
BASE_MS = int(time.time() * 1000) // WINDOW_MS * WINDOW_MS
RESTORING = re.compile(r"task (\d+_\d+): restoring (\d+) records from \S+@(\d+)")


def records(count: int, offset: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{(offset + i) % KEYS}".encode(), b"x") for i in range(count)]


def produce(bootstrap: str, topic: str, batch: list[tuple[bytes, bytes]]) -> None:
    """Every record at BASE_MS: one window per key, whatever the clock says."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in batch:
        producer.produce(topic, value=value, key=key, timestamp=BASE_MS)
    assert producer.flush(30) == 0, "records still undelivered after 30 s"


def counts(read: list[Any]) -> Counter[str]:
    """The last count per key (one window per key in these tests)."""
    last: dict[bytes, int] = {}
    for record in read:
        assert record.key is not None and record.value is not None
        inner = record.key[:-16]
        last[inner] = struct.unpack(">q", record.value)[0]
    return Counter({key.decode(): value for key, value in last.items()})


def truth(total: int) -> Counter[str]:
    return Counter(f"k{i % KEYS}" for i in range(total))


def restores(app: AppProcess) -> list[tuple[str, int, int]]:
    found = []
    for line in app.output().splitlines():
        match = RESTORING.search(line)
        if match:
            found.append((match.group(1), int(match.group(2)), int(match.group(3))))
    return found


def committed_everything(bootstrap: str, group: str, topic: str) -> bool:
    committed, ends = group_offsets(bootstrap, group, [topic])
    return all(committed.get(tp) == end for tp, end in ends.items())


def wait_for_counts(reader: TopicReader, expected: Counter[str], apps: list[AppProcess],
                    at_least: bool) -> Counter[str]:
    def done(read: list[Any]) -> bool:
        found = counts(read)
        if at_least:
            return all(found[k] >= n for k, n in expected.items())
        return found == expected

    reader.read_until(done, f"counts {'>=' if at_least else '=='} the truth", apps)
    return counts(reader.records)


def test_windowed_count_survives_kill_9_and_restores(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"wc-in": PARTITIONS, "wc-out": 1})
    options = ("--topology", "windowed-count", "--input", "wc-in", "--output", "wc-out")
    reader = open_reader(bootstrap, "wc-out")

    first = start_app("a", bootstrap, "wc", *options)
    produce(bootstrap, "wc-in", records(2_000, 0))
    wait_for_counts(reader, truth(2_000), [first], at_least=False)
    # A commit writes the stores' checkpoints before the input offsets: once these are in,
    # every store has a local checkpoint to restart from.
    wait_until(lambda: committed_everything(bootstrap, "wc", "wc-in"), START_WAIT_S,
               lambda: "a commit of all the input", alive=[first])
    first.kill()  # kill -9: whatever was not committed is processed again

    produce(bootstrap, "wc-in", records(1_000, 2_000))
    second = start_app("a", bootstrap, "wc", *options)  # same state dir: local checkpoints
    after_kill = wait_for_counts(reader, truth(3_000), [second], at_least=True)
    assert all(after_kill[k] >= n for k, n in truth(3_000).items())
    restored = restores(second)
    assert len(restored) == PARTITIONS, second.output()
    # Every task found a local checkpoint: restoring started past the changelog's start.
    assert all(start > 0 for _task, _count, start in restored), restored
    assert second.terminate() == 0
    baseline = counts(reader.read_to_end())  # what the store holds after the clean stop

    # A fresh state dir restores everything from the changelog; then a clean stop and start
    # must add exactly what was produced.
    third = start_app("c", bootstrap, "wc", *options)
    wait_until(lambda: len(restores(third)) == PARTITIONS, START_WAIT_S,
               lambda: "the fresh instance's restores", alive=[third])
    assert all(start == 0 for _task, _count, start in restores(third)), restores(third)
    assert sum(count for _task, count, _start in restores(third)) > 0
    produce(bootstrap, "wc-in", records(400, 3_000))
    expected = baseline + truth(3_400) - truth(3_000)
    assert wait_for_counts(reader, expected, [third], at_least=False) == expected
    assert third.terminate() == 0

    fourth = start_app("c", bootstrap, "wc", *options)
    produce(bootstrap, "wc-in", records(200, 3_400))
    expected = expected + truth(3_600) - truth(3_400)
    assert wait_for_counts(reader, expected, [fourth], at_least=False) == expected
    assert fourth.terminate() == 0


STANDBY = re.compile(r"standby (\d+_\d+) started")


def changelog_ends(bootstrap: str, topic: str) -> dict[str, int]:
    _committed, ends = group_offsets(bootstrap, "nobody", [topic])
    return {f"{t}-{p}": offset for (t, p), offset in ends.items()}


def standbys_caught_up(app: AppProcess, tasks: set[str], ends: dict[str, int]) -> bool:
    lines = [line for line in app.output().splitlines() if line.startswith("STANDBYS ")]
    if not lines:
        return False
    positions = json.loads(lines[-1][len("STANDBYS "):])
    return all(
        task in positions and all(p >= ends[tp] for tp, p in positions[task].items())
        for task in tasks
    )


def test_a_standby_takes_over_a_killed_instance_restoring_only_the_tail(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"sb-in": PARTITIONS, "sb-out": 1})
    options = ("--topology", "windowed-count", "--input", "sb-in", "--output", "sb-out",
               "--num-standby-replicas", "1")
    reader = open_reader(bootstrap, "sb-out")
    first = start_app("a", bootstrap, "sb", *options)
    wait_until(first.is_running_state, START_WAIT_S, lambda: "a RUNNING", alive=[first])
    second = start_app("b", bootstrap, "sb", *options)

    def split() -> bool:
        held_a, held_b = first.held_tasks(), second.held_tasks()
        return len(held_a) == len(held_b) == PARTITIONS // 2 and not held_a & held_b

    wait_until(split, START_WAIT_S, lambda: "the tasks split 3 / 3", alive=[first, second])
    produce(bootstrap, "sb-in", records(3_000, 0))
    wait_for_counts(reader, truth(3_000), [first, second], at_least=False)
    # Every task of each instance has a standby on the other one.
    wait_until(lambda: set(STANDBY.findall(second.output())) >= first.held_tasks(), START_WAIT_S,
               lambda: f"b's standbys of {sorted(first.held_tasks())}", alive=[first, second])
    moved = first.held_tasks()
    ends = changelog_ends(bootstrap, "sb-counts-changelog")
    wait_until(lambda: standbys_caught_up(second, moved, ends), START_WAIT_S,
               lambda: f"b's standbys reaching the changelog ends {ends}", alive=[first, second])
    first.kill()
    wait_until(lambda: second.held_tasks() >= moved, 30.0,
               lambda: f"b taking over {sorted(moved)}", alive=[second])
    wait_until(lambda: {t for t, _c, _s in restores(second)} >= moved, 30.0,
               lambda: f"b restoring {sorted(moved)}", alive=[second])
    produce(bootstrap, "sb-in", records(600, 3_000))
    after = wait_for_counts(reader, truth(3_600), [second], at_least=True)
    assert all(after[k] >= n for k, n in truth(3_600).items())
    restored = {task: (count, start) for task, count, start in restores(second) if task in moved}
    assert set(restored) == moved, second.output()
    # The standby was warm: restoring started past the changelog's start and read only a tail.
    assert all(start > 0 for _count, start in restored.values()), restored
    # Only what was logged after the standby's last read: far less than the changelog held.
    total = sum(ends[f"sb-counts-changelog-{task.split('_')[1]}"] for task in moved)
    assert sum(count for count, _start in restored.values()) < total / 2, (restored, ends)
    assert second.terminate() == 0


WARMUP = re.compile(r"warm-ups .* probing rebalance")


def test_a_new_instance_warms_up_before_it_takes_tasks_over(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    """KIP-441: b joins a running a whose stores hold data; nothing moves until b's warm-up
    copies have caught up, then b takes its share and restores (almost) nothing."""
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"wu-in": PARTITIONS, "wu-out": 1})
    # Any lag above zero is too much: b must have read every changelog record before a move.
    options = ("--topology", "windowed-count", "--input", "wu-in", "--output", "wu-out",
               "--acceptable-recovery-lag", "0", "--max-warmup-replicas", str(PARTITIONS),
               "--probing-rebalance-interval-ms", "4000")
    reader = open_reader(bootstrap, "wu-out")
    first = start_app("a", bootstrap, "wu", *options)
    wait_until(first.is_running_state, START_WAIT_S, lambda: "a RUNNING", alive=[first])
    wait_until(lambda: len(first.held_tasks()) == PARTITIONS, START_WAIT_S,
               lambda: "a running every task", alive=[first])
    produce(bootstrap, "wu-in", records(3_000, 0))
    wait_for_counts(reader, truth(3_000), [first], at_least=False)
    wait_until(lambda: committed_everything(bootstrap, "wu", "wu-in"), START_WAIT_S,
               lambda: "a committing everything", alive=[first])
    second = start_app("b", bootstrap, "wu", *options)
    # b first gets warm-up copies (run as standbys) and no task: a keeps all six.
    wait_until(lambda: len(STANDBY.findall(second.output())) == PARTITIONS // 2, START_WAIT_S,
               lambda: "b warming three tasks up", alive=[first, second])
    warmed = set(STANDBY.findall(second.output()))
    assert not second.held_tasks() and len(first.held_tasks()) == PARTITIONS
    assert WARMUP.search(first.output() + second.output())
    # The probing rebalance hands the caught-up copies over.
    wait_until(lambda: second.held_tasks() == warmed, 30.0,
               lambda: f"b taking over its warm copies {sorted(warmed)}", alive=[first, second])
    wait_until(lambda: len(first.held_tasks()) == PARTITIONS // 2, 30.0,
               lambda: "a keeping three tasks", alive=[first, second])
    wait_until(lambda: {t for t, _c, _s in restores(second)} == warmed, 30.0,
               lambda: f"b opening {sorted(warmed)} from its warm copies", alive=[first, second])
    restored = {task: (count, start) for task, count, start in restores(second)}
    assert all(count == 0 for count, _start in restored.values()), restored
    produce(bootstrap, "wu-in", records(600, 3_000))
    assert wait_for_counts(reader, truth(3_600), [first, second], at_least=False) == truth(3_600)
    assert second.terminate() == 0 and first.terminate() == 0
