"""Failures beyond one killed leader: detection before the session timeout, two brokers
down, and a leader stalled (SIGSTOP) past its session then resumed."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from typing import Any

from cluster_helpers import (
    FAST_CLUSTER,
    brokers_output_on_failure,
    produce_one,
    read_frame,
    topic_layout,
    wait_for,
)
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.messages.produce import ProduceRequest
from flowlog.protocol.records import Record, build_batch


def _create(bootstrap: str, topic: str, min_insync: int) -> dict[int, tuple[int, list[int], list[int]]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics(
        [NewTopic(topic, 1, 3, config={"min.insync.replicas": str(min_insync)})]).values()
    future.result(timeout=15)
    return wait_for("a full ISR", lambda: (layout := topic_layout(bootstrap, topic))
                    and len(layout[0][2]) == 3 and layout)


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> list[bytes]:
    """acks=all, idempotent; the values acknowledged, in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "message.timeout.ms": 30000})
    acked: list[bytes] = []

    def delivered(error: KafkaError | None, message: Any) -> None:
        if error is None:
            acked.append(message.value())

    for value in values:
        producer.produce(topic, value=value, partition=0, on_delivery=delivered)
        producer.poll(0)
    producer.flush(40)
    return acked


def _read(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(values) < expected:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    for _ in range(3):  # anything beyond what was expected shows up now
        message = consumer.poll(0.3)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    return values


def _survivors(cluster: Any) -> str:
    return ",".join(f"127.0.0.1:{broker.port}" for broker in cluster.running())


def test_a_killed_broker_is_fenced_long_before_its_session_times_out(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    # A session of a minute: only the controller's watch can fail the leader over sooner.
    cluster = cluster_factory(3, {"broker.session.timeout.ms": "60000"})
    with brokers_output_on_failure(cluster):
        leader = _create(cluster.bootstrap, "watched", 2)[0][0]
        cluster.brokers[leader].kill()
        killed_at = time.monotonic()
        survivors = _survivors(cluster)
        layout = wait_for("a new leader", lambda: (found := topic_layout(survivors, "watched"))
                          and found[0][0] not in (leader, -1) and found, timeout_s=30)
        assert time.monotonic() - killed_at < 30, "failed over only by the session timeout"
        assert leader not in layout[0][2], "the dead broker is still in the ISR"
        assert _produce(survivors, "watched", [b"after"]) == [b"after"]


def test_two_brokers_down_refuses_acks_all_then_resumes(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    # Five voters: the controller quorum outlives two dead brokers, so the ISR can shrink.
    cluster = cluster_factory(5, FAST_CLUSTER)
    with brokers_output_on_failure(cluster):
        leader, replicas, _ = _create(cluster.bootstrap, "two-down", 2)[0]
        before = [b"before-%03d" % n for n in range(50)]
        assert _produce(cluster.bootstrap, "two-down", before) == before
        followers = [node for node in replicas if node != leader]
        for node in followers:
            cluster.brokers[node].kill()
        port = cluster.brokers[leader].port
        wait_for("an ISR of the leader alone",
                 lambda: topic_layout(f"127.0.0.1:{port}", "two-down")[0][2] == [leader])  # type: ignore[index]
        assert produce_one(port, "two-down", 0, b"refused") == ErrorCode.NOT_ENOUGH_REPLICAS

        cluster.brokers[followers[0]].start()
        wait_for("a follower back in the ISR",
                 lambda: len(topic_layout(f"127.0.0.1:{port}", "two-down")[0][2]) == 2,  # type: ignore[index]
                 timeout_s=30)
        after = [b"after-%03d" % n for n in range(50)]
        assert _produce(_survivors(cluster), "two-down", after) == after
        assert _read(_survivors(cluster), "two-down", 100) == before + after


def _pipelined_produce_and_fetch(port: int, topic: str, value: bytes, fetch_offset: int) -> socket.socket:
    """Send a Produce (acks=1) and then a Fetch on one connection without reading the
    answers: a stopped process's kernel still accepts and buffers them."""
    batch = build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None, value=value)])
    produce = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    fetch = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
                         topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                             FetchRequest.FetchPartition(partition=0, fetch_offset=fetch_offset,
                                                         partition_max_bytes=1 << 20)])])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    for frame in (encode_request(RequestHeader(0, 9, 1, "stale"), produce),
                  encode_request(RequestHeader(1, 12, 2, "stale"), fetch)):
        sock.sendall(struct.pack(">i", len(frame)) + frame)
    return sock


