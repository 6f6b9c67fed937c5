"""A task's live processor graph: fresh processors from the topology, one context per node.

Forwarding is a loop over the children's `process` methods; each call is
guarded, so an exception raised by one node goes to the processing handler
with that node's name (Kafka Streams' KIP-1033 semantics: CONTINUE abandons
that node's work, what was already forwarded stays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowlog_streams.change_serde import resolve_serde
from flowlog_streams.errors import StreamsException, TaskFailedError
from flowlog_streams.processor import (
    Cancellable,
    Headers,
    Processor,
    PunctuationType,
    Punctuator,
    Record,
    RecordMetadata,
)
from flowlog_streams.topology import ProcessorNode, SinkNode, SourceNode, Topology

if TYPE_CHECKING:
    from flowlog_streams.task import StreamTask
    from flowlog_streams.task_id import TaskId

Child = tuple[str, Callable[[Record], None]]


class NodeContext:
    """ProcessorContext of one node in one task."""

    __slots__ = ("_task", "_name", "_children", "_by_name", "_only")

    def __init__(self, task: StreamTask, name: str) -> None:
        self._task = task
        self._name = name
        self._children: list[Child] = []
        self._by_name: dict[str, list[Child]] = {}
        # The one child of a chain link: forwarded to without a loop.
        self._only: Child | None = None

    def add_child(self, name: str, process: Callable[[Record], None]) -> None:
        self._children.append((name, process))
        self._by_name[name] = [(name, process)]
        self._only = self._children[0] if len(self._children) == 1 else None

    def forward(self, record: Record, child_name: str | None = None) -> None:
        if child_name is None and self._only is not None:
            try:
                self._only[1](record)
            except TaskFailedError:
                raise
            except Exception as error:
                self._task.on_processing_error(error, self._only[0], record)
            return
        if child_name is None:
            children = self._children
        else:
            found = self._by_name.get(child_name)
            if found is None:
                raise StreamsException(
                    f"{self._name} has no child {child_name!r}; children: {sorted(self._by_name)}"
                )
            children = found
        for name, process in children:
            try:
                process(record)
            except TaskFailedError:
                raise
            except Exception as error:
                self._task.on_processing_error(error, name, record)

    @property
    def application_id(self) -> str:
        return self._task.application_id

    @property
    def task_id(self) -> TaskId:
        return self._task.id

    @property
    def node_name(self) -> str:
        return self._name

    @property
    def topic(self) -> str | None:
        return self._task.record_context[0]

    @property
    def partition(self) -> int:
        return self._task.record_context[1]

    @property
    def offset(self) -> int:
        return self._task.record_context[2]

    @property
    def timestamp(self) -> int:
        return self._task.record_context[3]

    @property
    def headers(self) -> Headers:
        return self._task.record_context[4]

    def record_metadata(self) -> RecordMetadata | None:
        topic, partition, offset = self._task.record_context[:3]
        return None if topic is None else RecordMetadata(topic, partition, offset)

    def schedule(
        self, interval_ms: int, punctuation_type: PunctuationType, callback: Punctuator
    ) -> Cancellable:
        return self._task.schedule(self._name, interval_ms, punctuation_type, callback)

    def commit(self) -> None:
        self._task.commit_requested = True

    def record_dropped(self, reason: str, store: str, window: Any = None,
                       late_by_ms: int | None = None) -> None:
        """An operator drops the record in hand: count it, and dead-letter it if configured."""
        self._task.record_dropped(self._name, reason, store, window, late_by_ms)

    def current_stream_time_ms(self) -> int:
        return self._task.stream_time

    def current_system_time_ms(self) -> int:
        return self._task.wall_clock_ms()

    def get_state_store(self, name: str) -> Any:
        return self._task.state_store(self._name, name)

    @property
    def app_config(self) -> Any:
        return self._task.config


class SourceProcessor(Processor):
    """Entry of records into the graph: the task deserializes, the source forwards."""

    def process(self, record: Record) -> None:
        self.context.forward(record)


class SinkProcessor(Processor):
    """Serialize and hand to the collector; the topic comes from the sink or its chooser."""

    def __init__(self, node: SinkNode, task: StreamTask) -> None:
        config = task.config
        self._node = node
        self._task = task
        self._topic = task.topics.decorate(node.topic) if node.topic is not None else None
        self._serialize_key = resolve_serde(node.key_serde, config.default_key_serde).serialize
        self._serialize_value = resolve_serde(node.value_serde, config.default_value_serde).serialize
        self._send = task.collector.send
        self._metrics = task.metrics

    def process(self, record: Record) -> None:
        topic = self._topic
        if topic is None:
            assert self._node.chooser is not None
            topic = self._node.chooser(record.key, record.value, self.context.record_metadata())
            if not isinstance(topic, str) or not topic:
                raise StreamsException(f"topic chooser of {self._node.name} returned {topic!r}")
        key = self._serialize_key(topic, record.key)
        value = self._serialize_value(topic, record.value)
        partition = None
        if self._node.partitioner is not None:
            count = self._task.collector.partition_count(topic)
            partition = self._node.partitioner(topic, record.key, record.value, count)
            if partition is not None and not 0 <= partition < count:
                raise StreamsException(
                    f"partitioner of {self._node.name} chose partition {partition} of {topic!r}, "
                    f"which has {count}"
                )
        self._send(topic, key, value, record.headers, record.timestamp, partition)
        self._metrics.records_produced += 1


class TaskGraph:
    """The instantiated nodes of one sub-topology for one task."""

    def __init__(self, topology: Topology, subtopology_id: int, task: StreamTask) -> None:
        subtopology = topology.subtopologies()[subtopology_id]
        self.processors: dict[str, Processor] = {}
        self.contexts: dict[str, NodeContext] = {}
        for name in subtopology.node_names:
            node = topology.nodes[name]
            if isinstance(node, SourceNode):
                processor: Processor = SourceProcessor()
            elif isinstance(node, ProcessorNode):
                processor = node.supplier()
                if not isinstance(processor, Processor) and not callable(
                    getattr(processor, "process", None)
                ):
                    raise StreamsException(
                        f"the supplier of {name} returned {processor!r}, not a Processor"
                    )
            else:
                processor = SinkProcessor(node, task)
            self.processors[name] = processor
            self.contexts[name] = NodeContext(task, name)
        for name in subtopology.node_names:
            for child in topology.children(name):
                self.contexts[name].add_child(child, self.processors[child].process)
        # Entry points by source node name: the source's forward.
        self.entries: dict[str, Callable[[Record], None]] = {
            name: self.contexts[name].forward
            for name in subtopology.source_names
        }

    def init(self) -> None:
        for name, processor in self.processors.items():
            processor.init(self.contexts[name])

    def close(self) -> list[BaseException]:
        errors: list[BaseException] = []
        for processor in self.processors.values():
            try:
                processor.close()
            except Exception as error:  # close every processor, report all failures
                errors.append(error)
        return errors
