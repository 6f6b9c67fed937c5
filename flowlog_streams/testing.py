"""TopologyTestDriver: run a topology on the very same task objects as the runtime, with no broker.

    with TopologyTestDriver(topology, start_time_ms=0) as driver:
        inp = driver.create_input_topic("page-views", Serdes.str(), Serdes.json(PageView))
        out = driver.create_output_topic("pages", Serdes.str(), Serdes.str())
        inp.pipe_input("u1", PageView("u1", "/a", 1000), timestamp=1000)
        assert out.read_key_values_to_list() == [("u1", "/a")]

Deterministic: wall-clock time is a mock that moves only with
`advance_wall_clock_time`. Each piped record is processed through every
sub-topology (repartition topics are traversed inside the driver), then
stream-time punctuation runs and every task commits, as Kafka Streams'
driver does. Unlike Kafka Streams' driver, input topics may have several
partitions (`partitions=N`): records are spread by murmur2 of the key, as a
producer would, and each partition index is its own task.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flowlog.client.types import ConsumerRecord, TopicPartition
from flowlog.protocol.murmur2 import partition_for_key
from flowlog_streams.config import StreamsConfig, build_config
from flowlog_streams.errors import StreamsException, TopologyException
from flowlog_streams.global_table import GlobalStateManager
from flowlog_streams.partitions import (
    DEFAULT_PARTITIONS,
    check_copartitioned,
    internal_partition_counts,
    plan_tasks,
)
from flowlog_streams.processor import Headers
from flowlog_streams.serdes import Serde
from flowlog_streams.store_factory import store_opener
from flowlog_streams.stores import RocksResources
from flowlog_streams.task import StreamTask
from flowlog_streams.task_id import TaskId
from flowlog_streams.topics import resolve_topics
from flowlog_streams.topology import Topology

DRIVER_APPLICATION_ID = "topology-test-driver"
# Records one pipe may cause through repartition loops before the driver calls it a cycle.
PROCESSING_STEPS_MAX = 1_000_000


class NoSuchElementError(LookupError):
    """Reading from an output topic that has no record left."""


@attrs.frozen
class TestRecord:
    key: Any
    value: Any
    timestamp: int | None = None
    headers: Headers = ()

    __test__ = False  # not a pytest test class


# key, value, timestamp, headers: as written by a sink, read back by a TestOutputTopic.
_Produced = tuple[bytes | None, bytes | None, int, Headers]


class TopologyTestDriver:
    def __init__(
        self,
        topology: Topology,
        config: Mapping[str, Any] | StreamsConfig | None = None,
        start_time_ms: int = 0,
    ) -> None:
        if isinstance(config, StreamsConfig):
            self.config = config
        else:
            options = {"application_id": DRIVER_APPLICATION_ID, **dict(config or {})}
            self.config = build_config(options)
        self.topology = topology
        self.wall_clock_ms = start_time_ms
        # Stores are real (RocksDB unless in memory), in a scratch state dir removed on close,
        # as Kafka Streams' driver does; every run starts empty.
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._resources: RocksResources | None = None
        self._open_store: Any = None
        specs = [*topology.stores.values(), *(g.spec for g in topology.global_stores.values())]
        if specs:
            self._scratch = tempfile.TemporaryDirectory(prefix="flowlog-driver-")
            self.config = attrs.evolve(self.config, state_dir=self._scratch.name)
            if not all(spec.in_memory for spec in specs):
                self._resources = RocksResources(self.config.rocksdb_cache_bytes)
            self._open_store = store_opener(self._resources)
        # Global tables: records piped to their topics go straight into their stores.
        self._globals = (
            GlobalStateManager(topology.global_stores, self.config, self._open_store)
            if topology.global_stores else None
        )
        self._global_offsets: dict[str, int] = {}
        self._topics = resolve_topics(topology, self.config.application_id)
        self._deserialization_handler = self.config.deserialization_handler()
        self._processing_handler = self.config.processing_handler()
        self._input_partitions: dict[str, int] = {}
        self._output_partitions: dict[str, int] = {}
        self._partitions_of: dict[str, list[_InputPartition]] = {}
        self._internal: frozenset[str] = frozenset()
        self._outputs: dict[str, deque[_Produced]] = {}
        # Records ever written per topic (internal ones too); reading does not lower it.
        self._produced: dict[str, int] = {}
        self._internal_counts: dict[str, int] = {}
        self._changelog_offsets: dict[tuple[str, int], int] = {}
        self._tasks: dict[TaskId, StreamTask] = {}
        self._task_of: dict[TopicPartition, StreamTask] = {}
        self._pending: deque[StreamTask] = deque()
        self._round_robin = itertools.count()
        self._closed = False

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> TopologyTestDriver:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks.values():
            task.close()
        if self._globals is not None:
            self._globals.close()
        if self._resources is not None:
            self._resources.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    # ---------------------------------------------------------------- topics

    def create_input_topic(
        self,
        name: str,
        key_serde: Serde,
        value_serde: Serde,
        *,
        partitions: int = 1,
        start_timestamp_ms: int | None = None,
        auto_advance_ms: int = 0,
    ) -> TestInputTopic:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        if self._globals is not None and name in self._globals.topics:
            return TestInputTopic(self, name, key_serde, value_serde, start_timestamp_ms,
                                  auto_advance_ms)
        if name not in self._topics.sources and not self._topics.add_matching(self.topology, name):
            raise TopologyException(f"{name!r} is not a source topic of the topology")
        known = self._input_partitions.get(name)
        if known is not None and known != partitions:
            raise TopologyException(f"input topic {name!r} already has {known} partitions")
        if self._tasks and known is None:
            self._check_late_topic(name, partitions)
        self._input_partitions[name] = partitions
        return TestInputTopic(self, name, key_serde, value_serde, start_timestamp_ms, auto_advance_ms)

    def create_output_topic(
        self, name: str, key_serde: Serde, value_serde: Serde, *, partitions: int = 1
    ) -> TestOutputTopic:
        self._output_partitions.setdefault(name, partitions)
        return TestOutputTopic(self, name, key_serde, value_serde)

    def producer_count(self, topic: str) -> int:
        """Records written to `topic` so far (read or not; internal topics count too)."""
        return self._produced.get(topic, 0)

    # ---------------------------------------------------------------- time

    def advance_wall_clock_time(self, ms: int) -> None:
        """Move the mock clock and run every wall-clock punctuation that falls due."""
        if ms < 0:
            raise ValueError("wall-clock time only moves forward")
        self._ensure_tasks()
        self.wall_clock_ms += ms
        for task in self._tasks.values():
            task.punctuate_wall_clock(self.wall_clock_ms)
        self._drain()

    # ---------------------------------------------------------------- piping

    def _pipe(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
              headers: Headers, partition: int | None) -> None:
        if self._closed:
            raise StreamsException("the driver is closed")
        if self._globals is not None and topic in self._globals.topics:
            # As the global task applies it: raw, at once, before any later stream record.
            offset = self._global_offsets.get(topic, 0)
            self._global_offsets[topic] = offset + 1
            self._globals.apply(TopicPartition(topic, 0), [
                ConsumerRecord(topic, 0, offset, timestamp, key, value, headers)
            ])
            return
        if not self._tasks:
            self._ensure_tasks()
        self._enqueue(topic, key, value, timestamp, headers, partition)
        self._drain()

    def _enqueue(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
                 headers: Headers, partition: int | None) -> None:
        partitions = self._partitions_of[topic]
        if partition is None:
            count = len(partitions)
            if count == 1:
                partition = 0
            elif key is not None:
                partition = partition_for_key(key, count)
            else:
                partition = next(self._round_robin) % count
        elif not 0 <= partition < len(partitions):
            raise StreamsException(f"{topic!r} has no partition {partition}")
        entry = partitions[partition]
        offset = entry.next_offset
        entry.next_offset = offset + 1
        entry.task.add_records(entry.tp, (
            ConsumerRecord(topic, partition, offset, timestamp, key, value, headers),
        ))
        self._pending.append(entry.task)

    def _drain(self) -> None:
        pending = self._pending
        steps = 0
        while pending:
            task = pending.popleft()
            task.process(PROCESSING_STEPS_MAX, self.wall_clock_ms)
            self._commit(task)
            steps += 1
            if steps < PROCESSING_STEPS_MAX:
                continue
            raise StreamsException(
                f"one piped record caused over {PROCESSING_STEPS_MAX} processing steps: a cycle?"
            )

    def _commit(self, task: StreamTask) -> None:
        # No broker, so no input offsets to store: what matters is that held-back output is
        # flushed and state checkpointed, as after a real commit.
        task.prepare_commit()
        task.checkpoint()

    # ---------------------------------------------------------------- tasks

    def _ensure_tasks(self) -> None:
        if self._tasks:
            return
        counts = {t: self._input_partitions.get(t, DEFAULT_PARTITIONS)
                  for t in self._topics.sources if t not in self._topics.internal_topics()}
        self._internal_counts = internal_partition_counts(self.topology, self._topics, counts)
        for topic, count in counts.items():
            self._input_partitions.setdefault(topic, count)
        counts.update(self._internal_counts)
        check_copartitioned(self.topology, self._topics, counts)
        for task_id, tps in plan_tasks(self._topics, counts).items():
            task = StreamTask(
                task_id, self.topology, self._topics, tps, _DriverCollector(self), self.config,
                wall_clock_ms=lambda: self.wall_clock_ms,
                deserialization_handler=self._deserialization_handler,
                processing_handler=self._processing_handler, open_store=self._open_store,
                global_stores=self._globals.stores if self._globals is not None else None,
            )
            self._tasks[task_id] = task
            for tp in tps:
                self._task_of[tp] = task
        for topic, count in counts.items():
            if topic not in self._topics.sources:
                continue  # changelogs: written, never read back in the driver
            self._partitions_of[topic] = [
                _InputPartition(TopicPartition(topic, p), self._task_of[TopicPartition(topic, p)])
                for p in range(count)
            ]
        self._internal = frozenset(self._topics.internal_topics())

    def _check_late_topic(self, name: str, partitions: int) -> None:
        existing = {tp.partition for tp in self._task_of if tp.topic == name}
        if partitions > max(existing, default=-1) + 1:
            raise TopologyException(
                f"create input topic {name!r} before piping the first record: the tasks were "
                f"planned with {len(existing)} partition(s) for it"
            )

    # ---------------------------------------------------------------- output

    def _produce(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers,
                 timestamp: int, partition: int | None) -> None:
        self._produced[topic] = self._produced.get(topic, 0) + 1
        if topic in self._partitions_of:
            self._enqueue(topic, key, value, timestamp, headers, partition)
        if topic not in self._internal:
            self._outputs.setdefault(topic, deque()).append((key, value, timestamp, headers))

    def _read(self, topic: str) -> _Produced:
        records = self._outputs.get(topic)
        if not records:
            raise NoSuchElementError(f"output topic {topic!r} is empty")
        return records.popleft()

    def _queue_size(self, topic: str) -> int:
        return len(self._outputs.get(topic, ()))

    def metrics(self) -> dict[str, Any]:
        return {str(task_id): attrs.asdict(task.metrics) for task_id, task in self._tasks.items()}


class _InputPartition:
    __slots__ = ("tp", "task", "next_offset")

    def __init__(self, tp: TopicPartition, task: StreamTask) -> None:
        self.tp = tp
        self.task = task
        self.next_offset = 0


class _DriverCollector:
    def __init__(self, driver: TopologyTestDriver) -> None:
        self._driver = driver

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers,
             timestamp: int, partition: int | None) -> None:
        if headers.__class__ is not tuple:
            headers = tuple(headers)
        self._driver._produce(topic, key, value, headers, timestamp, partition)

    def send_changelog(self, topic: str, partition: int, key: bytes, value: bytes | None,
                       timestamp: int) -> None:
        # Changelogs are not read back in the driver: only their offsets matter (checkpoints).
        offsets = self._driver._changelog_offsets
        offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1

    def changelog_offset(self, topic: str, partition: int) -> int | None:
        return self._driver._changelog_offsets.get((topic, partition))

    def partition_count(self, topic: str) -> int:
        driver = self._driver
        return (driver._input_partitions.get(topic) or driver._internal_counts.get(topic)
                or driver._output_partitions.get(topic) or DEFAULT_PARTITIONS)


def _headers(headers: Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None) -> Headers:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), None if v is None else bytes(v)) for k, v in items)


class TestInputTopic:
    __test__ = False  # not a pytest test class

    def __init__(self, driver: TopologyTestDriver, name: str, key_serde: Serde, value_serde: Serde,
                 start_timestamp_ms: int | None, auto_advance_ms: int) -> None:
        self._driver = driver
        self.name = name
        self._serialize_key = key_serde.serialize
        self._serialize_value = value_serde.serialize
        self._next_timestamp = start_timestamp_ms
        self._auto_advance_ms = auto_advance_ms

    def _timestamp(self, timestamp: int | None) -> int:
        if timestamp is not None:
            return timestamp
        if self._next_timestamp is None:
            return self._driver.wall_clock_ms
        current = self._next_timestamp
        self._next_timestamp += self._auto_advance_ms
        return current

    def pipe_input(
        self,
        key: Any,
        value: Any,
        timestamp: int | None = None,
        headers: Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None = None,
        *,
        partition: int | None = None,
    ) -> None:
        """Pipe one record; the timestamp defaults to the topic's clock or the driver's wall clock."""
        name = self.name
        self._driver._pipe(
            name, self._serialize_key(name, key), self._serialize_value(name, value),
            self._timestamp(timestamp), () if headers is None else _headers(headers), partition,
        )

    def pipe_value(self, value: Any, timestamp: int | None = None) -> None:
        self.pipe_input(None, value, timestamp)

    def pipe_records(self, records: Iterable[TestRecord]) -> None:
        for record in records:
            self.pipe_input(record.key, record.value, record.timestamp, record.headers)

    def pipe_key_value_list(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        for key, value in pairs:
            self.pipe_input(key, value)

    def pipe_value_list(self, values: Iterable[Any]) -> None:
        for value in values:
            self.pipe_input(None, value)


class TestOutputTopic:
    __test__ = False  # not a pytest test class

    def __init__(self, driver: TopologyTestDriver, name: str, key_serde: Serde,
                 value_serde: Serde) -> None:
        self._driver = driver
        self.name = name
        self._key_serde = key_serde
        self._value_serde = value_serde

    def read_record(self) -> TestRecord:
        key, value, timestamp, headers = self._driver._read(self.name)
        return TestRecord(
            self._key_serde.deserialize(self.name, key),
            self._value_serde.deserialize(self.name, value),
            timestamp, headers,
        )

    def read_value(self) -> Any:
        return self.read_record().value

    def read_key_value(self) -> tuple[Any, Any]:
        record = self.read_record()
        return record.key, record.value

    def read_records_to_list(self) -> list[TestRecord]:
        return [self.read_record() for _ in range(self.get_queue_size())]

    def read_values_to_list(self) -> list[Any]:
        return [record.value for record in self.read_records_to_list()]

    def read_key_values_to_list(self) -> list[tuple[Any, Any]]:
        return [(record.key, record.value) for record in self.read_records_to_list()]

    def read_key_values_to_map(self) -> dict[Any, Any]:
        """Last value per key; a tombstone leaves the key mapped to None (as Kafka Streams' driver)."""
        result: dict[Any, Any] = {}
        for record in self.read_records_to_list():
            if record.key is None:
                raise StreamsException("read_key_values_to_map: a record has a null key")
            result[record.key] = record.value
        return result

    def get_queue_size(self) -> int:
        return self._driver._queue_size(self.name)

    def is_empty(self) -> bool:
        return self.get_queue_size() == 0
