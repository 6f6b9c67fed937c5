"""confluent-kafka (librdkafka) against a real `flowlog broker` process."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
WAIT_S = 30.0


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=WAIT_S)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
            **extra: object) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """Produce keyed messages; returns (partition, offset) -> (key, value) as acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **extra})
    delivered: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    errors: list[object] = []

    def on_delivery(error: object, message: object) -> None:
        if error is not None:
            errors.append(error)
        else:
            delivered[(message.partition(), message.offset())] = (message.key(), message.value())  # type: ignore[attr-defined]

    for key, value, headers in messages:
        producer.produce(topic, value=value, key=key, headers=headers, timestamp=1_700_000_000_000,
                         on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(WAIT_S) == 0
    assert not errors, errors
    return delivered


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int) -> list[object]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    received: list[object] = []
    deadline = time.monotonic() + WAIT_S
    while len(received) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        received.append(message)
    consumer.close()
    return received


@pytest.mark.parametrize("codec", CODECS)
def test_produce_and_consume_every_partition(broker, codec: str) -> None:  # type: ignore[no-untyped-def]
    topic = f"orders-{codec}"
    create_topic(broker.bootstrap, topic)
    messages = [
        (f"key-{i % 17}".encode(), f"value-{i}".encode() * 3, [("n", str(i).encode())])
        for i in range(500)
    ]
    delivered = produce(broker.bootstrap, topic, messages, **{"compression.type": codec,
                                                              "enable.idempotence": True})
    assert len(delivered) == len(messages)
    received = consume_all(broker.bootstrap, topic, PARTITIONS, len(messages))
    assert len(received) == len(messages)
    by_position = {(m.partition(), m.offset()): m for m in received}  # type: ignore[attr-defined]
    assert set(by_position) == set(delivered)
    for position, (key, value) in delivered.items():
        message = by_position[position]
        assert (message.key(), message.value()) == (key, value)  # type: ignore[attr-defined]
        assert message.timestamp()[1] == 1_700_000_000_000  # type: ignore[attr-defined]
        number = value.split(b"-")[1].split(b"v")[0]
        assert message.headers() == [("n", number)]  # type: ignore[attr-defined]
    # Per-partition order: offsets ascend in the order the producer sent the values.
    partition_of = {value: position[0] for position, (_, value) in delivered.items()}
    for partition in range(PARTITIONS):
        received_values = [
            by_position[position].value()  # type: ignore[attr-defined]
            for position in sorted(p for p in by_position if p[0] == partition)
        ]
        sent_values = [v for _, v, _ in messages if partition_of[v] == partition]
        assert received_values == sent_values


def test_metadata_lists_broker_and_topics(broker) -> None:  # type: ignore[no-untyped-def]
    create_topic(broker.bootstrap, "listed", partitions=2)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    metadata = admin.list_topics(timeout=WAIT_S)
    assert "listed" in metadata.topics
    assert sorted(metadata.topics["listed"].partitions) == [0, 1]
    host, port = broker.bootstrap.rsplit(":", 1)
    assert [(b.host, b.port) for b in metadata.brokers.values()] == [(host, int(port))]
