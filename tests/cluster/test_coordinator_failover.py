"""A consumer group across a coordinator failover: three broker processes, the group's
coordinator killed with SIGKILL, committed offsets intact, the consumers carry on."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from cluster_helpers import (
    FAST_CLUSTER,
    brokers_output_on_failure,
    controller_id,
    topic_layout,
    wait_for,
)
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.broker.group_core import partition_for
from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.heartbeat import HeartbeatRequest

TOPIC = "orders"
PARTITIONS = 4
GROUP = "failover-readers"
BEFORE = 200
AFTER = 200
CONFIG = {**FAST_CLUSTER, "group.initial.rebalance.delay.ms": "300"}


def _create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)]).values()
    future.result(timeout=15)
    wait_for("the topic's layout", lambda: (layout := topic_layout(bootstrap, TOPIC))
             and len(layout) == PARTITIONS)


def _produce(bootstrap: str, producer: Producer, first: int, count: int) -> None:
    errors: list[str] = []

    def delivered(error: KafkaError | None, message: object) -> None:
        if error is not None:
            errors.append(str(error))

    for number in range(first, first + count):
        producer.produce(TOPIC, key=b"k%d" % number, value=b"v%06d" % number,
                         on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(40) == 0 and not errors, errors[:5]


class _Group:
    """Two consumers polled in turn; every batch committed synchronously. Checks, as
    records arrive, that none is below the last acknowledged commit of its partition."""

    def __init__(self, bootstrap: str) -> None:
        self.consumers = [
            Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                      "client.id": f"reader-{n}", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 500})
            for n in range(2)
        ]
        for consumer in self.consumers:
            consumer.subscribe([TOPIC])
        self.acknowledged: dict[int, int] = {}  # partition -> last acknowledged commit
        self.seen: set[tuple[int, int]] = set()
        self.redelivered_below_commit: list[tuple[int, int, int]] = []
        self.failed_commits = 0
        self.longest_commit_s = 0.0
        self._dirty = [False, False]  # read past its last acknowledged commit

    def consume_until(self, total: int, timeout_s: float) -> None:
        """Until `total` records were read and every read record's commit acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for number, consumer in enumerate(self.consumers):
                self.poll_and_commit(number, consumer)
            if len(self.seen) >= total and sum(self.acknowledged.values()) >= total:
                return
        raise AssertionError(f"read {len(self.seen)} of {total}, committed "
                             f"{sum(self.acknowledged.values())}")

    def poll_and_commit(self, number: int, consumer: Consumer) -> None:
        messages = [m for m in consumer.consume(num_messages=50, timeout=0.2) if m.error() is None]
        for message in messages:
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            if offset < self.acknowledged.get(partition, 0):
                self.redelivered_below_commit.append(
                    (partition, offset, self.acknowledged[partition]))
            self.seen.add((partition, offset))
        if not messages and not self._dirty[number]:
            return
        self._dirty[number] = True
        started = time.monotonic()
        try:
            # The positions of what it was given, for the partitions it holds.
            results = consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() == KafkaError._NO_OFFSET:
                self._dirty[number] = False
            else:
                self.failed_commits += 1  # not acknowledged: may be read again
            return
        self._dirty[number] = False
        self.longest_commit_s = max(self.longest_commit_s, time.monotonic() - started)
        for result in results or []:
            if result.error is None and result.offset >= 0:
                self.acknowledged[result.partition] = max(
                    self.acknowledged.get(result.partition, 0), result.offset)

    def committed(self) -> dict[int, int]:
        found = self.consumers[0].committed(
            [TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=5)
        assert all(tp.error is None for tp in found), found
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}

    def close(self) -> None:
        for consumer in self.consumers:
            consumer.close()


