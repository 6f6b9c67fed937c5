"""Errors raised by the partition log.

record_batch.InvalidBatchError and CorruptBatchError surface unchanged from
append; these cover what only the log can know.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the log's own errors."""


class OffsetOutOfRangeError(StorageError):
    """An offset below the log start offset or above the log end offset."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(
            f"offset {offset} is outside the log range "
            f"[{log_start_offset}, {log_end_offset}] (log start, log end)"
        )
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class CorruptLogError(StorageError):
    """Files of a partition that recovery cannot make sense of."""


class InvalidConfigError(ValueError):
    """A log config key that is unknown or has a value outside what it allows."""


class RecordBatchTooLargeError(StorageError, ValueError):
    """A batch above max.message.bytes (Kafka's MESSAGE_TOO_LARGE)."""


class InvalidAppendOffsetError(StorageError, ValueError):
    """A replicated batch whose base offset is below the log end offset."""


class LogClosedError(StorageError):
    """An operation on a log after close()."""


class SliceTruncatedError(StorageError):
    """A FileSlice whose segment was truncated before all of it was sent or read.

    Its bytes were promised in a response size already; the connection must end.
    """
