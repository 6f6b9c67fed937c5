"""Producer and Consumer against a real flowlog broker process."""

from __future__ import annotations

import trio

from flowlog.client import (
    Admin,
    Consumer,
    NewTopic,
    Producer,
    TopicPartition,
)
from flowlog.client.config import ClientConfig
from flowlog.client.connection import open_connection
from flowlog.client.errors import (
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    UnsupportedApiError,
)
from flowlog.protocol.messages.metadata import MetadataRequest
from flowlog.protocol.murmur2 import partition_for_key

TIMEOUT_S = 60


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    async with Admin(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, num_partitions=partitions)])


async def consume_all(
    consumer: Consumer, count: int, timeout_ms: int = 20_000
) -> list:  # type: ignore[type-arg]
    records = []
    with trio.fail_after(timeout_ms / 1000):
        while len(records) < count:
            batch = await consumer.getmany(max_records=1000, timeout_ms=1000)
            for partition_records in batch.values():
                records.extend(partition_records)
    return records


async def test_round_trip_keys_headers_timestamps(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "orders", partitions=12)
    async with Producer(broker.bootstrap, linger_ms=2) as producer:
        handle = await producer.send(
            "orders", b"v1", key=b"kafka", headers=[("h1", b"x"), ("h2", None)],
            timestamp_ms=1_700_000_000_000,
        )
        metadata = await handle.wait()
        # Java's murmur2 partitioner: "kafka" over 12 partitions -> 4.
        assert metadata.partition == 4 == partition_for_key(b"kafka", 12)
        assert metadata.offset == 0 and metadata.timestamp == 1_700_000_000_000
        second = await producer.send_and_wait("orders", b"v2", key=b"kafka")
        assert (second.partition, second.offset) == (4, 1)
        assert producer.statistics().producer_id >= 0  # idempotent by default
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("orders", 4)])
        records = await consume_all(consumer, 2)
    first = records[0]
    assert (first.key, first.value, first.offset) == (b"kafka", b"v1", 0)
    assert first.headers == (("h1", b"x"), ("h2", None))
    assert first.timestamp == 1_700_000_000_000
    assert records[1].value == b"v2"


async def test_compression_round_trips(broker) -> None:  # type: ignore[no-untyped-def]
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        topic = f"codec-{codec}"
        async with Producer(broker.bootstrap, compression_type=codec, linger_ms=20) as producer:
            handles = [
                await producer.send(topic, f"value-{i}".encode() * 10, key=str(i).encode())
                for i in range(300)
            ]
            await producer.flush()
            assert all(h.done() for h in handles)
        async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
            partitions = await consumer.partitions_for(topic)
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            records = await consume_all(consumer, 300)
        assert sorted(r.value for r in records) == sorted(
            f"value-{i}".encode() * 10 for i in range(300)
        ), codec


async def test_sticky_partitioning_spreads_null_keys(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "sticky", partitions=4)
    async with Producer(broker.bootstrap, batch_size_bytes=2_000, linger_ms=50) as producer:
        handles = [await producer.send("sticky", b"x" * 100) for _ in range(400)]
        await producer.flush()
    partitions = [h.result().partition for h in handles]
    # Records stick to one partition per batch, then move on: runs, several partitions.
    runs = sum(1 for a, b in zip(partitions, partitions[1:], strict=False) if a != b)
    assert len(set(partitions)) > 1 and runs < 100


async def test_flushing_the_sticky_partition_moves_it_safely(broker) -> None:  # type: ignore[no-untyped-def]
    """flush() seals the sticky partition's batch inside the sender's sweep over its
    partitions, and sealing picks a new sticky partition, often one not seen yet: the
    sweep must not trip over the partition it adds (it once raised RuntimeError)."""
    await create_topic(broker.bootstrap, "sticky-flush", partitions=16)
    async with Producer(broker.bootstrap, linger_ms=1_000) as producer:
        handles = []
        for _ in range(20):
            handles.append(await producer.send("sticky-flush", b"x"))
            await producer.flush()
    partitions = [handle.result().partition for handle in handles]
    assert len(set(partitions)) > 1
    assert all(a != b for a, b in zip(partitions, partitions[1:], strict=False))


