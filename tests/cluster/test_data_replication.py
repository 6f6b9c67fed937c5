"""Data replication end to end: three broker processes, RF 3, acks=all, a leader killed."""

from __future__ import annotations

import time
from typing import Any

from cluster_helpers import (
    FAST_CLUSTER,
    brokers_output_on_failure,
    controller_id,
    produce_one,
    topic_layout,
    wait_for,
)
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from other_clients import read_with_aiokafka, read_with_kafka_python, read_with_kcat

from flowlog.protocol.errors import ErrorCode

TOPIC = "durable"
BEFORE = 300
AFTER = 300


def _produce(producer: Producer, first: int, count: int, acked: list[bytes], errors: list[str]) -> None:
    def delivered(error: KafkaError | None, message: object) -> None:
        if error is None:
            acked.append(message.value())  # type: ignore[attr-defined]
        else:
            errors.append(str(error))

    for number in range(first, first + count):
        producer.produce(TOPIC, value=b"v%06d" % number, partition=0, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(40) == 0, "records left undelivered"


def _read_all(bootstrap: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(values) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    # Anything past what was acknowledged would show up now.
    for _ in range(3):
        message = consumer.poll(0.3)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    return values


def _create_topic(bootstrap: str, topic: str = TOPIC,
                  min_insync: str = "2") -> dict[int, tuple[int, list[int], list[int]]]:
    """Create the topic, once (a just-started cluster must answer its first
    CreateTopics); its layout once every broker's metadata shows it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics(
        [NewTopic(topic, 1, 3, config={"min.insync.replicas": min_insync})]).values()
    future.result(timeout=15)
    return wait_for("the topic's layout", lambda: topic_layout(bootstrap, topic))


def test_acks_all_survives_a_killed_leader_and_the_old_leader_rejoins(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    with brokers_output_on_failure(cluster):
        _survive_a_killed_leader(cluster)


def _survive_a_killed_leader(cluster: Any) -> None:
    wait_for("a controller", lambda: controller_id(cluster.bootstrap) >= 0)
    layout = _create_topic(cluster.bootstrap)
    victim = layout[0][0]

    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 40000})
    acked: list[bytes] = []
    errors: list[str] = []
    _produce(producer, 0, BEFORE, acked, errors)
    assert len(acked) == BEFORE, errors
    # Every replica fetched them: the ISR is all three.
    wait_for("a full ISR", lambda: len(topic_layout(cluster.bootstrap, TOPIC)[0][2]) == 3)  # type: ignore[index]

    cluster.brokers[victim].kill()
    survivors = ",".join(f"127.0.0.1:{b.port}" for b in cluster.running())
    _produce(producer, BEFORE, AFTER, acked, errors)
    producer.flush(10)
    assert len(acked) == BEFORE + AFTER, errors[:5]
    after = topic_layout(survivors, TOPIC)
    assert after is not None and after[0][0] not in (victim, -1)

    values = _read_all(survivors, len(acked))
    assert len(values) == len(set(values)), "a record was stored twice"
    assert values == acked, "acknowledged records missing or out of order"
    # The other clients read the same after the failover.
    assert read_with_kafka_python(survivors, TOPIC, len(acked)) == acked
    assert read_with_aiokafka(survivors, TOPIC, len(acked)) == acked
    assert read_with_kcat(survivors, TOPIC) == acked

    # The killed broker returns, catches up, rejoins the ISR and (as the preferred
    # replica) leads again, serving everything.
    cluster.brokers[victim].start()
    wait_for("the old leader back in the ISR",
             lambda: victim in topic_layout(cluster.bootstrap, TOPIC)[0][2],  # type: ignore[index]
             timeout_s=20)
    wait_for("the old leader leading again",
             lambda: topic_layout(cluster.bootstrap, TOPIC)[0][0] == victim,  # type: ignore[index]
             timeout_s=20)
    assert _read_all(f"127.0.0.1:{cluster.brokers[victim].port}", len(acked)) == acked
    producer.flush(5)


def test_min_insync_replicas_refuses_acks_all_until_the_isr_is_back(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    with brokers_output_on_failure(cluster):
        _refuse_below_min_insync(cluster)


def _refuse_below_min_insync(cluster: Any) -> None:
    wait_for("a controller", lambda: controller_id(cluster.bootstrap) >= 0)
    layout = _create_topic(cluster.bootstrap, "strict", "3")
    leader = layout[0][0]
    port = cluster.brokers[leader].port
    wait_for("a full ISR", lambda: len(topic_layout(cluster.bootstrap, "strict")[0][2]) == 3)  # type: ignore[index]
    assert produce_one(port, "strict", 0, b"all three") == ErrorCode.NONE

    victim = next(node for node in cluster.brokers if node != leader)
    cluster.brokers[victim].kill()
    wait_for("the fenced follower out of the ISR",
             lambda: victim not in topic_layout(f"127.0.0.1:{port}", "strict")[0][2])  # type: ignore[index]
    assert produce_one(port, "strict", 0, b"two of three") == ErrorCode.NOT_ENOUGH_REPLICAS

    cluster.brokers[victim].start()
    wait_for("the follower back in the ISR",
             lambda: victim in topic_layout(f"127.0.0.1:{port}", "strict")[0][2])  # type: ignore[index]
    assert produce_one(port, "strict", 0, b"three again") == ErrorCode.NONE
