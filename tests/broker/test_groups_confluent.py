"""Consumer groups with confluent-kafka (librdkafka) members, each its own process."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition
from member_process import (
    MemberProcess,
    create_topic,
    produce_numbered,
    stop_all,
    wait_until,
)

PARTITIONS = 6
# Short sessions keep takeovers quick; the broker's minimum is lowered to allow them.
BROKER_CONFIG = {"group.min.session.timeout.ms": "1000", "group.initial.rebalance.delay.ms": "0"}
# A short initial delay lets members started together join the first generation.
TOGETHER_CONFIG = {**BROKER_CONFIG, "group.initial.rebalance.delay.ms": "1500"}
FAST_SESSION = ("--set", "session.timeout.ms=3000", "--set", "heartbeat.interval.ms=300")


def received(members: list[MemberProcess]) -> list[tuple[int, int, str]]:
    return [message for member in members for message in member.messages()]


def covers(members: list[MemberProcess], produced: set[tuple[int, int, str]]) -> bool:
    return produced <= set(received(members))


def split_evenly(members: list[MemberProcess]) -> bool:
    owned = [member.owned() for member in members]
    return all(len(held) == PARTITIONS // len(members) for held in owned) and len(
        set().union(*owned)) == PARTITIONS


def committed(bootstrap: str, group: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                     timeout=30)
        return [tp.offset for tp in offsets]
    finally:
        consumer.close()


def test_three_members_split_partitions_and_consume_exactly_once(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(TOGETHER_CONFIG)
    create_topic(broker.bootstrap, "split", PARTITIONS)
    produced = produce_numbered(broker.bootstrap, "split", PARTITIONS, 50)
    members = [MemberProcess(broker.bootstrap, "split", "split-group", *FAST_SESSION)
               for _ in range(3)]
    try:
        wait_until(lambda: covers(members, produced) and split_evenly(members),
                   what="every message consumed over an even split")
        owned = [member.owned() for member in members]
    finally:
        stop_all(members)
    assert sorted(received(members)) == sorted(produced), "each message exactly once"
    assert all(len(held) == 2 for held in owned) and len(set().union(*owned)) == PARTITIONS
    # The clean close committed everything.
    assert committed(broker.bootstrap, "split-group", "split") == [50] * PARTITIONS


def test_killed_member_partitions_move_to_the_others(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(TOGETHER_CONFIG)
    create_topic(broker.bootstrap, "takeover", PARTITIONS)
    produced = produce_numbered(broker.bootstrap, "takeover", PARTITIONS, 40)
    options = (*FAST_SESSION, "--commit", "message")
    # The victim is slow, so it still has work when it dies.
    victim = MemberProcess(broker.bootstrap, "takeover", "takeover-group", *options,
                           "--delay-ms", "100")
    others = [MemberProcess(broker.bootstrap, "takeover", "takeover-group", *options)
              for _ in range(2)]
    members = [victim, *others]
    try:
        wait_until(lambda: split_evenly(members) and len(victim.messages()) >= 3,
                   what="a stable three-member generation with the victim consuming")
        victim_partitions = victim.owned()
        victim.kill()
        killed_at = time.monotonic()
        seen_before = [len(member.events) for member in others]
        wait_until(lambda: victim_partitions <= set().union(*(m.owned() for m in others)),
                   what="the survivors own the victim's partitions")
        takeover_s = time.monotonic() - killed_at
        wait_until(lambda: covers(members, produced), what="every message consumed")
    finally:
        stop_all(members)
    # Session 3 s plus a heartbeat and a rejoin.
    assert takeover_s < 6.0, takeover_s
    last_by_victim = {p: max((o for q, o, _ in victim.messages() if q == p), default=-1)
                      for p in victim_partitions}
    for partition in victim_partitions:
        after_kill = [
            event["offset"]
            for member, start in zip(others, seen_before, strict=True)
            for event in member.events[start:]
            if event["event"] == "message" and event["partition"] == partition
        ]
        # Resumed from the victim's last commit (print-then-commit may repeat one message).
        last = last_by_victim[partition]
        assert min(after_kill) in (last, last + 1) if last >= 0 else min(after_kill) == 0
    everything = received(members)
    assert set(everything) == produced
    assert len(everything) - len(produced) <= len(victim_partitions)


def test_two_groups_each_see_every_message(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "shared", PARTITIONS)
    produced = produce_numbered(broker.bootstrap, "shared", PARTITIONS, 20)
    first = MemberProcess(broker.bootstrap, "shared", "group-one", *FAST_SESSION)
    second = MemberProcess(broker.bootstrap, "shared", "group-two", *FAST_SESSION)
    try:
        wait_until(lambda: covers([first], produced) and covers([second], produced),
                   what="both groups read everything")
    finally:
        stop_all([first, second])
    assert sorted(first.messages()) == sorted(second.messages()) == sorted(produced)


def test_cooperative_sticky_moves_only_some_partitions(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "coop", PARTITIONS)
    produced = produce_numbered(broker.bootstrap, "coop", PARTITIONS, 30)
    options = (*FAST_SESSION, "--set", "partition.assignment.strategy=cooperative-sticky",
               "--commit", "message", "--delay-ms", "20")
    first = MemberProcess(broker.bootstrap, "coop", "coop-group", *options)
    members = [first]
    try:
        first.wait_for(lambda _: len(first.owned()) == PARTITIONS and len(first.messages()) > 0)
        second = MemberProcess(broker.bootstrap, "coop", "coop-group", *options)
        members.append(second)
        wait_until(lambda: split_evenly(members) and covers(members, produced),
                   what="an even cooperative split and every message consumed")
    finally:
        stop_all(members)
    revocations = [e for e in first.assignments() if e["event"] == "revoked" and e["partitions"]]
    # Incremental: the first member gave up only what moved, never everything at once.
    assert revocations and all(len(e["partitions"]) < PARTITIONS for e in revocations[:-1])
    assert all(e["incremental"] for e in first.assignments())
    everything = received(members)
    assert set(everything) == produced and len(everything) == len(produced)


def test_static_member_restarts_without_rebalance(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "static", PARTITIONS)
    produce_numbered(broker.bootstrap, "static", PARTITIONS, 5)
    # The session must outlast the restart: static members do not leave on close.
    options = ("--set", "session.timeout.ms=15000", "--set", "heartbeat.interval.ms=300")
    first = MemberProcess(broker.bootstrap, "static", "static-group", *options,
                          "--set", "group.instance.id=static-a")
    other = MemberProcess(broker.bootstrap, "static", "static-group", *options,
                          "--set", "group.instance.id=static-b")
    restarted = None
    try:
        wait_until(lambda: split_evenly([first, other]), what="a stable two-member group")
        before = first.owned()
        other_changes = len(other.assignments())
        first.stop()
        restarted = MemberProcess(broker.bootstrap, "static", "static-group", *options,
                                  "--set", "group.instance.id=static-a")
        restarted.wait_for(lambda _: bool(restarted.owned()))
        assert restarted.owned() == before
        assert len(other.assignments()) == other_changes, other.assignments()
    finally:
        stop_all([member for member in (first, other, restarted) if member is not None])
