"""What controller operations take and return: requests, per-item results, the random source.

Every operation returns an OperationResult: the records to append (empty when nothing
changes, or for validate_only) and one result per requested item, in request order.
Resource types and operation codes are plain ints where a client could send anything,
so an unknown one becomes an error result rather than an exception.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Generic, Protocol, TypeVar

import attrs

from flowlog.controller.metadata_records import MetadataRecord
from flowlog.protocol.errors import ErrorCode

ResultT = TypeVar("ResultT", covariant=True)


class RandomSource(Protocol):
    """Randomness passed in (random.Random fits), so the core stays deterministic in tests."""

    def getrandbits(self, k: int, /) -> int: ...


@attrs.frozen
class ControllerDefaults:
    """Broker settings that fill in -1 (\"use the default\") in CreateTopics."""

    num_partitions: int = 1
    default_replication_factor: int = 1


@attrs.frozen
class OperationResult(Generic[ResultT]):
    records: tuple[MetadataRecord, ...]
    results: tuple[ResultT, ...]


class AlterConfigOpType(enum.IntEnum):
    """Kafka's IncrementalAlterConfigs operation codes."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


@attrs.frozen
class NewTopic:
    """One CreateTopics item. -1 means the broker default; `assignments` maps partition
    index -> replicas and, when given, replaces both counts (which must then be -1)."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    assignments: Mapping[int, Sequence[int]] = attrs.field(factory=dict)
    configs: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class CreateTopicResult:
    name: str
    error_code: ErrorCode
    error_message: str | None = None
    topic_id: bytes | None = None
    num_partitions: int = -1
    replication_factor: int = -1


@attrs.frozen
class DeleteTopicResult:
    """Names the topic as the request did: by name (topic_id None) or by id."""

    name: str | None
    topic_id: bytes | None
    error_code: ErrorCode
    error_message: str | None = None


@attrs.frozen
class NewPartitions:
    """Grow topic `name` to `count` partitions; `assignments` lists replicas per new one."""

    name: str
    count: int
    assignments: Sequence[Sequence[int]] | None = None


@attrs.frozen
class CreatePartitionsResult:
    name: str
    error_code: ErrorCode
    error_message: str | None = None


@attrs.frozen
class AlterConfigsResource:
    """AlterConfigs: `configs` becomes the resource's whole set of overrides."""

    resource_type: int
    resource_name: str
    configs: Mapping[str, str]


@attrs.frozen
class AlterConfigOp:
    name: str
    operation: int
    value: str | None = None


@attrs.frozen
class IncrementalAlterConfigsResource:
    resource_type: int
    resource_name: str
    operations: Sequence[AlterConfigOp]


@attrs.frozen
class ConfigResourceResult:
    resource_type: int
    resource_name: str
    error_code: ErrorCode
    error_message: str | None = None


@attrs.frozen
class BrokerResult:
    node_id: int
    error_code: ErrorCode
    error_message: str | None = None


@attrs.frozen
class ProducerIdBlock:
    """Producer ids [first_producer_id, first_producer_id + size) now belong to broker_id."""

    broker_id: int
    error_code: ErrorCode
    error_message: str | None = None
    first_producer_id: int = -1
    size: int = 0


@attrs.frozen
class AlterPartitionItem:
    """A partition leader asks to set the ISR (Kafka's AlterPartition, one partition).

    `leader_epoch` and `partition_epoch` are what the leader last saw: a request built
    on an older view is refused, so concurrent changes never overwrite each other.
    """

    topic_id: bytes
    partition: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]


@attrs.frozen
class AlterPartitionResult:
    """The partition as it is after the request (also on most errors, so the leader can
    resync); `partition_epoch` is the one the next request must carry."""

    topic_id: bytes
    partition: int
    error_code: ErrorCode
    error_message: str | None = None
    leader: int = -1
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()
    partition_epoch: int = -1


@attrs.frozen
class ElectionPolicy:
    """How the controller picks leaders. Unclean: when no ISR member is live, a live
    replica outside the ISR may lead (and records written only to the old ISR are lost)."""

    unclean: bool = False


CLEAN_ELECTION = ElectionPolicy(unclean=False)
