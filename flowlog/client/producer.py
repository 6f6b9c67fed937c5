"""The producer: per-partition accumulators, one sender task, idempotent by default.

    async with Producer("127.0.0.1:9092", linger_ms=5) as producer:
        handle = await producer.send("events", b"value", key=b"user-1")
        metadata = await handle.wait()          # RecordMetadata(topic, partition, offset, ...)
        await producer.send_and_wait("events", b"other")

Flow: send() picks a partition (murmur2 for keys, sticky for null keys),
encodes the record once into that partition's open batch buffer and returns
a DeliveryHandle (batch + index; a batch's records share one outcome). The
sender task seals a batch when it reaches batch_size_bytes, when linger_ms
has passed, or on flush, then sends ready batches (one per partition per
request) to each leader, filling the window in one go without waiting for
earlier responses (at most max_in_flight_requests_per_connection requests
per connection, 5 by default as Kafka requires for idempotent order).

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
from flowlog.protocol.records import encode_record_into, seal_batch
from flowlog.protocol.varint import INT64_MAX, INT64_MIN

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
    """The outcome of one send(): `await handle.wait()` (or `await handle`) -> RecordMetadata.

    Cheap by design (one is made per record): it points at its batch, which
    holds the one outcome every record of the batch shares, and at its index
    in that batch; the RecordMetadata is made when asked for.
    """

    __slots__ = ("_batch", "_index", "timestamp")

    def __init__(self, batch: _Batch, index: int, timestamp: int) -> None:
        self._batch = batch
        self._index = index
        self.timestamp = timestamp

    @property
    def topic(self) -> str:
        return self._batch.tp.topic

    @property
    def partition(self) -> int:
        return self._batch.tp.partition

    def done(self) -> bool:
        return self._batch.done

    def result(self) -> RecordMetadata:
        """The metadata now; raises the delivery error, or RuntimeError if not done yet."""
        batch = self._batch
        if not batch.done:
            raise RuntimeError("the record is not delivered yet; await wait()")
        if batch.error is not None:
            raise batch.error
        base_offset = batch.base_offset
        return RecordMetadata(
            batch.tp.topic,
            batch.tp.partition,
            base_offset + self._index if base_offset >= 0 else -1,
            batch.log_append_time if batch.log_append_time >= 0 else self.timestamp,
        )

    async def wait(self) -> RecordMetadata:
        await self._batch.event.wait()
        return self.result()

    def __await__(self) -> Any:
        return self.wait().__await__()


class _Batch:
    """A partition's batch: its records already encoded, and the outcome they share."""

    __slots__ = (
        "tp", "buffer", "count", "base_timestamp", "max_timestamp", "created_at", "deadline",
        "base_sequence", "producer_id", "producer_epoch", "payload", "attempts", "event",
        "done", "error", "base_offset", "log_append_time",
    )

    def __init__(
        self, tp: TopicPartition, now: float, delivery_timeout_s: float, base_timestamp: int
    ) -> None:
        self.tp = tp
        self.buffer = bytearray()  # the encoded records section, uncompressed
        self.count = 0
        self.base_timestamp = base_timestamp
        self.max_timestamp = base_timestamp
        self.created_at = now
        self.deadline = now + delivery_timeout_s
        self.base_sequence = -1
        self.producer_id = -1
        self.producer_epoch = -1
        self.payload: bytes | None = None
        self.attempts = 0
        self.event = trio.Event()
        self.done = False
        self.error: BaseException | None = None
        self.base_offset = -1
        self.log_append_time = -1


class _PartitionState:
    __slots__ = (
        "tp", "open", "ready", "in_flight", "failed", "retrying", "retry_after", "next_sequence",
    )

    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.open: _Batch | None = None
        self.ready: deque[_Batch] = deque()
        self.in_flight: deque[_Batch] = deque()
        self.failed: list[_Batch] = []
        self.retrying = False
        self.retry_after = 0.0
        self.next_sequence = 0


