"""Consumer groups with kafka-python members: the client-side assignors run on the leader."""

from __future__ import annotations

import pytest
from member_process import MemberProcess, create_topic, produce_numbered, stop_all, wait_until

PARTITIONS = 6
BROKER_CONFIG = {"group.min.session.timeout.ms": "1000", "group.initial.rebalance.delay.ms": "1500"}
# Two members over six partitions: what each assignor hands out.
EXPECTED = {
    "range": [{0, 1, 2}, {3, 4, 5}],
    "roundrobin": [{0, 2, 4}, {1, 3, 5}],
}


@pytest.mark.parametrize("assignor", sorted(EXPECTED))
def test_kafka_python_assignor(broker_factory, assignor: str) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    topic = f"kp-{assignor}"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    produced = produce_numbered(broker.bootstrap, topic, PARTITIONS, 20)
    options = ("--client", "kafka-python", "--set", f"assignor={assignor}",
               "--set", "session_timeout_ms=6000", "--commit", "message")
    members = [MemberProcess(broker.bootstrap, topic, f"kp-{assignor}-group", *options)
               for _ in range(2)]

    def settled() -> bool:
        owned = sorted((member.owned() for member in members), key=lambda held: min(held, default=-1))
        received = {m for member in members for m in member.messages()}
        return all(owned) and owned == EXPECTED[assignor] and produced <= received

    try:
        wait_until(settled, what=f"a {assignor} split and every message consumed")
    finally:
        stop_all(members)
    received = [m for member in members for m in member.messages()]
    assert sorted(received) == sorted(produced)
