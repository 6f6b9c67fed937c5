"""A stream task: one partition index of one sub-topology. Plain object: no trio, no I/O.

The runtime (and the test driver) hands it raw records per partition; the
task deserializes and timestamps them into one queue per partition, then
processes one record at a time, always the queued head with the lowest
timestamp across its partitions (Kafka Streams' PartitionGroup). Stream time
is the highest timestamp processed. An empty partition that may still have
data (lag unknown or positive) holds the task back; one that is caught up
holds it back for `max_task_idle_ms` of wall-clock time.

Offsets to commit: for each partition, the offset of the queued head, or
after the last record added when the queue is empty; everything before it
has been processed or handled (skipped, dead-lettered).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from flowlog.client.types import ConsumerRecord, OffsetAndMetadata, TopicPartition
from flowlog_streams.change_serde import resolve_serde
from flowlog_streams.collector import RecordCollector
from flowlog_streams.config import StreamsConfig
from flowlog_streams.errors import SerializationError, StreamsException, TaskFailedError
from flowlog_streams.graph import TaskGraph
from flowlog_streams.handlers import (
    DESERIALIZATION,
    PROCESSING,
    ErrorContext,
    ExceptionHandler,
    HandlerResponse,
)
from flowlog_streams.processor import Cancellable, Headers, PunctuationType, Punctuator, Record
from flowlog_streams.punctuation import Schedule, ScheduleQueue
from flowlog_streams.state_manager import StoreFactory, TaskStateManager
from flowlog_streams.task_id import TaskId
from flowlog_streams.topics import TopicResolution, source_of
from flowlog_streams.topology import Topology

logger = logging.getLogger("flowlog_streams.task")

UNKNOWN_TIME: Final = -1
# Commit metadata carries the partition time so a restarted task resumes its stream time.
_METADATA_PREFIX: Final = "flowlog-streams:v1:partition_time="
# The record context inside a punctuation: no topic, partition or offset.
_NO_RECORD: Final = (None, -1, -1, UNKNOWN_TIME, (), None, None)

# (timestamp, key, value, headers, offset, raw_key, raw_value)
QueuedRecord = tuple[int, Any, Any, Headers, int, "bytes | None", "bytes | None"]


class InvalidTimestampError(StreamsException):
    """A record's (extracted) timestamp is negative or missing."""


@attrs.define
class TaskMetrics:
    records_processed: int = 0
    records_produced: int = 0
    # Records a handler chose to skip or dead-letter, by handler kind.
    records_handled: dict[str, int] = attrs.field(factory=lambda: {DESERIALIZATION: 0, PROCESSING: 0})
    punctuations: int = 0
    # Records an operator dropped, by reason (late, null_key, null_value).
    records_dropped: dict[str, int] = attrs.field(factory=dict)


class PartitionQueue:
    __slots__ = (
        "tp", "records", "next_offset", "partition_time", "entry", "deserialize_key",
        "deserialize_value", "extractor", "idle_since_ms", "committed_offset",
    )

    def __init__(self, tp: TopicPartition, entry: Callable[[Record], None], key_serde: Any,
                 value_serde: Any, extractor: Any) -> None:
        self.tp = tp
        self.records: deque[QueuedRecord] = deque()
        # After the last record added; None until one is.
        self.next_offset: int | None = None
        self.partition_time = UNKNOWN_TIME
        self.entry = entry
        self.deserialize_key = key_serde.deserialize
        self.deserialize_value = value_serde.deserialize
        self.extractor = extractor
        self.idle_since_ms: int | None = None
        self.committed_offset: int | None = None


