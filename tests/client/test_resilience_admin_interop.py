"""Broker restarts, admin operations, and interop with confluent-kafka (librdkafka)."""

from __future__ import annotations

import confluent_kafka
import pytest
import trio

from flowlog.client import Admin, ConfigResource, Consumer, NewTopic, Producer, TopicPartition
from flowlog.client.errors import (
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicError,
)

from .test_produce_consume import consume_all, create_topic


async def test_producer_survives_broker_restart_without_loss_or_duplicates(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "restart", partitions=2)
    total = 400
    async with Producer(broker.bootstrap, linger_ms=5, retry_backoff_ms=50,
                        request_timeout_ms=5_000) as producer:
        handles = [await producer.send("restart", b"%d" % i, key=b"%d" % i) for i in range(200)]
        await producer.flush()
        broker.kill()
        # Records sent while the broker is down wait and are retried once it is back.
        handles += [await producer.send("restart", b"%d" % i, key=b"%d" % i)
                    for i in range(200, total)]
        await trio.to_thread.run_sync(broker.start)
        with trio.fail_after(60):
            for handle in handles:
                await handle.wait()
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("restart", p) for p in range(2)])
        records = await consume_all(consumer, total)
        extra = await consumer.getmany(timeout_ms=500)
    values = sorted(int(r.value) for r in records)
    assert values == list(range(total)) and not extra


async def test_consumer_resumes_after_broker_restart(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "crestart")
    async with Producer(broker.bootstrap) as producer:
        for i in range(50):
            await producer.send("crestart", b"%d" % i)
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest",
                        request_timeout_ms=5_000, retry_backoff_ms=50) as consumer:
        consumer.assign([TopicPartition("crestart", 0)])
        first = await consume_all(consumer, 50)
        broker.stop()
        await trio.to_thread.run_sync(broker.start)
        async with Producer(broker.bootstrap) as producer:
            for i in range(50, 80):
                await producer.send("crestart", b"%d" % i)
        second = await consume_all(consumer, 30)
    assert [int(r.value) for r in first + second] == list(range(80))


async def test_admin_operations(broker) -> None:  # type: ignore[no-untyped-def]
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([NewTopic("adm", num_partitions=2,
                                            configs={"retention.ms": "3600000"})])
        with pytest.raises(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic("adm")])
        assert "adm" in await admin.list_topics()
        description = (await admin.describe_topics(["adm"]))["adm"]
        assert [p.partition for p in description.partitions] == [0, 1]
        await admin.create_partitions({"adm": 4})
        assert len((await admin.describe_topics(["adm"]))["adm"].partitions) == 4
        with pytest.raises(InvalidPartitionsError):
            await admin.create_partitions({"adm": 2})
        configs = await admin.describe_configs(ConfigResource.topic("adm"))
        assert configs["retention.ms"].value == "3600000"
        await admin.incremental_alter_configs(
            ConfigResource.topic("adm"), set={"retention.ms": "7200000"}
        )
        configs = await admin.describe_configs(ConfigResource.topic("adm"))
        assert configs["retention.ms"].value == "7200000"
        async with Producer(broker.bootstrap) as producer:
            for i in range(10):
                await producer.send("adm", b"%d" % i, partition=0)
        tp = TopicPartition("adm", 0)
        offsets = await admin.list_offsets({tp: "latest"})
        assert offsets[tp][0] == 10
        assert await admin.delete_records({tp: 4}) == {tp: 4}
        assert (await admin.list_offsets({tp: "earliest"}))[tp][0] == 4
        await admin.delete_topics(["adm"])
        with pytest.raises(UnknownTopicError):
            await admin.delete_topics(["adm"])
        assert "adm" not in await admin.list_topics()


def _confluent_consume(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"cg-{topic}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    found = []
    try:
        for _ in range(300):
            message = consumer.poll(0.2)
            if message is None or message.error():
                if len(found) >= count:
                    break
                continue
            found.append((message.partition(), message.key(), message.value(),
                          tuple(message.headers() or ())))
            if len(found) >= count:
                break
    finally:
        consumer.close()
    return found


def _has_group_coordinator(bootstrap: str) -> bool:
    import socket
    import struct

    from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
    from flowlog.protocol.messages.api_versions import ApiVersionsRequest

    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        frame = encode_request(RequestHeader(18, 3, 1, "probe"), ApiVersionsRequest())
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
        _, response = decode_response(18, 3, sock.recv(size, socket.MSG_WAITALL))
    return any(key.api_key == 10 for key in response.api_keys)


async def test_flowlog_producer_to_confluent_consumer(broker) -> None:  # type: ignore[no-untyped-def]
    if not _has_group_coordinator(broker.bootstrap):
        pytest.skip("broker does not advertise FindCoordinator (key 10) yet: "
                    "confluent-kafka's consumer needs a group coordinator")
    await create_topic(broker.bootstrap, "to-rdk", partitions=6)
    keys = [b"key-%d" % i for i in range(60)]
    async with Producer(broker.bootstrap, compression_type="lz4") as producer:
        for key in keys:
            await producer.send("to-rdk", b"v-" + key, key=key, headers={"origin": b"flowlog"})
    found = await trio.to_thread.run_sync(_confluent_consume, broker.bootstrap, "to-rdk", 60)
    assert sorted(k for _p, k, _v, _h in found) == sorted(keys)
    for partition, key, value, headers in found:
        assert partition == _java_partition(key, 6) and value == b"v-" + key
        assert headers == (("origin", b"flowlog"),)


def _java_partition(key: bytes, count: int) -> int:
    from flowlog.protocol.murmur2 import partition_for_key

    return partition_for_key(key, count)


def _confluent_produce(bootstrap: str, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
        "compression.type": "zstd", "linger.ms": 5,
    })
    placed: dict[bytes, int] = {}

    def delivered(error, message) -> None:  # type: ignore[no-untyped-def]
        assert error is None, error
        placed[message.key()] = message.partition()

    for key in keys:
        producer.produce(topic, value=b"v-" + key, key=key, headers=[("origin", b"rdk")],
                         on_delivery=delivered)
    assert producer.flush(30) == 0
    return placed


async def test_confluent_producer_to_flowlog_consumer_same_partitions(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "from-rdk", partitions=12)
    keys = [b"kafka"] + [b"user-%d" % i for i in range(99)]
    placed = await trio.to_thread.run_sync(_confluent_produce, broker.bootstrap, "from-rdk", keys)
    assert placed[b"kafka"] == 4
    async with Producer(broker.bootstrap) as producer:
        for key in keys:
            ours = await producer.send_and_wait("from-rdk", b"flowlog", key=key)
            # flowlog's partitioner agrees with librdkafka's murmur2_random (= Java's).
            assert ours.partition == placed[key]
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("from-rdk", p) for p in range(12)])
        records = await consume_all(consumer, 2 * len(keys))
    from_rdk = [r for r in records if r.value != b"flowlog"]
    assert len(from_rdk) == len(keys)
    for record in from_rdk:
        assert record.partition == placed[record.key] and record.value == b"v-" + record.key
        assert record.headers == (("origin", b"rdk"),)
