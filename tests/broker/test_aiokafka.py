"""aiokafka (asyncio) against a real `flowlog broker` process."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

PARTITIONS = 2
CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


async def _round_trip(bootstrap: str, topic: str, codec: str | None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, compression_type=codec)
    await producer.start()
    sent = {}
    try:
        for i in range(200):
            metadata = await producer.send_and_wait(
                topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode(),
                headers=[("h", str(i).encode())], timestamp_ms=1_700_000_000_000 + i,
            )
            sent[(metadata.partition, metadata.offset)] = i
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    received = {}
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(30):
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=1000)
                for messages in batch.values():
                    for message in messages:
                        received[(message.partition, message.offset)] = message
    finally:
        await consumer.stop()
    assert set(received) == set(sent)
    for position, i in sent.items():
        assert received[position].value == f"v{i}".encode()
        assert received[position].key == f"k{i % 7}".encode()
        assert list(received[position].headers) == [("h", str(i).encode())]
        assert received[position].timestamp == 1_700_000_000_000 + i
    # Per-partition order: within a partition, offsets follow the order of sending.
    for partition in range(PARTITIONS):
        in_offset_order = [i for (p, _), i in sorted(sent.items()) if p == partition]
        assert in_offset_order == sorted(in_offset_order)


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_round_trip(broker, codec: str | None) -> None:  # type: ignore[no-untyped-def]
    # aiokafka runs on asyncio; the test drives its own loop (pytest-trio owns async tests).
    asyncio.run(_round_trip(broker.bootstrap, f"aio-{codec or 'none'}", codec))
