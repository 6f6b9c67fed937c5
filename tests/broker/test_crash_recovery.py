"""kill -9 the broker while a producer runs; every acknowledged record is there once."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 2
RUN_S = 4.0


def test_kill_9_loses_no_acknowledged_record(broker) -> None:  # type: ignore[no-untyped-def]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("crash", num_partitions=PARTITIONS)])["crash"].result(30)
    acknowledged: set[bytes] = set()
    stop = threading.Event()

    def produce() -> None:
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 2,
                             "message.timeout.ms": 20_000})

        def on_delivery(error: object, message: object) -> None:
            if error is None:
                acknowledged.add(message.value())  # type: ignore[attr-defined]

        sequence = 0
        deadline = time.monotonic() + RUN_S * 5
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                producer.produce("crash", value=f"m{sequence}".encode(), on_delivery=on_delivery)
                sequence += 1
            except BufferError:
                producer.poll(0.05)
            producer.poll(0)
        producer.flush(30)

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(RUN_S / 2)
    broker.kill()
    time.sleep(0.5)
    broker.start()  # same data dir, same port
    time.sleep(RUN_S / 2)
    stop.set()
    thread.join(60)
    assert acknowledged

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "check",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("crash", p, 0) for p in range(PARTITIONS)])
    seen: list[bytes] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 5:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        seen.append(message.value())
        idle_since = time.monotonic()
    consumer.close()
    assert acknowledged <= set(seen), f"{len(acknowledged - set(seen))} acknowledged records lost"
    assert len(seen) == len(set(seen)), "a record was stored twice"
