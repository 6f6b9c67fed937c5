"""RecordCollector on flowlog's Producer: sends without blocking, queues when it would block.

Tasks are plain objects and cannot await; `send()` hands a record to the
producer at once when it can (`send_nowait`), and otherwise keeps it, in
order, until the runtime awaits `drain()` (metadata not known yet, buffer
full). Once a record waits, later ones wait behind it, so order holds.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import trio

from flowlog.client import Producer
from flowlog_streams.errors import StreamsException, TaskFailedError
from flowlog_streams.processor import Headers

# Records kept back before the runtime must drain (bounds memory when the producer is slow).
PENDING_RECORDS_MAX: Final = 10_000

_Pending = tuple[str, bytes | None, bytes | None, Headers, int, int | None]


class ProducerCollector:
    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._send_nowait = producer.send_nowait
        self.pending: deque[_Pending] = deque()
        self._failures_seen = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers,
             timestamp: int, partition: int | None) -> None:
        if not self.pending:
            try:
                self._send_nowait(topic, value, key, headers=headers or None,
                                  partition=partition, timestamp_ms=timestamp)
                return
            except trio.WouldBlock:
                pass
        self.pending.append((topic, key, value, headers, timestamp, partition))

    def must_drain(self) -> bool:
        return len(self.pending) >= PENDING_RECORDS_MAX

    async def drain(self) -> None:
        pending = self.pending
        while pending:
            topic, key, value, headers, timestamp, partition = pending[0]
            await self._producer.send(topic, value, key, headers=headers or None,
                                      partition=partition, timestamp_ms=timestamp)
            pending.popleft()

    async def flush(self) -> None:
        """Everything sent is acknowledged; raises if any record failed for good since the last flush."""
        await self.drain()
        await self._producer.flush()
        failed = self._producer.statistics().records_failed
        if failed != self._failures_seen:
            lost = failed - self._failures_seen
            self._failures_seen = failed
            raise TaskFailedError(
                f"{lost} output record(s) could not be delivered; not committing the input offsets"
            )

    def partition_count(self, topic: str) -> int:
        partitions = self._producer.cluster.topics.get(topic)
        if partitions is None:
            raise StreamsException(f"no metadata for output topic {topic!r}")
        return len(partitions)