class _TopicState:
    """Per-topic lookups for send(): partition states and the sticky partition."""

    __slots__ = ("partitions", "states", "sticky")

    def __init__(self, partitions: Mapping[int, Any]) -> None:
        self.partitions = partitions  # the cluster's mapping the sticky choice was made from
        self.states: dict[int, _PartitionState] = {}
        self.sticky: _PartitionState | None = None


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
        self._topics: dict[str, _TopicState] = {}
        self._batch_size_bytes = self.config.batch_size_bytes
        self._buffer_memory_bytes = self.config.buffer_memory_bytes
        self._max_request_size_bytes = self.config.max_request_size_bytes
        self._delivery_timeout_s = self.config.delivery_timeout_ms / 1000
        self._seal_every_record = self.config.linger_ms == 0
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
        try:
            handle = self.send_nowait(
                topic, value, key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
            )
        except trio.WouldBlock:
            handle = await self._send_blocking(
                topic, value, key, headers, partition, timestamp_ms
            )
        await trio.lowlevel.cancel_shielded_checkpoint()
        return handle

    async def _send_blocking(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> DeliveryHandle:
        """send() once send_nowait would block: wait for metadata, then for buffer space."""
        deadline = trio.current_time() + self.config.max_block_ms / 1000
        self._check_size(_record_size(key, value, _normalize_headers(headers)))
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
        while True:
            self._check_open()
            try:
                return self._append(topic, partitions, value, key, headers, partition, timestamp_ms)
            except trio.WouldBlock:
                pass
            with trio.move_on_at(deadline) as scope:
                await self._buffer_lot.park()
            if scope.cancelled_caught:
                raise KafkaTimeoutError(
                    f"buffer_memory_bytes ({self.config.buffer_memory_bytes}) stayed full "
                    f"for max_block_ms"
                )

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
        if self._closed or self._fatal_error is not None:
            self._check_open()
        partitions = self.cluster.topics.get(topic)
        if partitions is None:
            raise trio.WouldBlock
        return self._append(topic, partitions, value, key, headers, partition, timestamp_ms)

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
        headers: Headers,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> DeliveryHandle:
        """Encode the record into its partition's open batch (the hot path of send()).

        Raises trio.WouldBlock, changing nothing, when buffer_memory_bytes is full.
        """
        topic_state = self._topics.get(topic)
        if topic_state is None:
            topic_state = self._topics[topic] = _TopicState(partitions)
        if partition is not None:
            if partition not in partitions:
                raise UnknownTopicError(
                    f"{topic} has no partition {partition} (it has {len(partitions)})"
                )
            state = topic_state.states.get(partition) or self._partition_state(
                topic_state, topic, partition
            )
        elif key is not None:
            partition = partition_for_key(key, len(partitions))
            state = topic_state.states.get(partition) or self._partition_state(
                topic_state, topic, partition
            )
        else:
            sticky = topic_state.sticky
            if sticky is None or topic_state.partitions is not partitions:
                sticky = self._choose_sticky(topic_state, topic, partitions)
            state = sticky
        normalized = _normalize_headers(headers) if headers else ()
        if timestamp_ms is None:
            timestamp = int(time.time() * 1000)
        elif INT64_MIN <= timestamp_ms <= INT64_MAX:
            timestamp = timestamp_ms
        else:
            raise ValueError(f"timestamp_ms {timestamp_ms} does not fit in int64")
        batch = state.open
        if batch is not None:
            buffer = batch.buffer
            mark = len(buffer)
            size = encode_record_into(
                buffer, batch.count, timestamp - batch.base_timestamp, key, value, normalized
            )
            if (
                mark + size + BATCH_OVERHEAD_BYTES > self._batch_size_bytes
                or self._buffered_bytes + size > self._buffer_memory_bytes
                or size + BATCH_OVERHEAD_BYTES > self._max_request_size_bytes
            ):
                del buffer[mark:]
                if self._buffered_bytes + size > self._buffer_memory_bytes:
                    raise trio.WouldBlock
                self._seal(state)
                batch = None
            elif timestamp > batch.max_timestamp:
                batch.max_timestamp = timestamp
        if batch is None:
            buffer = bytearray()
            size = encode_record_into(buffer, 0, 0, key, value, normalized)
            self._check_size(size)
            if self._buffered_bytes + size > self._buffer_memory_bytes:
                raise trio.WouldBlock
            batch = state.open = _Batch(
                state.tp, trio.current_time(), self._delivery_timeout_s, timestamp
            )
            batch.buffer = buffer
            self._wakeup.set()  # the sender must learn the new linger deadline
        handle = DeliveryHandle(batch, batch.count, timestamp)
        batch.count += 1
        self._buffered_bytes += size
        self._buffered_records += 1
        if self._seal_every_record or len(batch.buffer) + BATCH_OVERHEAD_BYTES >= (
            self._batch_size_bytes
        ):
            self._seal(state)
            self._wakeup.set()
        return handle

    def _partition_state(
        self, topic_state: _TopicState, topic: str, partition: int
    ) -> _PartitionState:
        state = topic_state.states.get(partition)
        if state is None:
            tp = TopicPartition(topic, partition)
            state = self._partitions.get(tp)
            if state is None:
                state = self._partitions[tp] = _PartitionState(tp)
            topic_state.states[partition] = state
        return state

    def _choose_sticky(
        self, topic_state: _TopicState, topic: str, partitions: Mapping[int, Any]
    ) -> _PartitionState:
        topic_state.partitions = partitions
        current = topic_state.sticky
        if current is not None and current.tp.partition in partitions:
            return current
        available = [p for p, info in partitions.items() if info.leader >= 0] or list(partitions)
        state = self._partition_state(topic_state, topic, self._rng.choice(available))
        topic_state.sticky = state
        return state

    def _seal(self, state: _PartitionState) -> None:
        batch = state.open
        if batch is None:
            return
        state.open = None
        state.ready.append(batch)
        # Sticky partitioning: null-key records move on once a batch is complete.
        tp = state.tp
        topic_state = self._topics.get(tp.topic)
        if topic_state is not None and topic_state.sticky is state:
            partitions = self.cluster.topics.get(tp.topic, {})
            if len(partitions) > 1:
                others = [p for p in partitions if p != tp.partition]
                topic_state.sticky = self._partition_state(
                    topic_state, tp.topic, self._rng.choice(others)
                )

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
        by_node: dict[int, list[_PartitionState]] = {}
        sending_blocked = self._needs_producer_id
        if sending_blocked:
            self._start_producer_id_reset()
        # A copy: sealing the sticky partition's batch picks a new sticky partition,
        # which may add a partition state while this loop runs.
        for tp, state in list(self._partitions.items()):
            batch = state.open
            if batch is not None:
                if self._flushing or now >= batch.created_at + linger_s:
                    self._seal(state)
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
            by_node.setdefault(leader, []).append(state)
        for node_id, states in by_node.items():
            self._send_to_node(node_id, states, now)
        return next_wake

    def _expire(self, state: _PartitionState, now: float) -> float:
        """Fail ready batches past their delivery deadline; return the next deadline."""
        while state.ready and state.ready[0].deadline <= now:
            batch = state.ready.popleft()
            self._fail_batch(
                batch,
                KafkaTimeoutError(
                    f"{batch.tp}: {batch.count} record(s) not delivered within "
                    f"delivery_timeout_ms ({self.config.delivery_timeout_ms})"
                ),
            )
        return state.ready[0].deadline if state.ready else math.inf

    def _send_to_node(self, node_id: int, states: list[_PartitionState], now: float) -> None:
        """Fill the connection: requests of one batch per partition, until no capacity or batch.

        Several requests go out in one drain so the partitions' in-flight
        windows (up to MAX_IN_FLIGHT_BATCHES_PER_PARTITION) fill up, instead
        of one new request per response.
        """
        connection = self.cluster._connections.get(node_id)
        if connection is None or connection.closed:
            self._start_connect(node_id)
            return
        version = connection.version_for(PRODUCE_KEY)
        max_request_size = self.config.max_request_size_bytes
        # Each round sends at least one batch or stops: the ready batches bound it.
        while connection.has_capacity() and not self._needs_producer_id:
            chosen: list[_Batch] = []
            size = 0
            for state in states:
                if (
                    not state.ready
                    or state.retrying
                    or len(state.in_flight) >= MAX_IN_FLIGHT_BATCHES_PER_PARTITION
                ):
                    continue
                batch = state.ready[0]
                payload = self._payload(batch)
                if chosen and size + len(payload) > max_request_size:
                    continue
                chosen.append(batch)
                size += len(payload)
            if not chosen or not self._send_request(connection, version, chosen, now):
                return

    def _send_request(
        self, connection: BrokerConnection, version: int, chosen: list[_Batch], now: float
    ) -> bool:
        """One Produce request for `chosen` (their partitions' first ready batches)."""
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
            return False
        self._stats.requests_sent += 1
        self._stats.batches_sent += len(chosen)
        if pending is None:  # acks=0: done once written
            for batch in chosen:
                self._partitions[batch.tp].in_flight.remove(batch)
                self._complete(batch, -1, -1)
            return True
        assert self._nursery is not None
        self._in_flight_requests += 1
        self._nursery.start_soon(self._await_produce, connection, pending, chosen)
        return True

    def _payload(self, batch: _Batch) -> bytes:
        state = self._partitions[batch.tp]
        if self._idempotent and batch.base_sequence < 0:
            batch.base_sequence = state.next_sequence
            batch.producer_id = self._producer_id
            batch.producer_epoch = self._producer_epoch
            state.next_sequence = (state.next_sequence + batch.count) % SEQUENCE_MODULUS
            batch.payload = None
        if batch.payload is None:
            batch.payload = seal_batch(
                batch.buffer,
                batch.count,
                last_offset_delta=batch.count - 1,
                base_timestamp=batch.base_timestamp,
                max_timestamp=batch.max_timestamp,
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
        batch.base_offset = base_offset
        batch.log_append_time = log_append_time_ms
        batch.done = True
        batch.event.set()
        self._stats.records_sent += batch.count
        self._release(batch)

    def _release(self, batch: _Batch) -> None:
        self._buffered_bytes -= len(batch.buffer)
        self._buffered_records -= batch.count
        batch.buffer = bytearray()  # handles may outlive the batch: keep only its outcome
        batch.payload = None
        self._buffer_lot.unpark_all()
        if self._buffered_records == 0:
            self._idle_lot.unpark_all()

    def _fail_batch(self, batch: _Batch, error: BaseException) -> None:
        batch.error = error
        batch.done = True
        batch.event.set()
        self._stats.records_failed += batch.count
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
