"""flowlog client vs confluent-kafka: produce and consume throughput of 100-byte values.

    python -m bench.client_bench                      # starts its own flowlog broker
    python -m bench.client_bench --bootstrap 127.0.0.1:9092 --records 200000

Both clients run against the same broker in the same run, each on its own
topic (1 partition), with comparable settings: acks=all, linger 5 ms, 16 KiB
batches, no compression; flowlog is idempotent (its default), librdkafka is
not (its default). Prints msgs/s and MB/s per client and the ratio. Bounded:
every phase has a deadline.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import confluent_kafka
import trio

from flowlog.client import Admin, Consumer, NewTopic, Producer, TopicPartition

VALUE_BYTES = 100
PHASE_TIMEOUT_S = 120


def start_broker(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flowlog", "broker", "--data-dir", data_dir,
         "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        match = re.search(r"flowlog broker ready on (\S+)", line)
        if match:
            # Keep draining the broker's output so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout or ()],
                             daemon=True).start()
            return process, match.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("broker did not start")


async def create_topic(bootstrap: str, name: str) -> None:
    async with Admin(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, num_partitions=1)])


async def flowlog_produce(bootstrap: str, topic: str, count: int) -> float:
    value = b"x" * VALUE_BYTES
    async with Producer(bootstrap, linger_ms=5, batch_size_bytes=16_384) as producer:
        await producer.send_and_wait(topic, value)  # metadata and connection warm
        start = time.perf_counter()
        with trio.fail_after(PHASE_TIMEOUT_S):
            for _ in range(count - 1):
                try:
                    producer.send_nowait(topic, value)
                except trio.WouldBlock:
                    await producer.send(topic, value)
                else:
                    if _ % 1000 == 0:
                        await trio.lowlevel.checkpoint()  # let the sender run
            await producer.flush()
        return time.perf_counter() - start


async def flowlog_consume(bootstrap: str, topic: str, count: int) -> float:
    async with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition(topic, 0)])
        start = time.perf_counter()
        seen = 0
        with trio.fail_after(PHASE_TIMEOUT_S):
            while seen < count:
                batch = await consumer.getmany(max_records=10_000, timeout_ms=1_000)
                seen += sum(len(records) for records in batch.values())
        return time.perf_counter() - start


def confluent_produce(bootstrap: str, topic: str, count: int) -> float:
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 16_384, "acks": "all",
    })
    value = b"x" * VALUE_BYTES
    producer.produce(topic, value)
    producer.flush(30)
    start = time.perf_counter()
    for _ in range(count - 1):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(PHASE_TIMEOUT_S) != 0:
        raise RuntimeError("confluent producer did not flush")
    return time.perf_counter() - start


def confluent_consume(bootstrap: str, topic: str, count: int) -> float:
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    start = time.perf_counter()
    seen = 0
    deadline = start + PHASE_TIMEOUT_S
    while seen < count and time.perf_counter() < deadline:
        for message in consumer.consume(10_000, 1.0):
            if not message.error():
                seen += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    if seen < count:
        raise RuntimeError(f"confluent consumer saw {seen}/{count}")
    return elapsed


def line(name: str, count: int, seconds: float) -> tuple[float, str]:
    rate = count / seconds
    return rate, f"{name:<28} {rate:>10,.0f} msg/s {rate * VALUE_BYTES / 1e6:>7.1f} MB/s"


async def run(bootstrap: str, count: int) -> None:
    ours, theirs = f"bench-flowlog-{uuid.uuid4().hex[:6]}", f"bench-rdk-{uuid.uuid4().hex[:6]}"
    await create_topic(bootstrap, ours)
    await create_topic(bootstrap, theirs)
    results = {
        "flowlog produce": await flowlog_produce(bootstrap, ours, count),
        "confluent-kafka produce": await trio.to_thread.run_sync(
            confluent_produce, bootstrap, theirs, count),
        "flowlog consume": await flowlog_consume(bootstrap, ours, count),
        "confluent-kafka consume": await trio.to_thread.run_sync(
            confluent_consume, bootstrap, theirs, count),
    }
    rates = {}
    print(f"{count:,} records of {VALUE_BYTES} bytes, broker {bootstrap}")
    for name, seconds in results.items():
        rates[name], text = line(name, count, seconds)
        print(text)
    for phase in ("produce", "consume"):
        ratio = rates[f"flowlog {phase}"] / rates[f"confluent-kafka {phase}"]
        print(f"{phase} ratio flowlog / confluent-kafka: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="host:port of a running broker (default: start one)")
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    if args.bootstrap:
        trio.run(run, args.bootstrap, args.records)
        return
    with tempfile.TemporaryDirectory() as data_dir:
        process, bootstrap = start_broker(data_dir)
        try:
            trio.run(run, bootstrap, args.records)
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
