"""Run an example app end to end on a real broker (test helper): instances as OS processes
(`python -m apps.<app> run`), the generator as one (`... generate`), and a reader that keeps
the last value per key of each output topic, with confluent-kafka (a client independent of
the one the apps run on)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.streams.app_process import AppProcess, describe_all, wait_until

ROOT = Path(__file__).resolve().parents[2]
# The first member is assigned at once (no initial rebalance delay).
BROKER_CONFIG = {"group.initial.rebalance.delay.ms": "0"}
START_WAIT_S = 45.0
GENERATE_TIMEOUT_S = 90.0
DIFF_LINES_MAX = 8


def start_instances(module: str, bootstrap: str, application_id: str, state_root: Path,
                    task_count: int, *options: str, count: int = 2) -> list[AppProcess]:
    """Start `count` instances one after the other; return once they share every task."""
    apps: list[AppProcess] = []
    for number in range(1, count + 1):
        apps.append(AppProcess(f"{module}-{number}", bootstrap, application_id,
                               state_root / f"state-{number}", *options, module=(module, "run")))
        wait_until(lambda: split_evenly(apps, task_count), START_WAIT_S,
                   lambda: f"{len(apps)} instance(s) sharing {task_count} tasks", alive=apps)
    return apps


def split_evenly(apps: list[AppProcess], task_count: int) -> bool:
    held = [app.held_tasks() for app in apps]
    every = set().union(*held)
    return (len(every) == task_count and sum(map(len, held)) == task_count
            and all(held))


def stop_instances(apps: Iterable[AppProcess]) -> None:
    for app in apps:
        app.send_sigterm()
    for app in apps:
        assert app.terminate() == 0, app.describe()


def generate(module: str, bootstrap: str, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, "generate", "--bootstrap", bootstrap, *options],
        cwd=ROOT, capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class LatestValues:
    """Every record of some topics from their beginning; the last value per key (a tombstone
    deletes the key)."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "apps-e2e-reader",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
        })
        self.latest: dict[str, dict[str, Any]] = {}
        partitions = []
        for topic in topics:
            metadata = self.consumer.list_topics(topic, timeout=30).topics[topic]
            assert metadata.error is None, metadata.error
            partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
            self.latest[topic] = {}
        self.consumer.assign(partitions)
        self.records_read = 0

    def poll(self, timeout_s: float) -> None:
        for message in self.consumer.consume(num_messages=5_000, timeout=timeout_s):
            assert message.error() is None, message.error()
            key = message.key().decode()
            values = self.latest[message.topic()]
            if message.value() is None:
                values.pop(key, None)
            else:
                values[key] = orjson.loads(message.value())
            self.records_read += 1

    def wait_for(self, expected: dict[str, dict[str, Any]], timeout_s: float,
                 apps: list[AppProcess]) -> float:
        """Read until every topic's latest values equal `expected`; returns the seconds it took."""
        started = time.monotonic()
        while self.latest != expected:
            dead = [app for app in apps if not app.alive()]
            if dead or time.monotonic() - started > timeout_s:
                why = f"{dead[0].name} exited" if dead else f"timed out after {timeout_s:.0f} s"
                raise AssertionError(f"{why}; {self.records_read} records read\n"
                                     + diff(expected, self.latest) + "\n" + describe_all(apps))
            self.poll(0.5)
        return time.monotonic() - started

    def close(self) -> None:
        self.consumer.close()


def diff(expected: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]]) -> str:
    lines = []
    for topic, want in expected.items():
        have = found.get(topic, {})
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        if missing or extra or wrong:
            lines.append(f"{topic}: {len(want)} expected, {len(have)} found; "
                         f"{len(missing)} missing {missing[:3]}, {len(extra)} extra {extra[:3]}, "
                         f"{len(wrong)} differ")
            lines += [f"  {k}: expected {want[k]}, found {have[k]}"
                      for k in wrong[:DIFF_LINES_MAX]]
    return "\n".join(lines)
