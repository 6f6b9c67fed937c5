"""A rolling restart (SIGTERM, start again, next broker) under continuous acks=all
production: controlled shutdowns move leadership first, so no record fails and every
acknowledged one is there, once, in order."""

from __future__ import annotations

import threading
import time
from typing import Any

from cluster_helpers import FAST_CLUSTER, brokers_output_on_failure, topic_layout, wait_for
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "rolling"
PARTITIONS = 3
# Bounded: the producer stops at this count or when the restarts are done.
RECORDS_MAX = 200_000


class _Traffic:
    """An idempotent acks=all producer on its own thread, paced to about 500 msg/s."""

    def __init__(self, bootstrap: str) -> None:
        self.acked: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                   "enable.idempotence": True, "linger.ms": 5,
                                   "message.timeout.ms": 60000})
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is None:
            self.acked[message.partition()].append(message.value())
        else:
            self.failures.append(str(error))

    def _run(self) -> None:
        for number in range(RECORDS_MAX):
            if self._stop.is_set():
                break
            self._producer.produce(TOPIC, value=b"r%07d" % number, partition=number % PARTITIONS,
                                   on_delivery=self._delivered)
            self._producer.poll(0.002)
        self._producer.flush(60)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(90)

    def total(self) -> int:
        return sum(len(values) for values in self.acked.values())


def _read_partition(bootstrap: str, partition: int, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, partition, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(values) < expected:
        for message in consumer.consume(1000, 0.5):
            if message.error() is None:
                values.append(message.value())
    consumer.close()
    return values


def test_a_rolling_restart_loses_no_availability(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    # Sessions are long: only controlled shutdowns move leadership in time.
    cluster = cluster_factory(3, {**FAST_CLUSTER, "broker.session.timeout.ms": "30000"})
    with brokers_output_on_failure(cluster):
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        (future,) = admin.create_topics(
            [NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})]).values()
        future.result(timeout=15)
        full_isr = lambda: (layout := topic_layout(cluster.bootstrap, TOPIC)) and all(  # noqa: E731
            len(isr) == 3 for _, _, isr in layout.values())
        wait_for("a full ISR", full_isr)

        traffic = _Traffic(cluster.bootstrap)
        traffic.start()
        try:
            for node_id, broker in cluster.brokers.items():
                before = traffic.total()
                wait_for("records flowing", lambda before=before: traffic.total() > before + 100)
                assert broker.stop() == 0, f"broker {node_id} did not stop cleanly"
                assert "controlled shutdown done" in "".join(broker.output)
                broker.start()
                wait_for(f"broker {node_id} back in every ISR", full_isr, timeout_s=30)
            before = traffic.total()
            wait_for("records flowing at the end", lambda: traffic.total() > before + 100)
        finally:
            traffic.stop()

        print(f"{traffic.total()} records acknowledged across the restarts")
        assert traffic.failures == [], traffic.failures[:5]
        for partition, acked in traffic.acked.items():
            assert _read_partition(cluster.bootstrap, partition, len(acked)) == acked
