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

from flowlog.client import DeliveryHandle, Producer
from flowlog_streams.errors import StreamsException, TaskFailedError
from flowlog_streams.processor import Headers

# Records kept back before the runtime must drain (bounds memory when the producer is slow).
PENDING_RECORDS_MAX: Final = 10_000

# topic, key, value, headers, timestamp, partition, track (a changelog record: keep its handle)
_Pending = tuple[str, bytes | None, bytes | None, Headers, int, int | None, bool]


class ProducerCollector:
    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._send_nowait = producer.send_nowait
        self.pending: deque[_Pending] = deque()
        self._failures_seen = 0
        # The last changelog record sent per (topic, partition): its offset is the checkpoint.
        self._last_changelog: dict[tuple[str, int], DeliveryHandle] = {}

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers,
             timestamp: int, partition: int | None) -> None:
        if not self.pending:
            try:
                self._send_nowait(topic, value, key, headers=headers or None,
                                  partition=partition, timestamp_ms=timestamp)
                return
            except trio.WouldBlock:
                pass
        self.pending.append((topic, key, value, headers, timestamp, partition, False))

    def send_changelog(self, topic: str, partition: int, key: bytes, value: bytes | None,
                       timestamp: int) -> None:
        if not self.pending:
            try:
                self._last_changelog[(topic, partition)] = self._send_nowait(
                    topic, value, key, partition=partition, timestamp_ms=timestamp
                )
                return
            except trio.WouldBlock:
                pass
        self.pending.append((topic, key, value, (), timestamp, partition, True))

    def changelog_offset(self, topic: str, partition: int) -> int | None:
        handle = self._last_changelog.get((topic, partition))
        if handle is None or not handle.done():
            return None
        return handle.result().offset

    def must_drain(self) -> bool:
        return len(self.pending) >= PENDING_RECORDS_MAX

    async def drain(self) -> None:
        pending = self.pending
        while pending:
            topic, key, value, headers, timestamp, partition, track = pending[0]
            handle = await self._producer.send(topic, value, key, headers=headers or None,
                                               partition=partition, timestamp_ms=timestamp)
            if track:
                self._last_changelog[(topic, partition)] = handle  # type: ignore[index]
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