async def test_seek_position_pause_resume(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "seek", partitions=1)
    tp = TopicPartition("seek", 0)
    async with Producer(broker.bootstrap) as producer:
        for i in range(100):
            await producer.send("seek", str(i).encode(), timestamp_ms=1_000_000 + i * 10)
    async with Consumer(broker.bootstrap, auto_offset_reset="latest") as consumer:
        consumer.assign([tp])
        assert await consumer.position(tp) == 100
        consumer.seek_to_beginning(tp)
        assert await consumer.position(tp) == 0
        records = await consume_all(consumer, 100)
        assert [r.offset for r in records] == list(range(100))
        consumer.seek(tp, 42)
        batch = await consumer.getmany(max_records=5, timeout_ms=5_000)
        assert [r.offset for r in batch[tp]] == [42, 43, 44, 45, 46]
        assert await consumer.position(tp) == 47
        found = await consumer.seek_to_timestamp({tp: 1_000_000 + 555})
        assert found == {tp: 56}
        assert (await consumer.getone(timeout_ms=5_000)).offset == 56
        consumer.pause(tp)
        assert await consumer.getmany(timeout_ms=300) == {}
        consumer.resume(tp)
        assert (await consumer.getone(timeout_ms=5_000)).offset == 57
        consumer.seek_to_end(tp)
        assert await consumer.position(tp) == 100
        assert await consumer.end_offsets([tp]) == {tp: 100}
        assert await consumer.beginning_offsets([tp]) == {tp: 0}


async def test_offset_out_of_range_reset_policies(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "oor", partitions=1)
    tp = TopicPartition("oor", 0)
    async with Producer(broker.bootstrap) as producer:
        for i in range(10):
            await producer.send("oor", str(i).encode())
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 1_000)
        record = await consumer.getone(timeout_ms=10_000)
        assert record.offset == 0
    async with Consumer(broker.bootstrap, auto_offset_reset="none") as consumer:
        consumer.assign([tp])
        try:
            await consumer.getmany(timeout_ms=5_000)
        except NoOffsetForPartitionError:
            pass
        else:
            raise AssertionError("auto_offset_reset=none must raise without a position")
        consumer.seek(tp, 1_000)
        try:
            with trio.fail_after(10):
                while True:
                    await consumer.getmany(timeout_ms=1_000)
        except OffsetOutOfRangeError:
            pass


async def test_async_iteration_and_pipelined_fetching(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "iter", partitions=3)
    async with Producer(broker.bootstrap, linger_ms=5) as producer:
        for i in range(3_000):
            await producer.send("iter", b"%d" % i, key=b"%d" % (i % 7))
    seen = 0
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest",
                        max_partition_fetch_bytes=4_096) as consumer:
        consumer.assign([TopicPartition("iter", p) for p in range(3)])
        with trio.fail_after(TIMEOUT_S):
            async for _record in consumer:
                seen += 1
                if seen == 3_000:
                    break
        stats = consumer.fetcher.statistics()
    assert stats.fetch_requests > 3  # small fetches: several, issued ahead of consumption


async def test_connection_pipelines_requests_and_rejects_missing_api(broker) -> None:  # type: ignore[no-untyped-def]
    host, port = broker.bootstrap.rsplit(":", 1)
    config = ClientConfig(max_in_flight_requests_per_connection=8)
    async with trio.open_nursery() as nursery:
        connection = await open_connection(nursery, host, int(port), node_id=-1, config=config)
        pendings = [
            connection.submit(3, MetadataRequest(topics=None)) for _ in range(8)
        ]
        assert connection.in_flight == 8 and not connection.has_capacity()
        responses = [await connection.wait_response(p) for p in pendings if p is not None]
        assert len(responses) == 8 and all(r.brokers for r in responses)
        try:
            connection.version_for(27)  # WriteTxnMarkers: never offered to clients
        except UnsupportedApiError as error:
            assert "WriteTxnMarkers" in str(error) or "27" in str(error)
        else:
            raise AssertionError("a missing API must fail clearly")
        connection.close()
        nursery.cancel_scope.cancel()


