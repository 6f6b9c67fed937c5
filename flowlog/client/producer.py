"""The producer: per-partition accumulators, one sender task, idempotent by default.

    async with Producer("127.0.0.1:9092", linger_ms=5) as producer:
        handle = await producer.send("events", b"value", key=b"user-1")
        metadata = await handle.wait()          # RecordMetadata(topic, partition, offset, ...)
        await producer.send_and_wait("events", b"other")

Flow: send() picks a partition (murmur2 for keys, sticky for null keys),
appends the record to that partition's open batch and returns a
DeliveryHandle. The sender task seals a batch when it reaches
batch_size_bytes, when linger_ms has passed, or on flush, then sends ready
batches (one per partition) in one Produce request per leader, without
waiting for earlier responses (at most max_in_flight_requests_per_connection
requests per connection, 5 by default as Kafka requires for idempotent order).

Idempotence: InitProducerId gives (producer id, epoch); each partition's
batches carry consecutive sequence numbers assigned when first sent and kept
across retries, so a retried batch the broker already has is answered as a
duplicate with its original offset. After a retriable failure the partition
stops sending, waits for its other in-flight batches (which then fail with
OUT_OF_ORDER_SEQUENCE_NUMBER, also retried) and resends all of them in
sequence order. A batch that fails for good breaks the sequence, so the
producer gets a new producer id and renumbers what it still holds.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import trio

from flowlog.client.cluster import Cluster
from flowlog.client.config import ProducerConfig, build_config
from flowlog.client.connection import BrokerConnection, PendingRequest
from flowlog.client.errors import (
    ClientClosedError,
    ConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    MessageTooLargeError,
    UnknownTopicError,
    error_for_code,
    raise_for_code,
)
from flowlog.client.types import RecordMetadata, TopicPartition
from flowlog.protocol.compression import Compression
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.init_producer_id import InitProducerIdRequest
from flowlog.protocol.messages.produce import ProduceRequest
from flowlog.protocol.murmur2 import partition_for_key
from flowlog.protocol.records import Record, build_batch

PRODUCE_KEY: Final = 0
INIT_PRODUCER_ID_KEY: Final = 22
# Kafka's limit for idempotent ordering: batches of one partition in flight at once.
MAX_IN_FLIGHT_BATCHES_PER_PARTITION: Final = 5
# Per-record overhead in the accumulator's size estimate (varints, attributes, deltas).
RECORD_OVERHEAD_BYTES: Final = 21
BATCH_OVERHEAD_BYTES: Final = 61
SEQUENCE_MODULUS: Final = 1 << 31

Headers = Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None


class DeliveryHandle:
    """The outcome of one send(): `await handle.wait()` (or `await handle`) -> RecordMetadata."""

    __slots__ = ("topic", "partition", "timestamp", "_event", "_metadata", "_error")

    def __init__(self, topic: str, partition: int, timestamp: int) -> None:
        self.topic = topic
        self.partition = partition
        self.timestamp = timestamp
        self._event = trio.Event()
        self._metadata: RecordMetadata | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._event.is_set()

    def result(self) -> RecordMetadata:
        """The metadata now; raises the delivery error, or RuntimeError if not done yet."""
        if not self._event.is_set():
            raise RuntimeError("the record is not delivered yet; await wait()")
        if self._error is not None:
            raise self._error
        assert self._metadata is not None
        return self._metadata

    async def wait(self) -> RecordMetadata:
        await self._event.wait()
        return self.result()

    def __await__(self) -> Any:
        return self.wait().__await__()

    def _resolve(self, metadata: RecordMetadata) -> None:
        self._metadata = metadata
        self._event.set()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._event.set()


class _Batch:
    __slots__ = (
        "tp", "records", "handles", "size_bytes", "created_at", "deadline", "base_sequence",
        "producer_id", "producer_epoch", "payload", "attempts",
    )

    def __init__(self, tp: TopicPartition, now: float, delivery_timeout_s: float) -> None:
        self.tp = tp
        self.records: list[Record] = []
        self.handles: list[DeliveryHandle] = []
        self.size_bytes = BATCH_OVERHEAD_BYTES
        self.created_at = now
        self.deadline = now + delivery_timeout_s
        self.base_sequence = -1
        self.producer_id = -1
        self.producer_epoch = -1
        self.payload: bytes | None = None
        self.attempts = 0


class _PartitionState:
    __slots__ = ("open", "ready", "in_flight", "failed", "retrying", "retry_after", "next_sequence")

    def __init__(self) -> None:
        self.open: _Batch | None = None
        self.ready: deque[_Batch] = deque()
        self.in_flight: deque[_Batch] = deque()
        self.failed: list[_Batch] = []
        self.retrying = False
        self.retry_after = 0.0
        self.next_sequence = 0


@attrs.define
class ProducerStatistics:
    records_sent: int = 0
    records_failed: int = 0
    batches_sent: int = 0
    batches_retried: int = 0
    requests_sent: int = 0
    buffered_bytes: int = 0
    buffered_records: int = 0
    producer_id: int = -1
    producer_epoch: int = -1


_COMPRESSION_NAMES: Final = {
    "none": Compression.NONE,
    "gzip": Compression.GZIP,
    "snappy": Compression.SNAPPY,
    "lz4": Compression.LZ4,
    "zstd": Compression.ZSTD,
}


class Producer:
    def __init__(self, bootstrap_servers: str | list[str], **options: Any) -> None:
        self.config = build_config(ProducerConfig, options)
        self._bootstrap_servers = bootstrap_servers
        acks = self.config.acks
        self._acks = -1 if acks in ("all", -1, "-1") else int(acks)
        if self._acks not in (-1, 0, 1):
            raise ConfigurationError(f"acks must be 'all', -1, 0 or 1, got {acks!r}")
        idempotence = self.config.enable_idempotence
        if idempotence and self._acks != -1:
            raise ConfigurationError("enable_idempotence=True requires acks='all'")
        self._idempotent = self._acks == -1 if idempotence is None else idempotence
        try:
            self._compression = _COMPRESSION_NAMES[self.config.compression_type]
        except KeyError:
            raise ConfigurationError(
                f"compression_type must be one of {sorted(_COMPRESSION_NAMES)}"
            ) from None
        if self.config.partitioner != "murmur2":
            raise ConfigurationError("the only partitioner is 'murmur2' (Java's default)")
        self._rng = random.Random()
        self._partitions: dict[TopicPartition, _PartitionState] = {}
        self._sticky: dict[str, int] = {}
        self._buffered_bytes = 0
        self._buffered_records = 0
        self._buffer_lot = trio.lowlevel.ParkingLot()
        self._idle_lot = trio.lowlevel.ParkingLot()
        self._wakeup = trio.Event()
        self._flushing = 0
        self._closed = False
        self._producer_id = -1
        self._producer_epoch = -1
        self._needs_producer_id = self._idempotent
        self._producer_id_task_running = False
        self._connecting: set[int] = set()
        self._refreshing = False
        self._in_flight_requests = 0
        self._stats = ProducerStatistics()
        self._nursery: trio.Nursery | None = None
        self._cluster: Cluster | None = None
        self._nursery_manager: Any = None
        self._fatal_error: BaseException | None = None

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Producer:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        try:
            self._cluster = Cluster(
                self._bootstrap_servers, self.config, self._nursery, allow_auto_topic_creation=True
            )
            connection = await self._cluster.with_retries(
                self._cluster.any_connection, what="bootstrap"
            )
            connection.version_for(PRODUCE_KEY)
            if self._idempotent:
                connection.version_for(INIT_PRODUCER_ID_KEY)
                await self._init_producer_id()
            self._nursery.start_soon(self._sender)
        except BaseException as error:
            self._closed = True
            if self._cluster is not None:
                self._cluster.close()
            self._nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await self._nursery_manager.__aexit__(None, None, None)
            raise error
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            if exc_info[0] is None or not issubclass(exc_info[0], trio.Cancelled):
                await self.flush()
        finally:
            self._closed = True
            assert self._nursery is not None and self._cluster is not None
            self._cluster.close()
            self._nursery.cancel_scope.cancel()
            await self._nursery_manager.__aexit__(None, None, None)
        return None

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)

    def statistics(self) -> ProducerStatistics:
        return attrs.evolve(
            self._stats,
            buffered_bytes=self._buffered_bytes,
            buffered_records=self._buffered_records,
            producer_id=self._producer_id,
            producer_epoch=self._producer_epoch,
        )

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise ClientClosedError("use the producer inside `async with Producer(...)`")
        return self._cluster

    # ---------------------------------------------------------------- send

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> DeliveryHandle:
        """Accept a record for delivery; blocks only for metadata or buffer space.

        Returns a DeliveryHandle: `await handle.wait()` gives the RecordMetadata
        or raises the delivery error.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        deadline = trio.current_time() + self.config.max_block_ms / 1000
        normalized = _normalize_headers(headers)
        size = _record_size(key, value, normalized)
        self._check_size(size)
        cluster = self.cluster
        partitions = cluster.topics.get(topic)
        if partitions is None:
            try:
                with trio.fail_at(deadline):
                    partitions = await cluster.partitions(topic, timeout_ms=self.config.max_block_ms)
            except trio.TooSlowError:
                raise KafkaTimeoutError(
                    f"no metadata for topic {topic!r} within max_block_ms"
                ) from None
        while self._buffered_bytes + size > self.config.buffer_memory_bytes:
            with trio.move_on_at(deadline) as scope:
                await self._buffer_lot.park()
            if scope.cancelled_caught:
                raise KafkaTimeoutError(
                    f"buffer_memory_bytes ({self.config.buffer_memory_bytes}) stayed full "
                    f"for max_block_ms"
                )
            self._check_open()
        handle = self._append(
            topic, partitions, value, key, normalized, partition, timestamp_ms, size
        )
        await trio.lowlevel.cancel_shielded_checkpoint()
        return handle

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> DeliveryHandle:
        """send() without blocking: trio.WouldBlock if metadata is unknown or the buffer is full."""
        self._check_open()
        normalized = _normalize_headers(headers)
        size = _record_size(key, value, normalized)
        self._check_size(size)
        partitions = self.cluster.topics.get(topic)
        if partitions is None or self._buffered_bytes + size > self.config.buffer_memory_bytes:
            raise trio.WouldBlock
        return self._append(topic, partitions, value, key, normalized, partition, timestamp_ms, size)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordMetadata:
        handle = await self.send(
            topic, value, key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        )
        return await handle.wait()

    async def flush(self) -> None:
        """Send every accepted record now and wait until each has succeeded or failed."""
        self._flushing += 1
        try:
            self._wakeup.set()
            while self._buffered_records:
                await self._idle_lot.park()
        finally:
            self._flushing -= 1
        await trio.lowlevel.checkpoint()

    async def partitions_for(self, topic: str) -> list[int]:
        return sorted(await self.cluster.partitions(topic))

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the producer is closed")
        if self._fatal_error is not None:
            raise self._fatal_error

    def _check_size(self, size: int) -> None:
        if size + BATCH_OVERHEAD_BYTES > self.config.max_request_size_bytes:
            raise MessageTooLargeError(
                f"record of ~{size} bytes exceeds max_request_size_bytes "
                f"({self.config.max_request_size_bytes})"
            )

    def _append(
        self,
        topic: str,
        partitions: Mapping[int, Any],
        value: bytes | None,
        key: bytes | None,
        headers: tuple[tuple[str, bytes | None], ...],
        partition: int | None,
        timestamp_ms: int | None,
        size: int,
    ) -> DeliveryHandle:
        count = len(partitions)
        if partition is not None:
            if partition not in partitions:
                raise UnknownTopicError(f"{topic} has no partition {partition} (it has {count})")
        elif key is not None:
            partition = partition_for_key(key, count)
        else:
            partition = self._sticky_partition(topic, partitions)
        tp = TopicPartition(topic, partition)
        state = self._partitions.get(tp)
        if state is None:
            state = self._partitions[tp] = _PartitionState()
        now = trio.current_time()
        batch = state.open
        if batch is not None and batch.size_bytes + size > self.config.batch_size_bytes:
            self._seal(tp, state)
            batch = None
        if batch is None:
            batch = state.open = _Batch(tp, now, self.config.delivery_timeout_ms / 1000)
        timestamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        batch.records.append(
            Record(len(batch.records), timestamp, key, value, headers)
        )
        handle = DeliveryHandle(topic, partition, timestamp)
        batch.handles.append(handle)
        batch.size_bytes += size
        self._buffered_bytes += size
        self._buffered_records += 1
        if batch.size_bytes >= self.config.batch_size_bytes or self.config.linger_ms == 0:
            self._seal(tp, state)
            self._wakeup.set()
        elif len(batch.records) == 1:
            self._wakeup.set()  # the sender must learn the new linger deadline
        return handle

    def _sticky_partition(self, topic: str, partitions: Mapping[int, Any]) -> int:
        current = self._sticky.get(topic)
        if current is not None and current in partitions:
            return current
        available = [p for p, info in partitions.items() if info.leader >= 0] or list(partitions)
        choice = self._rng.choice(available)
        self._sticky[topic] = choice
        return choice

    def _seal(self, tp: TopicPartition, state: _PartitionState) -> None:
        batch = state.open
        if batch is None:
            return
        state.open = None
        state.ready.append(batch)
        # Sticky partitioning: null-key records move on once a batch is complete.
        if self._sticky.get(tp.topic) == tp.partition:
            partitions = self.cluster.topics.get(tp.topic, {})
            if len(partitions) > 1:
                others = [p for p in partitions if p != tp.partition]
                self._sticky[tp.topic] = self._rng.choice(others)

    # ---------------------------------------------------------------- sender

    async def _sender(self) -> None:
        """Seal and send ready batches; sleeps until woken or the next linger/retry deadline."""
        while True:
            self._wakeup = trio.Event()
            next_wake = self._drain(trio.current_time())
            with trio.move_on_at(next_wake):
                await self._wakeup.wait()

    def _drain(self, now: float) -> float:
        next_wake = math.inf
        linger_s = self.config.linger_ms / 1000
        by_node: dict[int, list[_Batch]] = {}
        sending_blocked = self._needs_producer_id
        if sending_blocked:
            self._start_producer_id_reset()
        for tp, state in self._partitions.items():
            batch = state.open
            if batch is not None:
                if self._flushing or now >= batch.created_at + linger_s:
                    self._seal(tp, state)
                else:
                    next_wake = min(next_wake, batch.created_at + linger_s)
            next_wake = min(next_wake, self._expire(state, now))
            if sending_blocked or not state.ready or state.retrying:
                continue
            if len(state.in_flight) >= MAX_IN_FLIGHT_BATCHES_PER_PARTITION:
                continue
            if now < state.retry_after:
                next_wake = min(next_wake, state.retry_after)
                continue
            leader = self.cluster.leader_for(tp)
            if leader is None or self.cluster.metadata_needs_refresh():
                self._start_metadata_refresh()
                if leader is None:
                    continue
            by_node.setdefault(leader, []).append(state.ready[0])
        for node_id, batches in by_node.items():
            self._send_to_node(node_id, batches, now)
        return next_wake

    def _expire(self, state: _PartitionState, now: float) -> float:
        """Fail ready batches past their delivery deadline; return the next deadline."""
        while state.ready and state.ready[0].deadline <= now:
            batch = state.ready.popleft()
            self._fail_batch(
                batch,
                KafkaTimeoutError(
                    f"{batch.tp}: {len(batch.records)} record(s) not delivered within "
                    f"delivery_timeout_ms ({self.config.delivery_timeout_ms})"
                ),
            )
        return state.ready[0].deadline if state.ready else math.inf

    def _send_to_node(self, node_id: int, batches: list[_Batch], now: float) -> None:
        connection = self.cluster._connections.get(node_id)
        if connection is None or connection.closed:
            self._start_connect(node_id)
            return
        if not connection.has_capacity():
            return  # a response will wake the sender
        version = connection.version_for(PRODUCE_KEY)
        chosen: list[_Batch] = []
        size = 0
        for batch in batches:
            payload = self._payload(batch)
            if chosen and size + len(payload) > self.config.max_request_size_bytes:
                continue
            chosen.append(batch)
            size += len(payload)
        topics: dict[str, list[Any]] = {}
        for batch in chosen:
            state = self._partitions[batch.tp]
            state.ready.popleft()
            state.in_flight.append(batch)
            batch.attempts += 1
            topics.setdefault(batch.tp.topic, []).append(
                ProduceRequest.PartitionProduceData(index=batch.tp.partition, records=batch.payload)
            )
        request = ProduceRequest(
            transactional_id=None,
            acks=self._acks,
            timeout_ms=self.config.request_timeout_ms,
            topic_data=[
                ProduceRequest.TopicProduceData(name=name, partition_data=data)
                for name, data in topics.items()
            ],
        )
        try:
            pending = connection.submit(
                PRODUCE_KEY, request, version=version, expect_response=self._acks != 0
            )
        except KafkaError as error:
            for batch in chosen:
                self._batch_failed(batch, error, now)
            return
        self._stats.requests_sent += 1
        self._stats.batches_sent += len(chosen)
        if pending is None:  # acks=0: done once written
            for batch in chosen:
                self._partitions[batch.tp].in_flight.remove(batch)
                self._complete(batch, -1, -1)
            return
        assert self._nursery is not None
        self._in_flight_requests += 1
        self._nursery.start_soon(self._await_produce, connection, pending, chosen)

    def _payload(self, batch: _Batch) -> bytes:
        state = self._partitions[batch.tp]
        if self._idempotent and batch.base_sequence < 0:
            batch.base_sequence = state.next_sequence
            batch.producer_id = self._producer_id
            batch.producer_epoch = self._producer_epoch
            state.next_sequence = (state.next_sequence + len(batch.records)) % SEQUENCE_MODULUS
            batch.payload = None
        if batch.payload is None:
            batch.payload = build_batch(
                batch.records,
                compression=self._compression,
                compression_level=self.config.compression_level,
                producer_id=batch.producer_id,
                producer_epoch=batch.producer_epoch,
                base_sequence=batch.base_sequence,
            )
        return batch.payload

    async def _await_produce(
        self, connection: BrokerConnection, pending: PendingRequest, batches: list[_Batch]
    ) -> None:
        try:
            response = await connection.wait_response(pending)
        except KafkaError as error:
            now = trio.current_time()
            for batch in batches:
                self._batch_failed(batch, error, now)
            return
        finally:
            self._in_flight_requests -= 1
            self._wakeup.set()
        results: dict[TopicPartition, Any] = {}
        for topic in response.responses:
            for partition in topic.partition_responses:
                results[TopicPartition(topic.name, partition.index)] = partition
        now = trio.current_time()
        for batch in batches:
            result = results.get(batch.tp)
            if result is None:
                self._batch_failed(
                    batch, KafkaError(f"{batch.tp}: the broker did not answer for it"), now
                )
                continue
            code = result.error_code
            if code in (ErrorCode.NONE, ErrorCode.DUPLICATE_SEQUENCE_NUMBER):
                self._partitions[batch.tp].in_flight.remove(batch)
                self._complete(batch, result.base_offset, result.log_append_time_ms)
            else:
                self._batch_failed(batch, error_for_code(code, result.error_message), now)

    def _complete(self, batch: _Batch, base_offset: int, log_append_time_ms: int) -> None:
        topic, partition = batch.tp.topic, batch.tp.partition
        for index, (record, handle) in enumerate(zip(batch.records, batch.handles, strict=True)):
            offset = base_offset + index if base_offset >= 0 else -1
            timestamp = log_append_time_ms if log_append_time_ms >= 0 else record.timestamp
            handle._resolve(RecordMetadata(topic, partition, offset, timestamp))
        self._stats.records_sent += len(batch.records)
        self._release(batch)

    def _release(self, batch: _Batch) -> None:
        self._buffered_bytes -= batch.size_bytes - BATCH_OVERHEAD_BYTES
        self._buffered_records -= len(batch.records)
        self._buffer_lot.unpark_all()
        if self._buffered_records == 0:
            self._idle_lot.unpark_all()

    def _fail_batch(self, batch: _Batch, error: BaseException) -> None:
        for handle in batch.handles:
            handle._fail(error)
        self._stats.records_failed += len(batch.records)
        self._release(batch)
        if batch.base_sequence >= 0:
            # The partition's sequence has a hole now: renumber under a new producer id.
            self._needs_producer_id = True

    def _batch_failed(self, batch: _Batch, error: KafkaError, now: float) -> None:
        state = self._partitions[batch.tp]
        if batch in state.in_flight:
            state.in_flight.remove(batch)
        self.cluster.note_error(error)
        sequence_error = getattr(error, "code", None) in (
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            ErrorCode.UNKNOWN_PRODUCER_ID,
        )
        retriable = error.retriable or (sequence_error and state.retrying)
        if retriable and now < batch.deadline and not self._closed:
            state.failed.append(batch)
            state.retrying = True
            self._stats.batches_retried += 1
        else:
            self._fail_batch(batch, error)
        if state.retrying and not state.in_flight:
            # Every batch that was in flight is back: resend them in sequence order.
            for failed in sorted(state.failed, key=lambda b: b.base_sequence, reverse=True):
                state.ready.appendleft(failed)
            attempts = max((b.attempts for b in state.failed), default=1)
            state.failed.clear()
            state.retrying = False
            state.retry_after = now + self.cluster.backoff_s(attempts - 1)
        self._wakeup.set()

    # ---------------------------------------------------------------- background helpers

    def _start_connect(self, node_id: int) -> None:
        if node_id in self._connecting:
            return
        self._connecting.add(node_id)
        assert self._nursery is not None
        self._nursery.start_soon(self._connect, node_id)

    async def _connect(self, node_id: int) -> None:
        try:
            await self.cluster.with_retries(
                lambda: self.cluster.connection(node_id),
                timeout_ms=self.config.delivery_timeout_ms,
                what=f"connect to broker {node_id}",
            )
        except KafkaError:
            self.cluster.invalidate_metadata()
        finally:
            self._connecting.discard(node_id)
            self._wakeup.set()

    def _start_metadata_refresh(self) -> None:
        if self._refreshing:
            return
        self._refreshing = True
        assert self._nursery is not None
        self._nursery.start_soon(self._refresh_metadata)

    async def _refresh_metadata(self) -> None:
        try:
            await self.cluster.with_retries(
                self.cluster.refresh_metadata, timeout_ms=self.config.delivery_timeout_ms,
                what="metadata refresh",
            )
        except KafkaError:
            pass  # batches keep waiting until their delivery deadline
        finally:
            self._refreshing = False
            self._wakeup.set()

    def _start_producer_id_reset(self) -> None:
        if self._producer_id_task_running or self._in_flight_requests:
            return
        self._producer_id_task_running = True
        assert self._nursery is not None
        self._nursery.start_soon(self._reset_producer_id)

    async def _reset_producer_id(self) -> None:
        try:
            await self._init_producer_id()
            for state in self._partitions.values():
                state.next_sequence = 0
                for batch in state.ready:
                    batch.base_sequence = -1
        except KafkaError as error:
            self._fatal_error = error
            for state in self._partitions.values():
                while state.ready:
                    self._fail_batch(state.ready.popleft(), error)
        finally:
            self._producer_id_task_running = False
            self._wakeup.set()

    async def _init_producer_id(self) -> None:
        async def attempt() -> Any:
            connection = await self.cluster.any_connection()
            response = await connection.request(
                INIT_PRODUCER_ID_KEY,
                InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1),
            )
            raise_for_code(response.error_code)
            return response

        response = await self.cluster.with_retries(attempt, what="InitProducerId")
        self._producer_id = response.producer_id
        self._producer_epoch = response.producer_epoch
        self._needs_producer_id = False


def _normalize_headers(headers: Headers) -> tuple[tuple[str, bytes | None], ...]:
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), value) for name, value in items)


def _record_size(
    key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes | None], ...]
) -> int:
    size = RECORD_OVERHEAD_BYTES + (len(key) if key else 0) + (len(value) if value else 0)
    for name, header_value in headers:
        size += len(name) + (len(header_value) if header_value else 0) + 4
    return size
