"""`make demo`: a standalone flowlog broker on a temp dir, a few thousand records through it.

Starts `flowlog broker` as a child process on 127.0.0.1 (free port), creates a
topic with confluent-kafka's admin client, produces keyed records with the
idempotent producer, consumes them back from every partition, checks that
nothing is missing, and stops the broker with SIGTERM.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 5_000
PARTITIONS = 3
TOPIC = "page-views"
TIMEOUT_S = 60.0
READY = re.compile(r"flowlog broker ready on (\S+)")


def start_broker(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flowlog", "broker", "--data-dir", data_dir,
         "--listen", "127.0.0.1:0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = READY.search(line)
        if match:
            return process, match.group(1)
    raise SystemExit("the broker exited before it was ready")


def create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS)])[TOPIC].result(TIMEOUT_S)


def produce(bootstrap: str) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "lz4"})
    started = time.perf_counter()
    for number in range(RECORDS):
        user = f"user-{number % 97}"
        page = f"/products/{number % 13}"
        producer.produce(TOPIC, key=user.encode(), value=f"{user} viewed {page}".encode())
        producer.poll(0)
    if producer.flush(TIMEOUT_S) != 0:
        raise SystemExit("some records were not acknowledged")
    return time.perf_counter() - started


def consume(bootstrap: str) -> tuple[Counter[int], float]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    per_partition: Counter[int] = Counter()
    started = time.perf_counter()
    deadline = time.monotonic() + TIMEOUT_S
    while sum(per_partition.values()) < RECORDS and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        per_partition[message.partition()] += 1
    consumer.close()
    return per_partition, time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="flowlog-demo-") as data_dir:
        broker, bootstrap = start_broker(data_dir)
        try:
            print(f"broker ready on {bootstrap} (data dir {data_dir})")
            create_topic(bootstrap)
            print(f"created topic {TOPIC!r} with {PARTITIONS} partitions")
            produce_s = produce(bootstrap)
            print(f"produced {RECORDS} records in {produce_s:.2f} s (idempotent, lz4)")
            per_partition, consume_s = consume(bootstrap)
            total = sum(per_partition.values())
            spread = ", ".join(f"p{p}: {n}" for p, n in sorted(per_partition.items()))
            print(f"consumed {total} records in {consume_s:.2f} s ({spread})")
            if total != RECORDS:
                print(f"MISSING {RECORDS - total} records")
                return 1
            print("every record came back: OK")
        finally:
            broker.terminate()
            broker.wait(30)
        print(f"broker stopped (exit code {broker.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