async def test_many_small_batches_keep_order_and_offsets(broker) -> None:  # type: ignore[no-untyped-def]
    """Records encoded at send time into small batches, several requests in flight."""
    await create_topic(broker.bootstrap, "many-batches")
    count = 3000
    async with Producer(
        broker.bootstrap, linger_ms=50, batch_size_bytes=1024, buffer_memory_bytes=20_000
    ) as producer:
        handles = []
        for index in range(count):
            try:
                handle = producer.send_nowait(
                    "many-batches", b"%d".ljust(60, b".") % index, key=None, partition=0,
                    timestamp_ms=1_000 + index if index % 2 else None,
                    headers={"i": b"%d" % index} if index % 7 == 0 else None,
                )
            except trio.WouldBlock:  # buffer full (or no metadata yet): the blocking path
                handle = await producer.send(
                    "many-batches", b"%d".ljust(60, b".") % index, partition=0,
                    timestamp_ms=1_000 + index if index % 2 else None,
                    headers={"i": b"%d" % index} if index % 7 == 0 else None,
                )
            handles.append(handle)
        assert not handles[-1].done()
        with trio.fail_after(TIMEOUT_S):
            await producer.flush()
        results = [handle.result() for handle in handles]
        assert [r.offset for r in results] == list(range(count))
        assert {(r.topic, r.partition) for r in results} == {("many-batches", 0)}
        assert all(results[i].timestamp == 1_000 + i for i in range(1, count, 2))
        assert handles[5].timestamp == 1_005 and await handles[5] == results[5]
        stats = producer.statistics()
        assert stats.batches_sent > 100 and stats.buffered_records == 0
        assert stats.buffered_bytes == 0
    async with Consumer(broker.bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("many-batches", 0)])
        records = await consume_all(consumer, count)
    assert [r.value for r in records] == [b"%d".ljust(60, b".") % i for i in range(count)]
    assert records[7].headers == (("i", b"7"),) and records[8].headers == ()
    assert records[3].timestamp == 1_003


async def test_linger_zero_sends_each_record(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "linger-zero")
    async with Producer(broker.bootstrap, linger_ms=0) as producer:
        handles = [await producer.send("linger-zero", b"v", key=b"k") for _ in range(5)]
        await producer.flush()
        assert [h.result().offset for h in handles] == [0, 1, 2, 3, 4]
        assert producer.statistics().batches_sent == 5


async def test_pausing_at_any_moment_loses_and_repeats_nothing(broker) -> None:  # type: ignore[no-untyped-def]
    """Pause at every point of a new consumer's start (resetting positions, connecting to the
    leader, first fetch in flight), resume, read: every record arrives once, in order."""
    await create_topic(broker.bootstrap, "pausing", partitions=2)
    count = 400
    async with Producer(broker.bootstrap, linger_ms=2) as producer:
        for index in range(count):
            await producer.send("pausing", b"%d" % index, partition=index % 2)
        await producer.flush()
    tps = [TopicPartition("pausing", 0), TopicPartition("pausing", 1)]
    for delay_steps in range(40):
        async with Consumer(broker.bootstrap, auto_offset_reset="earliest",
                            max_partition_fetch_bytes=2048) as consumer:
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)  # no offset lookup: the first fetch opens the connection
            await trio.sleep(delay_steps * 0.0005)
            consumer.pause(*tps)
            await trio.sleep(0.02)
            consumer.resume(*tps)
            records = await consume_all(consumer, count, timeout_ms=10_000)
        for tp in tps:
            offsets = [r.offset for r in records if r.partition == tp.partition]
            assert offsets == list(range(count // 2)), (delay_steps, tp, offsets[:10])


async def test_read_ahead_stops_at_fetch_buffer_max_records(broker) -> None:  # type: ignore[no-untyped-def]
    await create_topic(broker.bootstrap, "tiny", partitions=1)
    async with Producer(broker.bootstrap, linger_ms=5) as producer:
        for index in range(5_000):
            await producer.send("tiny", b"%d" % index, partition=0)
    tp = TopicPartition("tiny", 0)
    async with Consumer(broker.bootstrap, fetch_buffer_max_records=500,
                        max_partition_fetch_bytes=4_096) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        await trio.sleep(0.5)  # nobody takes records: read-ahead must stop at the bound
        fetched = consumer.fetcher.statistics().records_fetched
        # The bound, plus at most the one fetch that crossed it (4 KiB of tiny records).
        assert 500 <= fetched <= 500 + 600, fetched
        records = await consume_all(consumer, 5_000)
    assert [r.offset for r in records] == list(range(5_000))