def _coordinator(bootstrap: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.describe_consumer_groups([GROUP]).values()
    return int(future.result(timeout=10).coordinator.id)


def _heartbeat_error(port: int) -> ErrorCode:
    """Heartbeat v4 of an unknown member of GROUP, sent to the broker on `port`."""
    request = HeartbeatRequest(group_id=GROUP, generation_id=-1, member_id="nobody",
                               group_instance_id=None)
    frame = encode_request(RequestHeader(12, 4, 1, "test"), request)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        with sock.makefile("rb") as stream:
            (size,) = struct.unpack(">i", stream.read(4))
            _, response = decode_response(12, 4, stream.read(size))
    return ErrorCode(response.error_code)


def test_a_group_keeps_its_committed_offsets_across_a_coordinator_failover(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, CONFIG)
    with brokers_output_on_failure(cluster):
        _coordinator_failover(cluster)


def _coordinator_failover(cluster: Any) -> None:
    wait_for("a controller", lambda: controller_id(cluster.bootstrap) >= 0)
    _create_topic(cluster.bootstrap)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 40000})
    _produce(cluster.bootstrap, producer, 0, BEFORE)

    group = _Group(cluster.bootstrap)
    try:
        group.consume_until(BEFORE, timeout_s=60)
        acknowledged = dict(group.acknowledged)

        # The coordinator FindCoordinator names is the leader of the group's partition.
        offsets_layout = topic_layout(cluster.bootstrap, "__consumer_offsets")
        assert offsets_layout is not None
        assert all(len(replicas) == 3 for _, replicas, _ in offsets_layout.values())
        home = partition_for(GROUP, len(offsets_layout))
        victim = offsets_layout[home][0]
        assert _coordinator(cluster.bootstrap) == victim
        # Only the coordinator knows the group; the others send clients to look again.
        for node_id, broker in cluster.brokers.items():
            expected = (ErrorCode.UNKNOWN_MEMBER_ID if node_id == victim
                        else ErrorCode.NOT_COORDINATOR)
            assert _heartbeat_error(broker.port) == expected
        assert group.committed() == acknowledged

        cluster.brokers[victim].kill()
        killed_at = time.monotonic()
        survivors = ",".join(f"127.0.0.1:{b.port}" for b in cluster.running())
        new_coordinator = wait_for(
            "a new coordinator", lambda: (c := _coordinator(survivors)) != victim and c,
            timeout_s=30)
        assert new_coordinator in offsets_layout[home][1]
        assert wait_for("the group loaded", lambda: _heartbeat_error(
            cluster.brokers[new_coordinator].port) == ErrorCode.UNKNOWN_MEMBER_ID)

        # Everything acknowledged before the kill is there, nothing more or less.
        assert wait_for("committed offsets", group.committed, timeout_s=30) == acknowledged
        failover_s = time.monotonic() - killed_at

        # The consumers carry on: new records read and committed, none re-read
        # from below an acknowledged commit.
        _produce(survivors, producer, BEFORE, AFTER)
        group.consume_until(BEFORE + AFTER, timeout_s=60)
        assert group.redelivered_below_commit == []
        # Every record read once at least, each exactly once stored (idempotence).
        assert sum(group.acknowledged.values()) == BEFORE + AFTER
        assert group.seen == {(p, o) for p, end in group.acknowledged.items() for o in range(end)}
        assert group.committed() == group.acknowledged
        print(f"coordinator {victim} killed; {new_coordinator} served the group's offsets "
              f"after {failover_s:.1f} s; {group.failed_commits} commits failed meanwhile")
    finally:
        group.close()
        producer.flush(5)


def test_commits_in_flight_across_a_coordinator_kill(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, CONFIG)
    with brokers_output_on_failure(cluster):
        _kill_while_committing(cluster)


def _kill_while_committing(cluster: Any) -> None:
    """The consumers read and commit while the coordinator dies: no acknowledged
    commit goes back, and nothing below one is delivered again."""
    wait_for("a controller", lambda: controller_id(cluster.bootstrap) >= 0)
    _create_topic(cluster.bootstrap)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 40000})
    rounds, per_round, kill_at = 30, 10, 10
    group = _Group(cluster.bootstrap)
    try:
        acknowledged_at_kill: dict[int, int] = {}
        for round_number in range(rounds):
            # Not flushed: the consumers go on polling and committing while the
            # partitions (data and offsets) the victim led fail over.
            for number in range(round_number * per_round, (round_number + 1) * per_round):
                producer.produce(TOPIC, key=b"k%d" % number, value=b"v%06d" % number)
            producer.poll(0)
            for number, consumer in enumerate(group.consumers):
                group.poll_and_commit(number, consumer)
            if round_number == kill_at:
                victim = _coordinator(cluster.bootstrap)
                acknowledged_at_kill = dict(group.acknowledged)
                cluster.brokers[victim].kill()
        assert sum(acknowledged_at_kill.values()) > 0, "nothing committed before the kill"
        assert producer.flush(40) == 0
        group.consume_until(rounds * per_round, timeout_s=60)
        committed = group.committed()
        assert all(committed.get(p, 0) >= end for p, end in acknowledged_at_kill.items())
        assert group.redelivered_below_commit == []
        assert sum(group.acknowledged.values()) == rounds * per_round
        assert group.seen == {(p, o) for p, end in group.acknowledged.items() for o in range(end)}
        assert committed == group.acknowledged
        print(f"coordinator {victim} killed after round {kill_at}; "
              f"{group.failed_commits} commits failed, the longest took "
              f"{group.longest_commit_s:.1f} s")
    finally:
        group.close()
        producer.flush(5)
