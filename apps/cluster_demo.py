"""`make cluster-demo`: a three-node cluster keeps serving while its partition leader is killed.

Starts three `flowlog broker` processes on 127.0.0.1 (a Raft controller quorum, each
voter also a broker), creates `demo-orders` (replication factor 3, min.insync.replicas=2),
and runs an idempotent acks=all producer and a consumer (confluent-kafka) side by side.
After a few seconds it kill -9s the partition's leader: the controller sees its
port closed, fences it, elects a new leader from the ISR, and the producer carries on. It prints a line a
second, then the failover time (kill -> first acknowledged record after it), restarts
the killed broker (which truncates, catches up and rejoins the ISR), and checks that
every acknowledged record was consumed exactly once, in order. Data in a temp dir.

    python -m apps.cluster_demo [--seconds S] [--rate R]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.cli.cluster import node_commands, start_node, start_nodes, stop_nodes

TOPIC = "demo-orders"
# Default timeouts: the controller's broker watch fences a killed leader at once.
BROKER_CONFIGS: list[str] = []


class Traffic:
    """The producer's and consumer's running counts (written by their threads)."""

    def __init__(self) -> None:
        self.sent = self.acked = self.errors = 0
        self.acked_values: list[int] = []
        self.sent_at: list[float] = []  # by record number
        self.acked_at: dict[int, float] = {}
        self.consumed: list[int] = []
        self.stop = threading.Event()


def produce(bootstrap: str, rate: float, traffic: Traffic) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 60_000, "log_level": 2})

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            traffic.errors += 1
            return
        traffic.acked += 1
        traffic.acked_values.append(int(message.value()))
        traffic.acked_at[int(message.value())] = time.monotonic()

    n = 0
    while not traffic.stop.is_set():
        traffic.sent_at.append(time.monotonic())
        producer.produce(TOPIC, value=str(n).encode(), key=b"k", on_delivery=delivered)
        traffic.sent += 1
        n += 1
        producer.poll(1.0 / rate)
    producer.flush(60)


def consume(bootstrap: str, traffic: Traffic, until: threading.Event) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cluster-demo",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "log_level": 2})  # the dead broker's connection errors are expected
    consumer.subscribe([TOPIC])
    try:
        while not until.is_set():
            for message in consumer.consume(500, 0.2):
                value = message.value()
                if message.error() is None and value is not None:
                    traffic.consumed.append(int(value))
    finally:
        consumer.close()


def create_topic(admin: AdminClient) -> None:
    future = admin.create_topics(
        [NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})])[TOPIC]
    future.result(15)


def leader_of(admin: AdminClient) -> int:
    metadata = admin.list_topics(TOPIC, timeout=10)
    return int(metadata.topics[TOPIC].partitions[0].leader)


def isr_of(admin: AdminClient) -> list[int]:
    metadata = admin.list_topics(TOPIC, timeout=10)
    return sorted(metadata.topics[TOPIC].partitions[0].isrs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="traffic time (12)")
    parser.add_argument("--rate", type=float, default=200.0, help="records per second (200)")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="flowlog-cluster-demo-"))
    commands, addresses = node_commands(3, data_dir, BROKER_CONFIGS)
    bootstrap = ",".join(addresses)
    print(f"starting three brokers (data in {data_dir}) ...", flush=True)
    processes = start_nodes(commands, data_dir)
    try:
        return run(args, commands, processes, bootstrap, data_dir)
    finally:
        stop_nodes(processes)
        print(f"cluster stopped; the data was in {data_dir}", flush=True)


def run(args: argparse.Namespace, commands: list[list[str]], processes: list[Any],
        bootstrap: str, data_dir: Path) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create_topic(admin)
    time.sleep(1.0)
    print(f"{TOPIC}: replicas on brokers 1-3, leader {leader_of(admin)}, ISR {isr_of(admin)}")
    traffic = Traffic()
    consumed_enough = threading.Event()
    threads = [threading.Thread(target=produce, args=(bootstrap, args.rate, traffic)),
               threading.Thread(target=consume, args=(bootstrap, traffic, consumed_enough))]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    killed_at = None
    victim = 0
    while time.monotonic() - started < args.seconds:
        time.sleep(1.0)
        if killed_at is None and time.monotonic() - started >= args.seconds / 3:
            victim = leader_of(admin)
            processes[victim - 1].kill()
            killed_at = time.monotonic()
            print(f"kill -9 broker {victim}, the leader", flush=True)
        print(f"  sent {traffic.sent:6}  acked {traffic.acked:6}  consumed "
              f"{len(traffic.consumed):6}  errors {traffic.errors}", flush=True)
    traffic.stop.set()
    threads[0].join()
    assert killed_at is not None
    # Failover: from the kill to the first acknowledgement of a record sent after it.
    after = [at for n, at in traffic.acked_at.items() if traffic.sent_at[n] >= killed_at]
    print(f"new leader: broker {leader_of(admin)}, ISR {isr_of(admin)}")
    print(f"restarting broker {victim} ...", flush=True)
    processes[victim - 1], ready = start_node(commands[victim - 1],
                                              data_dir / f"node-{victim}.log")
    ready.wait(30)
    deadline = time.monotonic() + 30
    while len(isr_of(admin)) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"broker {victim} is back; ISR {isr_of(admin)}")
    deadline = time.monotonic() + 30
    while len(traffic.consumed) < traffic.acked and time.monotonic() < deadline:
        time.sleep(0.2)
    consumed_enough.set()
    threads[1].join()
    acked = sorted(traffic.acked_values)
    seen = traffic.consumed
    exact = sorted(set(seen)) == acked and len(seen) == len(set(seen))
    in_order = seen == sorted(seen)
    print(f"acknowledged {len(acked)}, consumed {len(seen)} ({len(set(seen))} distinct), "
          f"delivery errors {traffic.errors}")
    if after:
        print(f"failover: the first record sent after the kill was acknowledged "
              f"{min(after) - killed_at:.2f} s after it")
    else:
        print("failover: no record sent after the kill was acknowledged")
    print(f"every acknowledged record consumed exactly once: {exact}; in order: {in_order}")
    return 0 if exact and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
