"""The streams library's exceptions (Kafka Streams' names where they exist)."""

from __future__ import annotations


class StreamsException(Exception):
    """Base of every error flowlog_streams raises on its own."""


class TopologyException(StreamsException):
    """The topology is invalid: a bad name, a duplicate, a missing parent, mismatched partitions."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid topology: {message}")


class SerializationError(StreamsException):
    """A serde could not turn bytes into an object or back."""


class MissingSourceTopicError(StreamsException):
    """A source topic does not exist on the cluster (and auto_create_topics is off)."""


class TaskFailedError(StreamsException):
    """A handler chose to fail: processing stops and the app goes to ERROR."""
