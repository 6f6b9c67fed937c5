"""Plain values the client hands out: partitions, records, delivery results."""

from __future__ import annotations

import attrs

NO_TIMESTAMP = -1


@attrs.frozen(slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@attrs.frozen(slots=True)
class RecordMetadata:
    """Where a produced record landed. offset is -1 with acks=0 (nobody told us)."""

    topic: str
    partition: int
    offset: int
    timestamp: int


@attrs.frozen(slots=True)
class ConsumerRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    # 0 CreateTime, 1 LogAppendTime.
    timestamp_type: int = 0

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@attrs.frozen(slots=True)
class OffsetAndMetadata:
    offset: int
    metadata: str = ""


@attrs.frozen(slots=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    error_code: int = 0


@attrs.frozen(slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None
