"""Plain values the client hands out: partitions, records, delivery results."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import attrs

NO_TIMESTAMP = -1


# The hash is cached: partitions key the client's and the streams runtime's hot dicts.
@attrs.frozen(slots=True, order=True, cache_hash=True)
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


_CONSUMER_RECORD_FIELDS = (
    "topic", "partition", "offset", "timestamp", "key", "value", "headers", "timestamp_type",
)
# Where each field sits in the tuple: the record fields first, in the order
# records.decode_batch_fields yields them, so the fetcher builds one with a
# single tuple concatenation.
_CONSUMER_RECORD_INDEX = {
    "offset": 0, "timestamp": 1, "key": 2, "value": 3, "headers": 4,
    "topic": 5, "partition": 6, "timestamp_type": 7,
}


class ConsumerRecord(tuple[Any, ...]):
    """One consumed record: immutable, compared and hashed by value, like a frozen attrs class.

    Backed by a tuple (as a NamedTuple is) so the fetcher can build one per
    record with a single C call (tuple.__new__); the tuple layout is private.
    Equal only to another ConsumerRecord, not to plain tuples.
    """

    __slots__ = ()
    __match_args__ = (
        "topic", "partition", "offset", "timestamp", "key", "value", "headers", "timestamp_type",
    )

    if TYPE_CHECKING:
        topic: str
        partition: int
        offset: int
        timestamp: int
        key: bytes | None
        value: bytes | None
        headers: tuple[tuple[str, bytes | None], ...]
        # 0 CreateTime, 1 LogAppendTime.
        timestamp_type: int

    def __new__(
        cls,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes | None], ...] = (),
        timestamp_type: int = 0,
    ) -> ConsumerRecord:
        return tuple.__new__(
            cls, (offset, timestamp, key, value, headers, topic, partition, timestamp_type)
        )

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _CONSUMER_RECORD_FIELDS)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _CONSUMER_RECORD_FIELDS)
        return f"ConsumerRecord({fields})"

    # A plain tuple's reflected __eq__ would compare by items: answer it here.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return False if isinstance(other, tuple) else NotImplemented
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return True if isinstance(other, tuple) else NotImplemented
        return tuple.__ne__(self, other)

    __hash__ = tuple.__hash__

    # Not ordered (nor a sequence to compare), as the attrs class was not.
    def __lt__(self, other: object) -> bool:
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()


for _name, _index in _CONSUMER_RECORD_INDEX.items():
    setattr(ConsumerRecord, _name, property(operator.itemgetter(_index)))
del _name, _index


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
