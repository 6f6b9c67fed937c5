"""What happens to a record that cannot be processed: fail, skip (logged and counted) or dead-letter.

`deserialization_exception_handler` takes records whose key or value does not
deserialize or whose timestamp is invalid; `processing_exception_handler`
takes records for which a user function (or a sink's serializer) raised.
Each accepts "log_and_fail" (Kafka Streams' default: the app stops with the
error), "log_and_continue", a `DeadLetterQueue(topic)`, or any object with
`handle(error: ErrorContext, send: DeadLetterSend) -> HandlerResponse`.
"""

from __future__ import annotations

import enum
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from flowlog_streams.processor import Headers

logger = logging.getLogger("flowlog_streams.errors")

DESERIALIZATION = "deserialization"
PROCESSING = "processing"

# Header names of a dead-lettered record (KIP-1034's where they exist).
HEADER_EXCEPTION = "__streams.errors.exception"
HEADER_MESSAGE = "__streams.errors.message"
HEADER_STACKTRACE = "__streams.errors.stacktrace"
HEADER_TOPIC = "__streams.errors.topic"
HEADER_PARTITION = "__streams.errors.partition"
HEADER_OFFSET = "__streams.errors.offset"
HEADER_KIND = "__streams.errors.kind"
HEADER_NODE = "__streams.errors.node"
HEADER_TASK = "__streams.errors.task"
HEADER_TIME = "__streams.errors.time_ms"
# A stack trace header is bounded so one bad record cannot make a huge message.
STACKTRACE_BYTES_MAX = 8 * 1024


class HandlerResponse(enum.Enum):
    CONTINUE = "continue"
    FAIL = "fail"


@attrs.frozen
class ErrorContext:
    """Everything known about a record that failed, raw bytes included."""

    kind: str  # DESERIALIZATION or PROCESSING
    error: BaseException
    task_id: str
    topic: str | None
    partition: int
    offset: int
    timestamp: int
    raw_key: bytes | None
    raw_value: bytes | None
    headers: Headers
    node_name: str | None = None
    # When it was handled: the app's wall clock (the test driver's mock clock in tests).
    handled_at_ms: int = attrs.field(factory=lambda: int(time.time() * 1000), kw_only=True)

    def describe(self) -> str:
        where = f"{self.topic}-{self.partition}@{self.offset}" if self.topic else "a punctuation"
        node = f" in {self.node_name}" if self.node_name else ""
        return (
            f"{self.kind} error on {where} (task {self.task_id}{node}): "
            f"{type(self.error).__name__}: {self.error}"
        )


# send(topic, key, value, headers, timestamp): produce a raw record (the task's collector).
DeadLetterSend = Callable[[str, bytes | None, bytes | None, Headers, int], None]


class ExceptionHandler(Protocol):
    def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse: ...


class LogAndFail:
    def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
        logger.error("%s; failing (log_and_fail)", error.describe())
        return HandlerResponse.FAIL

    def __repr__(self) -> str:
        return "'log_and_fail'"


class LogAndContinue:
    def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
        logger.warning("%s; skipping the record (log_and_continue)", error.describe())
        return HandlerResponse.CONTINUE

    def __repr__(self) -> str:
        return "'log_and_continue'"


class DeadLetterQueue:
    """Write the raw record to `topic` with headers saying why, from where and when, then continue."""

    def __init__(self, topic: str) -> None:
        if not topic:
            raise ValueError("DeadLetterQueue needs a topic name")
        self.topic = topic

    def handle(self, error: ErrorContext, send: DeadLetterSend) -> HandlerResponse:
        logger.warning("%s; sent to dead-letter topic %r", error.describe(), self.topic)
        send(self.topic, error.raw_key, error.raw_value, dead_letter_headers(error), error.timestamp)
        return HandlerResponse.CONTINUE

    def __repr__(self) -> str:
        return f"DeadLetterQueue({self.topic!r})"


def dead_letter_headers(error: ErrorContext) -> Headers:
    stack = "".join(traceback.format_exception(error.error)).encode()[-STACKTRACE_BYTES_MAX:]
    own: list[tuple[str, bytes | None]] = [
        (HEADER_KIND, error.kind.encode()),
        (HEADER_EXCEPTION, type(error.error).__qualname__.encode()),
        (HEADER_MESSAGE, str(error.error).encode()),
        (HEADER_STACKTRACE, stack),
        (HEADER_TOPIC, (error.topic or "").encode()),
        (HEADER_PARTITION, str(error.partition).encode()),
        (HEADER_OFFSET, str(error.offset).encode()),
        (HEADER_TASK, error.task_id.encode()),
        (HEADER_TIME, str(error.handled_at_ms).encode()),
    ]
    if error.node_name:
        own.append((HEADER_NODE, error.node_name.encode()))
    return tuple(error.headers) + tuple(own)


_NAMED: dict[str, Callable[[], ExceptionHandler]] = {
    "log_and_fail": LogAndFail,
    "log_and_continue": LogAndContinue,
}


def resolve_handler(spec: Any, what: str) -> ExceptionHandler:
    if isinstance(spec, str):
        factory = _NAMED.get(spec)
        if factory is None:
            raise ValueError(
                f"{what}: unknown handler {spec!r}; use 'log_and_fail', 'log_and_continue', "
                f"DeadLetterQueue(topic) or an object with handle(error, send)"
            )
        return factory()
    if callable(getattr(spec, "handle", None)):
        return spec
    raise ValueError(f"{what}: {spec!r} is not a handler")
