"""Background fetching: one task per leader broker, filling a bounded buffer of decoded chunks.

Each assigned partition has a *position* (next offset the application gets)
and a *fetch offset* (next offset to ask the broker for). The fetch offset runs
ahead of the position: while the application works through one chunk, the
next Fetch is already in flight (pipelining), up to fetch_buffer_max_chunks
(and fetch_buffer_max_records decoded records)
buffered chunks per consumer. A seek or pause bumps the partition's epoch, so
chunks and responses fetched for the old position are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

import attrs
import trio

from flowlog.client.cluster import Cluster
from flowlog.client.config import ConsumerConfig
from flowlog.client.errors import (
    KafkaError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    error_for_code,
)
from flowlog.client.offsets import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    READ_COMMITTED,
    READ_UNCOMMITTED,
    list_offsets,
)
from flowlog.client.types import ConsumerRecord, TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.record_batch import InvalidBatchError, iter_batch_spans, parse_header
from flowlog.protocol.records import decode_batch, decode_batch_fields, parse_control_record

FETCH_KEY: Final = 1
RESET_EARLIEST: Final = "earliest"
RESET_LATEST: Final = "latest"
RESET_NONE: Final = "none"
# Position to be read from the group's committed offsets (set by the group member).
RESET_COMMITTED: Final = "committed"
_RESET_TIMESTAMPS: Final = {RESET_EARLIEST: EARLIEST_TIMESTAMP, RESET_LATEST: LATEST_TIMESTAMP}
_METADATA_ERRORS: Final = frozenset({
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.FENCED_LEADER_EPOCH,
    ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.REPLICA_NOT_AVAILABLE,
    ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.UNKNOWN_TOPIC_ID,
})


class PartitionState:
    __slots__ = ("position", "fetch_offset", "reset", "paused", "epoch", "in_flight",
                 "high_watermark", "error")

    def __init__(self, reset: str | None) -> None:
        self.position: int | None = None
        self.fetch_offset: int | None = None
        self.reset = reset
        self.paused = False
        self.epoch = 0
        self.in_flight = False
        self.high_watermark = -1
        self.error: KafkaError | None = None

    def seek(self, offset: int) -> None:
        self.position = offset
        self.fetch_offset = offset
        self.reset = None
        self.error = None
        self.epoch += 1

    def fetchable(self) -> bool:
        return (
            not self.paused and self.fetch_offset is not None and not self.in_flight
            and self.error is None
        )


@attrs.define(slots=True)
class Chunk:
    tp: TopicPartition
    epoch: int
    records: list[ConsumerRecord]
    next_fetch_offset: int
    index: int = 0


@attrs.define
class FetcherStatistics:
    fetch_requests: int = 0
    fetch_errors: int = 0
    records_fetched: int = 0
    bytes_fetched: int = 0
    buffered_chunks: int = 0
    fetcher_tasks: int = 0


class Fetcher:
    def __init__(self, cluster: Cluster, config: ConsumerConfig, nursery: trio.Nursery) -> None:
        self._cluster = cluster
        self._config = config
        self._nursery = nursery
        self.states: dict[TopicPartition, PartitionState] = {}
        self.buffer: deque[Chunk] = deque()
        self._tasks: set[int] = set()
        self._changed = trio.Event()
        self.data_ready = trio.Event()
        self._refreshing = False
        self._isolation = READ_COMMITTED if config.isolation_level == "read_committed" else (
            READ_UNCOMMITTED
        )
        self._stats = FetcherStatistics()
        # Called before resetting positions of RESET_COMMITTED partitions (group mode).
        self.committed_loader: Callable[[list[TopicPartition]], Any] | None = None

    def statistics(self) -> FetcherStatistics:
        return attrs.evolve(
            self._stats, buffered_chunks=len(self.buffer), fetcher_tasks=len(self._tasks)
        )

    # ---------------------------------------------------------------- state changes

    def notify(self) -> None:
        """Wake the fetch tasks and start any that a (new) leader needs."""
        self._changed.set()
        self._changed = trio.Event()
        self._ensure_tasks()

    def _ensure_tasks(self) -> None:
        missing_leader = False
        for tp in self.states:
            leader = self._cluster.leader_for(tp)
            if leader is None:
                missing_leader = True
            elif leader not in self._tasks:
                self._tasks.add(leader)
                self._nursery.start_soon(self._fetch_loop, leader)
        if missing_leader or (self.states and self._cluster.metadata_needs_refresh()):
            self._start_refresh()

    def _start_refresh(self) -> None:
        if self._refreshing:
            return
        self._refreshing = True
        self._nursery.start_soon(self._refresh)

    async def _refresh(self) -> None:
        try:
            topics = {tp.topic for tp in self.states}
            await self._cluster.with_retries(
                lambda: self._cluster.refresh_metadata(topics), what="consumer metadata"
            )
        except KafkaError:
            pass
        finally:
            self._refreshing = False
        if any(self._cluster.leader_for(tp) is None for tp in self.states):
            # Leaders still unknown (topic being created, election): back off, then again.
            await trio.sleep(self._cluster.backoff_s(2))
        self.notify()

    def assign(self, partitions: set[TopicPartition], reset: str | None) -> None:
        for tp in list(self.states):
            if tp not in partitions:
                del self.states[tp]
        for tp in partitions:
            if tp not in self.states:
                self.states[tp] = PartitionState(reset or self._config.auto_offset_reset)
        self.buffer = deque(chunk for chunk in self.buffer if chunk.tp in partitions)
        self._cluster.add_topics(tp.topic for tp in partitions)
        self.notify()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def buffer_full(self) -> bool:
        """Read-ahead is at its bound: in chunks, or in decoded records not yet taken."""
        buffer = self.buffer
        if len(buffer) >= self._config.fetch_buffer_max_chunks:
            return True
        untaken = sum(len(chunk.records) - chunk.index for chunk in buffer)
        return untaken >= self._config.fetch_buffer_max_records

    def drop_buffered(self, tp: TopicPartition) -> None:
        self.buffer = deque(chunk for chunk in self.buffer if chunk.tp != tp)

    # ---------------------------------------------------------------- the loop

    async def _fetch_loop(self, node_id: int) -> None:
        attempt = 0
        try:
            while True:
                changed = self._changed
                mine = [tp for tp in self.states if self._cluster.leader_for(tp) == node_id]
                if not mine:
                    return
                to_reset = [tp for tp in mine if self.states[tp].fetch_offset is None
                            and self.states[tp].error is None]
                try:
                    if to_reset:
                        await self._reset_positions(to_reset)
                        self.notify()
                        continue
                    fetchable = [tp for tp in mine if self.states[tp].fetchable()]
                    if not fetchable or self.buffer_full():
                        await changed.wait()
                        continue
                    await self._fetch(node_id, fetchable)
                    attempt = 0
                except KafkaError as error:
                    self._stats.fetch_errors += 1
                    self._cluster.note_error(error)
                    if not error.retriable:
                        for tp in to_reset or mine:
                            if tp in self.states:
                                self.states[tp].error = error
                        self.data_ready.set()
                    await trio.sleep(self._cluster.backoff_s(attempt))
                    attempt += 1
                    self._ensure_tasks()
        finally:
            self._tasks.discard(node_id)

    async def _reset_positions(self, partitions: list[TopicPartition]) -> None:
        committed = [tp for tp in partitions if self.states[tp].reset == RESET_COMMITTED]
        if committed and self.committed_loader is not None:
            await self.committed_loader(committed)
        wanted: dict[TopicPartition, int] = {}
        for tp in partitions:
            state = self.states.get(tp)
            if state is None or state.fetch_offset is not None:
                continue
            strategy = state.reset or self._config.auto_offset_reset
            if strategy == RESET_COMMITTED:
                strategy = self._config.auto_offset_reset
            if strategy not in _RESET_TIMESTAMPS:
                state.error = NoOffsetForPartitionError(
                    f"{tp} has no position and auto_offset_reset is {strategy!r}"
                )
                self.data_ready.set()
                continue
            wanted[tp] = _RESET_TIMESTAMPS[strategy]
        if not wanted:
            return
        epochs = {tp: self.states[tp].epoch for tp in wanted}
        found = await list_offsets(self._cluster, wanted, isolation_level=self._isolation)
        for tp, (offset, _timestamp) in found.items():
            state = self.states.get(tp)
            if state is not None and state.epoch == epochs[tp] and state.fetch_offset is None:
                state.seek(offset)

    async def _fetch(self, node_id: int, partitions: list[TopicPartition]) -> None:
        connection = await self._cluster.connection(node_id)
        # Connecting may have yielded: a partition paused, sought or revoked meanwhile must
        # not be fetched with its new epoch (its records would be taken for current ones).
        partitions = [tp for tp in partitions if tp in self.states and self.states[tp].fetchable()]
        if not partitions:
            return
        sent: dict[TopicPartition, tuple[int, int]] = {}
        topics: dict[str, list[Any]] = {}
        for tp in partitions:
            state = self.states[tp]
            assert state.fetch_offset is not None
            sent[tp] = (state.epoch, state.fetch_offset)
            state.in_flight = True
            topics.setdefault(tp.topic, []).append(FetchRequest.FetchPartition(
                partition=tp.partition,
                fetch_offset=state.fetch_offset,
                partition_max_bytes=self._config.max_partition_fetch_bytes,
            ))
        request = FetchRequest(
            replica_id=-1,
            max_wait_ms=self._config.fetch_max_wait_ms,
            min_bytes=self._config.fetch_min_bytes,
            max_bytes=self._config.fetch_max_bytes,
            isolation_level=self._isolation,
            session_id=0,
            session_epoch=-1,
            topics=[FetchRequest.FetchTopic(topic=name, partitions=parts)
                    for name, parts in topics.items()],
        )
        self._stats.fetch_requests += 1
        try:
            response = await connection.request(
                FETCH_KEY, request,
                timeout_ms=self._config.request_timeout_ms + self._config.fetch_max_wait_ms,
            )
        finally:
            for tp in partitions:
                if tp in self.states:
                    self.states[tp].in_flight = False
        if response.error_code:
            raise error_for_code(response.error_code, "fetch")
        for topic in response.responses:
            for partition in topic.partitions:
                tp = TopicPartition(topic.topic, partition.partition_index)
                if tp in sent:
                    self._handle_partition(tp, sent[tp], partition)
        self.notify()

    def _handle_partition(
        self, tp: TopicPartition, sent: tuple[int, int], partition: Any
    ) -> None:
        state = self.states.get(tp)
        epoch, fetch_offset = sent
        if (state is None or state.epoch != epoch or state.fetch_offset != fetch_offset
                or state.paused):
            return  # sought or paused meanwhile: fetched again from the position later
        code = partition.error_code
        if code == ErrorCode.NONE:
            state.high_watermark = partition.high_watermark
            records, next_offset = decode_chunk(
                tp, partition.records, fetch_offset, partition.aborted_transactions
            )
            self._stats.bytes_fetched += len(partition.records or b"")
            if next_offset > fetch_offset:
                state.fetch_offset = next_offset
                self._stats.records_fetched += len(records)
                self.buffer.append(Chunk(tp, epoch, records, next_offset))
                self.data_ready.set()
        elif code == ErrorCode.OFFSET_OUT_OF_RANGE:
            strategy = self._config.auto_offset_reset
            if strategy in _RESET_TIMESTAMPS:
                state.position = state.fetch_offset = None
                state.reset = strategy
                state.epoch += 1
                self.drop_buffered(tp)
            else:
                state.error = OffsetOutOfRangeError(
                    f"{tp}: offset {fetch_offset} is out of range and auto_offset_reset is 'none'"
                )
                self.data_ready.set()
        elif code in _METADATA_ERRORS:
            self._cluster.invalidate_metadata()
            self._start_refresh()
        else:
            state.error = error_for_code(code, str(tp))
            self.data_ready.set()


def decode_chunk(
    tp: TopicPartition,
    blob: bytes | memoryview | None,
    fetch_offset: int,
    aborted_transactions: list[Any] | None,
) -> tuple[list[ConsumerRecord], int]:
    """Records at or after fetch_offset and the next offset to fetch.

    Control batches are skipped; with read_committed, batches of aborted
    transactions (from the response's aborted_transactions list) are skipped
    until their abort marker.
    """
    if not blob:
        return [], fetch_offset
    records: list[ConsumerRecord] = []
    next_offset = fetch_offset
    aborted = sorted((t.first_offset, t.producer_id) for t in aborted_transactions or ())
    aborting: set[int] = set()
    topic, partition = tp.topic, tp.partition
    new = tuple.__new__
    for start, size in iter_batch_spans(blob):
        view = memoryview(blob)[start : start + size]
        header = parse_header(view)
        while aborted and aborted[0][0] <= header.base_offset + header.last_offset_delta:
            aborting.add(aborted.pop(0)[1])
        if header.next_offset <= fetch_offset:
            continue
        next_offset = header.next_offset
        if header.is_control:
            if header.producer_id in aborting:
                _header, control = decode_batch(view)
                if control and not parse_control_record(control[0])[0]:
                    aborting.discard(header.producer_id)
            continue
        if header.is_transactional and header.producer_id in aborting:
            continue
        try:
            _header, decoded = decode_batch_fields(view)  # checks the CRC
        except InvalidBatchError as error:
            raise error_for_code(ErrorCode.CORRUPT_MESSAGE, f"{tp}: {error}") from error
        # ConsumerRecord's tuple layout is the decoded fields then this suffix:
        # one concatenation and one tuple.__new__ per record, no Python call.
        suffix = (topic, partition, 1 if header.is_log_append_time else 0)
        if decoded and decoded[0][0] < fetch_offset:
            decoded = [fields for fields in decoded if fields[0] >= fetch_offset]
        records.extend([new(ConsumerRecord, fields + suffix) for fields in decoded])
    return records, next_offset