def test_a_stalled_leader_is_fenced_and_its_tail_discarded(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    with brokers_output_on_failure(cluster):
        _stall_the_leader(cluster)


def _stall_the_leader(cluster: Any) -> None:
    leader = _create(cluster.bootstrap, "stalled", 2)[0][0]
    first = [b"first-%03d" % n for n in range(100)]
    assert _produce(cluster.bootstrap, "stalled", first) == first
    stale = cluster.brokers[leader]
    others = ",".join(f"127.0.0.1:{b.port}" for n, b in cluster.brokers.items() if n != leader)

    os.kill(stale.process.pid, signal.SIGSTOP)
    try:
        # Past its session (2 s) the stalled leader is fenced and another one leads.
        wait_for("a new leader", lambda: topic_layout(others, "stalled")[0][0]  # type: ignore[index]
                 not in (leader, -1), timeout_s=30)
        second = [b"second-%03d" % n for n in range(100)]
        assert _produce(others, "stalled", second) == second
        # Queued for the stalled process: it may append this at offset 100 before it
        # learns it was deposed, a tail no other replica has.
        sock = _pipelined_produce_and_fetch(stale.port, "stalled", b"stale-tail", 100)
    finally:
        os.kill(stale.process.pid, signal.SIGCONT)
    with sock:
        _, produced = decode_response(0, 9, read_frame(sock))
        _, fetched = decode_response(1, 12, read_frame(sock))
    produce_error = produced.responses[0].partition_responses[0].error_code
    print(f"the stale leader answered the queued produce with {ErrorCode(produce_error).name}")
    # Whatever it did with the produce, no reader saw the tail.
    records = fetched.responses[0].partitions[0].records or b""
    assert b"stale-tail" not in bytes(records)

    # It truncates the tail, catches up, rejoins the ISR and (preferred) leads again.
    wait_for("the stale leader back in the ISR",
             lambda: leader in topic_layout(others, "stalled")[0][2], timeout_s=30)  # type: ignore[index]
    wait_for("the stale leader leading again",
             lambda: topic_layout(cluster.bootstrap, "stalled")[0][0] == leader, timeout_s=30)  # type: ignore[index]
    assert _read(f"127.0.0.1:{stale.port}", "stalled", 200) == first + second
    assert _read(others, "stalled", 200) == first + second


def test_a_lagging_follower_leaves_the_isr_and_comes_back(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    # Lag detection alone: the session is long, so the stopped follower stays unfenced.
    cluster = cluster_factory(3, {"replica.lag.time.max.ms": "1000",
                                  "broker.session.timeout.ms": "60000"})
    with brokers_output_on_failure(cluster):
        leader, replicas, _ = _create(cluster.bootstrap, "lagging", 2)[0]
        follower = next(node for node in replicas if node != leader)
        stopped = cluster.brokers[follower].process
        os.kill(stopped.pid, signal.SIGSTOP)
        try:
            port = cluster.brokers[leader].port
            # acks=all waits while the stopped follower is in the ISR, then goes on.
            assert _produce(f"127.0.0.1:{port}", "lagging", [b"while-stopped"]) == [b"while-stopped"]
            layout = topic_layout(f"127.0.0.1:{port}", "lagging")
            assert layout is not None and follower not in layout[0][2]
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        wait_for("the follower back in the ISR",
                 lambda: follower in topic_layout(f"127.0.0.1:{port}", "lagging")[0][2],  # type: ignore[index]
                 timeout_s=30)


def test_followers_follow_the_leaders_log_start(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    with brokers_output_on_failure(cluster):
        leader = _create(cluster.bootstrap, "trimmed", 2)[0][0]
        values = [b"t-%03d" % n for n in range(100)]
        assert _produce(cluster.bootstrap, "trimmed", values) == values
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        (deleted,) = admin.delete_records([TopicPartition("trimmed", 0, 60)]).values()
        assert deleted.result(timeout=15).low_watermark == 60
        # Followers learn the leader's start from their next fetch answers; one of them
        # leads once the leader is gone, and its log starts there too.
        time.sleep(1.5)
        cluster.brokers[leader].kill()
        others = _survivors(cluster)
        wait_for("a new leader", lambda: topic_layout(others, "trimmed")[0][0]  # type: ignore[index]
                 not in (leader, -1), timeout_s=30)
        consumer = Consumer({"bootstrap.servers": others, "group.id": "trim-check"})
        low, high = wait_for("the new leader's offsets", lambda: consumer.get_watermark_offsets(
            TopicPartition("trimmed", 0), timeout=5))
        consumer.close()
        assert (low, high) == (60, 100)
