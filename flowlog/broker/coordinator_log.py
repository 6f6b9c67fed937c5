"""__consumer_offsets: the compacted topic that makes group state survive a restart.

The coordinator appends each Persist effect as record batches through the
leader's Partition.append path (it then waits for the high watermark to pass
them before answering) and, when it becomes a partition's leader, replays that
partition in log order into a fresh GroupManager. Record keys and values are
group_records' format.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import attrs
import trio.lowlevel

from flowlog.broker import group_records
from flowlog.broker.cluster import ClusterMetadata
from flowlog.broker.group_core import GroupManager, partition_for
from flowlog.broker.group_types import Persist
from flowlog.broker.replica_manager import ReplicaManager
from flowlog.controller.controller_api import NewTopic
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.record_batch import InvalidBatchError, iter_batch_spans, parse_header
from flowlog.protocol.records import Record, build_batch, decode_batch
from flowlog.storage.log import PartitionLog

log = logging.getLogger(__name__)

OFFSETS_TOPIC = group_records.OFFSETS_TOPIC
# Kafka's offsets.topic.segment.bytes default: fewer, larger segments for a busy topic.
OFFSETS_TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": str(100 * 1024 * 1024)}
# Records per appended batch: keeps a DeleteGroups of a huge group under max.message.bytes.
RECORDS_PER_BATCH_MAX = 1_000
# Bytes read per step while replaying.
REPLAY_READ_BYTES = 1024 * 1024


@attrs.frozen
class Appended:
    """Where a group write went: the partition's leader epoch and log end after it
    (the high watermark must pass that end before the write is acknowledged)."""

    index: int
    error: ErrorCode
    leader_epoch: int = -1
    end_offset: int = -1


class OffsetsTopicError(RuntimeError):
    """__consumer_offsets could not be created."""


class OffsetsLog:
    def __init__(
        self,
        metadata: ClusterMetadata,
        replicas: ReplicaManager,
        partitions_when_created: int,
        replication_factor_when_created: int = 1,
    ) -> None:
        self._metadata = metadata
        self._replicas = replicas
        self.partition_count = partitions_when_created
        self.replication_factor = replication_factor_when_created

    async def ensure_topic(self) -> None:
        """Create the topic if missing; an existing one keeps its partition count.

        The replication factor is offsets.topic.replication.factor, but at most the
        brokers live right now (Kafka would refuse; a small dev cluster should work)."""
        topic = self._metadata.state.topic_by_name(OFFSETS_TOPIC)
        if topic is None:
            live = len(self._metadata.state.live_broker_ids())
            (result,) = await self._metadata.create_topics([
                NewTopic(
                    name=OFFSETS_TOPIC,
                    num_partitions=self.partition_count,
                    replication_factor=max(1, min(self.replication_factor, live)),
                    configs=OFFSETS_TOPIC_CONFIGS,
                )
            ])
            if result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
                self.refresh_partition_count()
                return
            if result.error_code != ErrorCode.NONE:
                raise OffsetsTopicError(
                    f"cannot create {OFFSETS_TOPIC}: {result.error_code.name} "
                    f"{result.error_message or ''}"
                )
            log.info("created %s with %d partitions", OFFSETS_TOPIC, self.partition_count)
            return
        self.refresh_partition_count()

    def refresh_partition_count(self) -> None:
        topic = self._metadata.state.topic_by_name(OFFSETS_TOPIC)
        if topic is not None:
            self.partition_count = len(self._metadata.state.partitions(topic.topic_id))

    def partition_of(self, group_id: str) -> int:
        return partition_for(group_id, self.partition_count)

    def append(self, persist: Persist, now_ms: int) -> Appended:
        """Append the effect's records to the group's partition as its leader."""
        index = self.partition_of(persist.group_id)
        partition = self._replicas.get(OFFSETS_TOPIC, index)
        if partition is None:
            log.error("%s partition of group %r is not here", OFFSETS_TOPIC, persist.group_id)
            return Appended(index, ErrorCode.NOT_LEADER_OR_FOLLOWER)
        for chunk in _chunks(persist.records, RECORDS_PER_BATCH_MAX):
            batch = build_batch([
                Record(offset=position, timestamp=now_ms, key=record.key, value=record.value)
                for position, record in enumerate(chunk)
            ])
            outcome = partition.append(batch, now_ms)
            if outcome.error != ErrorCode.NONE:
                log.error(
                    "appending group %r to %s-%d failed: %s %s",
                    persist.group_id, OFFSETS_TOPIC, partition.index,
                    outcome.error.name, outcome.message or "",
                )
                return Appended(index, outcome.error)
        leader = partition.leader_core
        epoch = leader.leader_epoch if leader is not None else partition.leader_epoch
        return Appended(index, ErrorCode.NONE, epoch, partition.log.log_end_offset)

    async def replay_partition(self, index: int, manager: GroupManager, now_ms: int) -> int:
        """Feed one partition, in log order up to its end, to `manager`; returns the
        records read. Yields to other tasks between reads: a big partition must not
        stall the broker (its groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile)."""
        partition = self._replicas.get(OFFSETS_TOPIC, index)
        if partition is None:
            return 0
        count = 0
        name = f"{OFFSETS_TOPIC}-{index}"
        for records in _record_chunks(partition.log, name):
            for record in records:
                if record.key is None:
                    continue
                try:
                    manager.replay(record.key, record.value, now_ms)
                except group_records.CorruptGroupRecord as error:
                    log.warning("skipping a bad record at %s offset %d: %s",
                                name, record.offset, error)
                count += 1
            await trio.lowlevel.checkpoint()
        return count


def _chunks(items: Sequence[group_records.Record], size: int) -> Iterator[Sequence[group_records.Record]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _record_chunks(partition_log: PartitionLog, name: str) -> Iterator[list[Record]]:
    """Every record from the log start to the end, one read (REPLAY_READ_BYTES) at a time."""
    offset = partition_log.log_start_offset
    end = partition_log.log_end_offset
    while offset < end:
        data = partition_log.read(offset, REPLAY_READ_BYTES)
        spans = iter_batch_spans(data)
        if not spans:
            log.warning("%s: no whole batch at offset %d; replay stops there", name, offset)
            return
        chunk: list[Record] = []
        for start, size in spans:
            # Offsets come from the header: a batch whose records do not decode is skipped.
            header = parse_header(data, start)
            offset = max(header.base_offset + header.last_offset_delta + 1, offset + 1)
            try:
                _, records = decode_batch(data[start:start + size])
            except InvalidBatchError as error:
                log.warning("%s: skipping a bad batch at offset %d: %s",
                            name, header.base_offset, error)
                continue
            chunk.extend(records)
        yield chunk
