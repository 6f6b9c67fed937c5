"""The Processor API: what the DSL compiles to and what users write by hand.

    class Dedupe(Processor):
        def init(self, context: ProcessorContext) -> None:
            self.context = context
            context.schedule(10_000, PunctuationType.WALL_CLOCK_TIME, self.flush)

        def process(self, record: Record) -> None:
            self.context.forward(record.with_value(record.value.upper()))

A Record is the unit that flows between processors (key, value, timestamp,
headers); the record's source topic, partition and offset are read from the
context, as in Kafka Streams' `ProcessorContext.recordMetadata()`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from flowlog_streams.task_id import TaskId

Headers = tuple[tuple[str, bytes | None], ...]


class PunctuationType(enum.Enum):
    STREAM_TIME = "stream_time"          # driven by the task's record timestamps
    WALL_CLOCK_TIME = "wall_clock_time"  # driven by the system clock (the driver's mock clock in tests)


class Record:
    """An immutable record between processors; `with_*` give modified copies."""

    __slots__ = ("key", "value", "timestamp", "headers")

    def __init__(self, key: Any, value: Any, timestamp: int, headers: Headers = ()) -> None:
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers

    def with_key(self, key: Any) -> Record:
        return Record(key, self.value, self.timestamp, self.headers)

    def with_value(self, value: Any) -> Record:
        return Record(self.key, value, self.timestamp, self.headers)

    def with_timestamp(self, timestamp: int) -> Record:
        return Record(self.key, self.value, timestamp, self.headers)

    def with_headers(self, headers: Headers) -> Record:
        return Record(self.key, self.value, self.timestamp, tuple(headers))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.key, self.value, self.timestamp, self.headers) == (
            other.key, other.value, other.timestamp, other.headers
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Record(key={self.key!r}, value={self.value!r}, timestamp={self.timestamp}, "
            f"headers={self.headers!r})"
        )


@attrs.frozen(slots=True)
class RecordMetadata:
    """Where the record being processed came from (None inside a punctuation)."""

    topic: str
    partition: int
    offset: int


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Punctuator = Callable[[int], None]


class ProcessorContext(Protocol):
    """What a processor sees of its task; one per processor node."""

    @property
    def application_id(self) -> str: ...

    @property
    def task_id(self) -> TaskId: ...

    @property
    def node_name(self) -> str: ...

    @property
    def topic(self) -> str | None: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    def record_metadata(self) -> RecordMetadata | None: ...

    def forward(self, record: Record, child_name: str | None = None) -> None: ...

    def schedule(
        self, interval_ms: int, punctuation_type: PunctuationType, callback: Punctuator
    ) -> Cancellable: ...

    def commit(self) -> None: ...

    def current_stream_time_ms(self) -> int: ...

    def current_system_time_ms(self) -> int: ...

    def get_state_store(self, name: str) -> Any: ...

    @property
    def app_config(self) -> Any: ...


class Processor:
    """Subclass and override process(); init() and close() are optional."""

    def init(self, context: ProcessorContext) -> None:
        """Called once before the first record; keep the context to forward and schedule."""
        self.context = context

    def process(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called once when the task closes (revoked, shut down)."""


ProcessorSupplier = Callable[[], Processor]
