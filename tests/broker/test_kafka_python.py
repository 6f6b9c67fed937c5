"""kafka-python against a real `flowlog broker` process (idempotent by default in kp 3)."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

PARTITIONS = 3
TIMEOUT_MS = 30_000
# The dev extras install kafka-python's optional codec packages (snappy, lz4, zstd).
CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_admin_produce_consume(broker, codec: str | None) -> None:  # type: ignore[no-untyped-def]
    topic = f"kp-{codec or 'none'}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    assert topic in admin.list_topics()
    admin.close()

    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
        compression_type=codec, linger_ms=5,
    )
    sent = {}
    for i in range(300):
        metadata = producer.send(
            topic, key=f"k{i % 11}".encode(), value=f"v{i}".encode(),
            headers=[("h", str(i).encode())], timestamp_ms=1_700_000_000_000 + i,
        ).get(timeout=30)
        sent[(metadata.partition, metadata.offset)] = i
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=5_000)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received = {}
    for message in consumer:
        received[(message.partition, message.offset)] = message
        if len(received) == len(sent):
            break
    consumer.close()
    assert set(received) == set(sent)
    for position, i in sent.items():
        message = received[position]
        assert message.key == f"k{i % 11}".encode()
        assert message.value == f"v{i}".encode()
        assert message.headers == [("h", str(i).encode())]
        assert message.timestamp == 1_700_000_000_000 + i
    # Per-partition order: within a partition, offsets follow the order of sending.
    for partition in range(PARTITIONS):
        in_offset_order = [i for (p, _), i in sorted(sent.items()) if p == partition]
        assert in_offset_order == sorted(in_offset_order)
