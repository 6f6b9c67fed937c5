"""Kafka-Streams-style stream processing on flowlog (or any Kafka-compatible cluster).

    from flowlog_streams import StreamsBuilder, StreamsApp, Serdes

Every public name is importable from here; see docs/streams.md.
"""

from flowlog_streams.aggregate_processors import Change
from flowlog_streams.app import StreamsApp
from flowlog_streams.builder import StreamsBuilder
from flowlog_streams.config import StreamsConfig
from flowlog_streams.errors import (
    MissingSourceTopicError,
    SerializationError,
    StreamsException,
    TaskFailedError,
    TopologyException,
)
from flowlog_streams.global_table import GlobalKTable
from flowlog_streams.handlers import (
    DeadLetterQueue,
    ErrorContext,
    ExceptionHandler,
    HandlerResponse,
    LogAndContinue,
    LogAndFail,
)
from flowlog_streams.kgrouped import KGroupedStream, TimeWindowedKStream
from flowlog_streams.kgrouped_table import KGroupedTable
from flowlog_streams.kstream import BranchedKStream, KStream
from flowlog_streams.ktable import KTable
from flowlog_streams.materialized import Materialized
from flowlog_streams.processor import (
    Cancellable,
    Processor,
    ProcessorContext,
    ProcessorSupplier,
    PunctuationType,
    Record,
    RecordMetadata,
)
from flowlog_streams.restorer import RestoreListener, RestoreProgress
from flowlog_streams.serdes import Serde, Serdes
from flowlog_streams.states import State, StateListener
from flowlog_streams.stream_joined import StreamJoined
from flowlog_streams.suppress import BufferConfig, Suppressed
from flowlog_streams.task_id import TaskId
from flowlog_streams.topology import StoreSpec, Topology
from flowlog_streams.windows import (
    JoinWindows,
    SessionWindows,
    SlidingWindows,
    TimeWindows,
    Window,
    Windowed,
    WindowedSerde,
)

__all__ = [
    "BranchedKStream",
    "BufferConfig",
    "Cancellable",
    "Change",
    "DeadLetterQueue",
    "ErrorContext",
    "ExceptionHandler",
    "HandlerResponse",
    "GlobalKTable",
    "JoinWindows",
    "KGroupedStream",
    "KGroupedTable",
    "KStream",
    "KTable",
    "LogAndContinue",
    "LogAndFail",
    "Materialized",
    "MissingSourceTopicError",
    "Processor",
    "ProcessorContext",
    "ProcessorSupplier",
    "PunctuationType",
    "Record",
    "RecordMetadata",
    "RestoreListener",
    "RestoreProgress",
    "Serde",
    "Serdes",
    "SerializationError",
    "SessionWindows",
    "SlidingWindows",
    "State",
    "StateListener",
    "StoreSpec",
    "StreamJoined",
    "StreamsApp",
    "StreamsBuilder",
    "StreamsConfig",
    "StreamsException",
    "Suppressed",
    "TaskFailedError",
    "TaskId",
    "TimeWindowedKStream",
    "TimeWindows",
    "Topology",
    "TopologyException",
    "Window",
    "Windowed",
    "WindowedSerde",
]