class StreamTask:
    def __init__(
        self,
        task_id: TaskId,
        topology: Topology,
        topics: TopicResolution,
        partitions: Iterable[TopicPartition],
        collector: RecordCollector,
        config: StreamsConfig,
        *,
        wall_clock_ms: Callable[[], int],
        lag_of: Callable[[TopicPartition], int | None] = lambda tp: 0,
        deserialization_handler: ExceptionHandler | None = None,
        processing_handler: ExceptionHandler | None = None,
        open_store: StoreFactory | None = None,
        global_stores: Mapping[str, Any] | None = None,
        committed: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        self.id = task_id
        # The instance's global tables' stores (read-only here), by store name.
        self._global_stores = global_stores or {}
        self.application_id = config.application_id
        self.config = config
        self.topics = topics
        self.collector = collector
        self.wall_clock_ms = wall_clock_ms
        self.metrics = TaskMetrics()
        self.stream_time = UNKNOWN_TIME
        self.commit_requested = False
        self.record_context: tuple[Any, ...] = _NO_RECORD
        self._lag_of = lag_of
        self._deserialization_handler = deserialization_handler or config.deserialization_handler()
        self._processing_handler = processing_handler or config.processing_handler()
        self._stream_schedules = ScheduleQueue()
        self._wall_schedules = ScheduleQueue()
        self._topology = topology
        self.graph = TaskGraph(topology, task_id.subtopology, self)
        specs = [topology.stores[name] for name in topology.stores_of(task_id.subtopology)]
        self.state: TaskStateManager | None = None
        if specs:
            if open_store is None:
                raise StreamsException(f"task {task_id} has state stores but no store factory")
            self.state = TaskStateManager(task_id, specs, topics, config, collector, open_store)
            if committed is not None:
                # Before graph.init(): a store wiped here is the one processors then get.
                self.state.limit_source_restores(committed)
        self.queues: dict[TopicPartition, PartitionQueue] = {}
        for tp in sorted(partitions):
            source = source_of(topology, topics, tp.topic)
            self.queues[tp] = PartitionQueue(
                tp, self.graph.entries[source.name],
                resolve_serde(source.key_serde, config.default_key_serde),
                resolve_serde(source.value_serde, config.default_value_serde),
                source.timestamp_extractor,
            )
        self._queue_list = list(self.queues.values())
        # Most tasks read one partition: no choosing between heads then.
        self._single_queue = self._queue_list[0] if len(self._queue_list) == 1 else None
        self.graph.init()

    @property
    def partitions(self) -> list[TopicPartition]:
        return list(self.queues)

    # ---------------------------------------------------------------- input

    def restore_partition_time(self, tp: TopicPartition, metadata: str | None) -> None:
        """Resume stream time from the committed offset's metadata (written by commit_offsets)."""
        if metadata and metadata.startswith(_METADATA_PREFIX):
            try:
                value = int(metadata[len(_METADATA_PREFIX):])
            except ValueError:
                return
            queue = self.queues[tp]
            queue.partition_time = max(queue.partition_time, value)
            self.stream_time = max(self.stream_time, value)

    def add_records(self, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> None:
        """Deserialize and timestamp raw records into tp's queue; bad ones go to the handler."""
        queue = self.queues[tp]
        append = queue.records.append
        deserialize_key = queue.deserialize_key
        deserialize_value = queue.deserialize_value
        extractor = queue.extractor
        topic = tp.topic
        for record in records:
            offset = record.offset
            queue.next_offset = offset + 1
            raw_key = record.key
            raw_value = record.value
            try:
                key = deserialize_key(topic, raw_key)
                value = deserialize_value(topic, raw_value)
                timestamp = record.timestamp
                if extractor is not None:
                    timestamp = extractor(key, value, timestamp, queue.partition_time)
                if timestamp is None or timestamp < 0:
                    raise InvalidTimestampError(
                        f"invalid timestamp {timestamp!r} (must be >= 0)"
                    )
            except Exception as error:
                if not isinstance(error, SerializationError | InvalidTimestampError):
                    error = SerializationError(f"{type(error).__name__}: {error}")
                self._handle(self._deserialization_handler, ErrorContext(
                    DESERIALIZATION, error, str(self.id), topic, tp.partition, offset,
                    record.timestamp, raw_key, raw_value, record.headers,
                    handled_at_ms=self.wall_clock_ms(),
                ))
                continue
            append((timestamp, key, value, record.headers, offset, raw_key, raw_value))

    def buffered(self, tp: TopicPartition) -> int:
        return len(self.queues[tp].records)

    def has_buffered(self) -> bool:
        return any(q.records for q in self._queue_list)

    @property
    def input_count(self) -> int:
        return len(self._queue_list)

    # ---------------------------------------------------------------- processing

    def _next_queue(self, now_ms: int) -> PartitionQueue | None:
        queues = self._queue_list
        best: PartitionQueue | None = None
        waiting = False
        for queue in queues:
            if queue.records:
                queue.idle_since_ms = None
                if best is None or queue.records[0][0] < best.records[0][0]:
                    best = queue
            elif self._must_wait_for(queue, now_ms):
                waiting = True
        return None if waiting else best

    def _must_wait_for(self, queue: PartitionQueue, now_ms: int) -> bool:
        idle_ms = self.config.max_task_idle_ms
        if idle_ms < 0:
            return False
        lag = self._lag_of(queue.tp)
        if lag is None or lag > 0:
            queue.idle_since_ms = None  # its data is on the way; the idle clock starts at lag 0
            return True
        if queue.idle_since_ms is None:
            queue.idle_since_ms = now_ms
        return now_ms - queue.idle_since_ms < idle_ms

    def process(self, max_records: int, now_ms: int | None = None) -> int:
        """Process up to max_records queued records in timestamp order; returns how many."""
        now = self.wall_clock_ms() if now_ms is None else now_ms
        processed = 0
        stream_schedules = self._stream_schedules
        single = self._single_queue
        while processed < max_records:
            queue = single if single is not None else self._next_queue(now)
            if queue is None or not queue.records:
                break
            timestamp, key, value, headers, offset, raw_key, raw_value = queue.records.popleft()
            tp = queue.tp
            self.record_context = (tp.topic, tp.partition, offset, timestamp, headers, raw_key, raw_value)
            # Partition and stream time: the highest timestamp processed (Kafka's RecordQueue).
            if timestamp > queue.partition_time:
                queue.partition_time = timestamp
                if timestamp > self.stream_time:
                    self.stream_time = timestamp
            queue.entry(Record(key, value, timestamp, headers))
            processed += 1
            if self.stream_time >= stream_schedules.next_deadline_ms:
                self._punctuate(stream_schedules, self.stream_time)
        self.record_context = _NO_RECORD
        self.metrics.records_processed += processed
        return processed

    def on_processing_error(self, error: Exception, node_name: str, record: Record) -> None:
        topic, partition, offset, timestamp, headers, raw_key, raw_value = self.record_context
        self._handle(self._processing_handler, ErrorContext(
            PROCESSING, error, str(self.id), topic, partition, offset,
            record.timestamp if topic is None else timestamp, raw_key, raw_value,
            headers, node_name, handled_at_ms=self.wall_clock_ms(),
        ))

    def _handle(self, handler: ExceptionHandler, context: ErrorContext) -> None:
        try:
            response = handler.handle(context, self._send_raw)
        except Exception as error:
            raise TaskFailedError(f"the {context.kind} handler raised: {error!r}") from error
        if response is HandlerResponse.CONTINUE:
            self.metrics.records_handled[context.kind] += 1
            return
        raise TaskFailedError(context.describe()) from context.error

    def record_dropped(self, node_name: str, reason: str, store: str, window: Any,
                       late_by_ms: int | None) -> None:
        metrics = self.metrics.records_dropped
        metrics[reason] = metrics.get(reason, 0) + 1
        topic, partition, offset, timestamp, headers, raw_key, raw_value = self.record_context
        where = f"{topic}-{partition}@{offset}" if topic is not None else "a punctuation"
        logger.debug("task %s: %s dropped %s record from %s", self.id, node_name, reason, where)
        target = self.config.late_records_topic
        if target is None or topic is None:
            return
        why: list[tuple[str, bytes | None]] = [
            ("__streams.dropped.reason", reason.encode()),
            ("__streams.dropped.node", node_name.encode()),
            ("__streams.dropped.store", store.encode()),
            ("__streams.dropped.topic", topic.encode()),
            ("__streams.dropped.partition", str(partition).encode()),
            ("__streams.dropped.offset", str(offset).encode()),
        ]
        if window is not None:
            why.append(("__streams.dropped.window_start", str(window.start).encode()))
            why.append(("__streams.dropped.window_end", str(window.end).encode()))
        if late_by_ms is not None:
            why.append(("__streams.dropped.late_by_ms", str(late_by_ms).encode()))
        self._send_raw(target, raw_key, raw_value, tuple(headers) + tuple(why), timestamp)

    def _send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, timestamp: int
    ) -> None:
        self.collector.send(topic, key, value, headers, max(timestamp, 0), None)

    # ---------------------------------------------------------------- punctuation

    def schedule(
        self, node_name: str, interval_ms: int, punctuation_type: PunctuationType,
        callback: Punctuator,
    ) -> Cancellable:
        if interval_ms < 1:
            raise ValueError(f"punctuation interval must be >= 1 ms, not {interval_ms}")
        if punctuation_type is PunctuationType.STREAM_TIME:
            schedule = Schedule(node_name, interval_ms, punctuation_type, callback, 0)
            self._stream_schedules.add(schedule)
        else:
            schedule = Schedule(
                node_name, interval_ms, punctuation_type, callback,
                self.wall_clock_ms() + interval_ms,
            )
            self._wall_schedules.add(schedule)
        return schedule

    def punctuate_stream_time(self) -> int:
        if self.stream_time == UNKNOWN_TIME:
            return 0
        return self._punctuate(self._stream_schedules, self.stream_time)

    def punctuate_wall_clock(self, now_ms: int | None = None) -> int:
        now = self.wall_clock_ms() if now_ms is None else now_ms
        if now < self._wall_schedules.next_deadline_ms:
            return 0
        return self._punctuate(self._wall_schedules, now)

    def next_wall_clock_deadline_ms(self) -> float:
        return self._wall_schedules.next_deadline_ms

    def _punctuate(self, queue: ScheduleQueue, now_ms: int) -> int:
        saved = self.record_context
        fired = queue.run_due(now_ms, self._fire)
        self.record_context = saved
        self.metrics.punctuations += fired
        if fired:
            self.commit_requested = True
        return fired

    def _fire(self, schedule: Schedule, now_ms: int) -> None:
        self.record_context = (None, -1, -1, now_ms, (), None, None)
        try:
            schedule.callback(now_ms)
        except TaskFailedError:
            raise
        except Exception as error:
            self.on_processing_error(error, schedule.node_name, Record(None, None, now_ms))

    # ---------------------------------------------------------------- commit and close

    def prepare_commit(self) -> None:
        """Before the producer is flushed and offsets committed: flush what the task holds back.

        Record caches flush here: their updates are emitted downstream and logged.
        """
        if self.state is not None:
            saved = self.record_context
            self.record_context = _NO_RECORD
            self.state.flush_caches()
            self.record_context = saved
        self.commit_requested = False

    def checkpoint(self) -> None:
        """After the producer flushed: write staged state with its changelog offsets."""
        if self.state is not None:
            positions = {queue.tp: self._position(queue) for queue in self._queue_list}
            self.state.checkpoint({tp: p for tp, p in positions.items() if p is not None})

    def commit_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Offsets that moved since the last commit, with partition time in the metadata."""
        offsets = {}
        for queue in self._queue_list:
            offset = self._position(queue)
            if offset is not None and offset != queue.committed_offset:
                offsets[queue.tp] = OffsetAndMetadata(
                    offset, f"{_METADATA_PREFIX}{queue.partition_time}"
                )
        return offsets

    @staticmethod
    def _position(queue: PartitionQueue) -> int | None:
        """The offset of the partition's next record to process."""
        return queue.records[0][4] if queue.records else queue.next_offset

    def mark_committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        for tp, offset in offsets.items():
            queue = self.queues.get(tp)
            if queue is not None:
                queue.committed_offset = offset.offset
        self.commit_requested = False

    def state_store(self, node_name: str, store_name: str) -> Any:
        if store_name in self._global_stores:
            return self._global_stores[store_name]
        node = self._topology.nodes.get(node_name)
        if store_name not in getattr(node, "stores", ()):
            raise StreamsException(
                f"{node_name} asked for store {store_name!r}, which is not connected to it"
            )
        assert self.state is not None
        return self.state.get(store_name)

    def close(self) -> None:
        errors = self.graph.close()
        for error in errors:
            logger.warning("task %s: a processor's close() raised %r", self.id, error)
        if self.state is not None:
            self.state.close()
