"""Committed offsets and group metadata live in __consumer_offsets and survive restarts."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, TopicPartition
from member_process import MemberProcess, create_topic, produce_numbered

PARTITIONS = 3
BROKER_CONFIG = {"group.min.session.timeout.ms": "1000", "group.initial.rebalance.delay.ms": "0"}
OPTIONS = ("--set", "session.timeout.ms=3000", "--set", "heartbeat.interval.ms=300")
KCAT = shutil.which("kcat")


def committed(bootstrap: str, group: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                     timeout=30)
        return [tp.offset for tp in offsets]
    finally:
        consumer.close()


def consume_all(bootstrap: str, topic: str, group: str,
                expected: set[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    member = MemberProcess(bootstrap, topic, group, *OPTIONS)
    try:
        member.wait_for(lambda _: expected <= set(member.messages()))
    finally:
        member.stop()
    return member.messages()


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_committed_offsets_survive_a_restart(broker_factory, how: str) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "durable", PARTITIONS)
    first = produce_numbered(broker.bootstrap, "durable", PARTITIONS, 10, prefix="first")
    assert sorted(consume_all(broker.bootstrap, "durable", "durable-group", first)) == sorted(first)
    assert committed(broker.bootstrap, "durable-group", "durable") == [10] * PARTITIONS
    broker.restart(how)
    assert committed(broker.bootstrap, "durable-group", "durable") == [10] * PARTITIONS
    # A member of the same group carries on after the committed offsets: no repeats.
    second = produce_numbered(broker.bootstrap, "durable", PARTITIONS, 5, prefix="second")
    assert sorted(consume_all(broker.bootstrap, "durable", "durable-group", second)) == sorted(
        second)


def test_stable_group_comes_back_after_kill(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """A member keeps its generation across a broker crash: no rebalance after the restart."""
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "comeback", PARTITIONS)
    produce_numbered(broker.bootstrap, "comeback", PARTITIONS, 5)
    member = MemberProcess(broker.bootstrap, "comeback", "comeback-group",
                           "--set", "session.timeout.ms=10000", "--set", "heartbeat.interval.ms=300")
    try:
        member.wait_for(lambda _: len(member.messages()) == 15)
        changes = len(member.assignments())
        broker.kill()
        broker.start()
        later = produce_numbered(broker.bootstrap, "comeback", PARTITIONS, 2, prefix="later")
        member.wait_for(lambda _: later <= set(member.messages()))
        assert len(member.assignments()) == changes, member.assignments()
    finally:
        member.stop()


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (make test installs it)")
def test_kcat_group_consumer_commits(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "kcat-group", PARTITIONS)
    produced = produce_numbered(broker.bootstrap, "kcat-group", PARTITIONS, 10)

    def kcat_consume() -> set[tuple[int, int, str]]:
        assert KCAT is not None
        result = subprocess.run(
            [KCAT, "-b", broker.bootstrap, "-G", "kcat-members", "-X",
             "auto.offset.reset=earliest", "-e", "-q", "-f", "%p %o %s\n", "kcat-group"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        lines = [line.split(" ", 2) for line in result.stdout.splitlines()]
        return {(int(p), int(o), value) for p, o, value in lines}

    assert kcat_consume() == produced
    assert kcat_consume() == set()  # the first run committed everything
    assert committed(broker.bootstrap, "kcat-members", "kcat-group") == [10] * PARTITIONS
