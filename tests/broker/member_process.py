"""Run group_member.py as a child process and follow its JSON lines (test helper)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

SCRIPT = Path(__file__).with_name("group_member.py")
WAIT_S = 45.0
# Bound on lines kept per member: far above what any test produces.
EVENTS_MAX = 100_000
# Notified on every line from any member, so waits span members without polling.
CHANGED = threading.Condition()


class MemberProcess:
    def __init__(self, bootstrap: str, topic: str, group: str, *options: str) -> None:
        self.name = f"{group}/{' '.join(options)}"
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), bootstrap, topic, group, *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.finished = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with CHANGED:
                if len(self.events) < EVENTS_MAX:
                    self.events.append(_parse(line))
                CHANGED.notify_all()
        with CHANGED:
            self.finished = True
            CHANGED.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout_s: float = WAIT_S) -> None:
        wait_until(lambda: predicate(self.events), timeout_s,
                   f"{self.name}; last events: {self.events[-10:]}")

    def messages(self) -> list[tuple[int, int, str]]:
        with CHANGED:
            return [(e["partition"], e["offset"], e["value"])
                    for e in self.events if e["event"] == "message"]

    def assignments(self) -> list[dict[str, Any]]:
        with CHANGED:
            return [e for e in self.events if e["event"] in ("assigned", "revoked")]

    def owned(self) -> set[int]:
        """Partitions held now, from the assign/revoke events."""
        held: set[int] = set()
        for event in self.assignments():
            if event["event"] == "assigned":
                held = held | set(event["partitions"]) if event["incremental"] else set(
                    event["partitions"])
            elif event["incremental"]:
                held -= set(event["partitions"])
            else:
                held = set()
        return held

    def stop(self) -> None:
        """SIGTERM: the member closes cleanly (commits, leaves) and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=WAIT_S)
        self.wait_for(lambda _: self.finished)  # every line read

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT_S)


def _parse(line: str) -> dict[str, Any]:
    """A JSON event, or the client's own output (logs, tracebacks) kept as text."""
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    return event if isinstance(event, dict) else {"event": "output", "line": line.rstrip()}


def stop_all(members: Iterable[MemberProcess]) -> None:
    members = list(members)
    for member in members:
        if member.process.poll() is None:
            member.process.send_signal(signal.SIGTERM)
    for member in members:
        member.process.wait(timeout=WAIT_S)
        member.wait_for(lambda _, member=member: member.finished)  # type: ignore[misc]


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S,
               what: str = "condition") -> None:
    """Wait for a condition over members' events; re-checked on each new line."""
    deadline = time.monotonic() + timeout_s
    with CHANGED:
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            CHANGED.wait(remaining)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                            replication_factor=1)])
    futures[topic].result(timeout=WAIT_S)


def produce_numbered(bootstrap: str, topic: str, partitions: int, per_partition: int,
                     prefix: str = "m") -> set[tuple[int, int, str]]:
    """per_partition messages to each partition; returns (partition, offset, value)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    delivered: set[tuple[int, int, str]] = set()

    def on_delivery(error: object, message: Any) -> None:
        assert error is None, error
        delivered.add((message.partition(), message.offset(), message.value().decode()))

    for index in range(per_partition):
        for partition in range(partitions):
            producer.produce(topic, value=f"{prefix}-{partition}-{index}".encode(),
                             partition=partition, on_delivery=on_delivery)
    assert producer.flush(WAIT_S) == 0
    assert len(delivered) == partitions * per_partition
    return delivered
