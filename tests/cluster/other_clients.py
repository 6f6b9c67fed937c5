"""Reading a partition from the start with kafka-python, aiokafka and kcat: each
client's own view of a cluster after a failover."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

READ_TIMEOUT_S = 20.0


def read_with_kafka_python(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                             auto_offset_reset="earliest")
    partition = KafkaTopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values: list[bytes] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(values) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    consumer.close()
    return values


def read_with_aiokafka(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            partition = AioTopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            values: list[bytes] = []
            deadline = time.monotonic() + READ_TIMEOUT_S
            while len(values) < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    values.extend(record.value for record in records if record.value is not None)
            return values
        finally:
            await consumer.stop()

    return asyncio.run(read())


def read_with_kcat(bootstrap: str, topic: str) -> list[bytes]:
    kcat = shutil.which("kcat")
    if kcat is None:
        # `make test` installs kcat and sets FLOWLOG_REQUIRE_KCAT: there this fails.
        assert not os.environ.get("FLOWLOG_REQUIRE_KCAT"), "kcat is not installed"
        pytest.skip("kcat is not installed (make test installs it)")
    done = subprocess.run(
        [kcat, "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
         "-f", "%s\\n"],
        capture_output=True, timeout=READ_TIMEOUT_S * 2, check=True,
    )
    return done.stdout.splitlines()
