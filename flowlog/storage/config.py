"""Per-partition log configuration under Kafka's topic config names.

LOG_CONFIG_KEYS is the single table of keys: name, default (as Kafka prints
it), type, one line of documentation, and the allowed range. from_kafka()
parses and validates a dict of strings against it; to_kafka() prints it back.
The broker's DescribeConfigs and the controller's topic validation both read
this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flowlog.storage.errors import InvalidConfigError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

CLEANUP_POLICIES = ("compact", "delete")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")


@attrs.frozen(slots=True)
class LogConfigKey:
    """One row of the config table."""

    name: str
    default: str
    type: str  # Kafka's type names as DescribeConfigs reports them: int, long, double, string, list
    documentation: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def attribute(self) -> str:
        return self.name.replace(".", "_")


LOG_CONFIG_KEYS: tuple[LogConfigKey, ...] = (
    LogConfigKey("segment.bytes", "1073741824", "int",
                 "Roll a new segment when the active one would exceed this size.", 14, INT32_MAX),
    LogConfigKey("segment.ms", "604800000", "long",
                 "Roll a new segment once the active one's first batch is this old.", 1, INT64_MAX),
    LogConfigKey("segment.index.bytes", "10485760", "int",
                 "Largest size of a segment's offset or time index; a full index rolls the "
                 "segment.", 12, INT32_MAX),
    LogConfigKey("index.interval.bytes", "4096", "int",
                 "Bytes of batches between two sparse offset index entries.", 0, INT32_MAX),
    LogConfigKey("retention.ms", "604800000", "long",
                 "Delete closed segments whose newest timestamp is older than this; -1 keeps "
                 "them forever.", -1, INT64_MAX),
    LogConfigKey("retention.bytes", "-1", "long",
                 "Delete the oldest closed segments while the log is larger than this; -1 is "
                 "no limit.", -1, INT64_MAX),
    LogConfigKey("cleanup.policy", "delete", "list",
                 "delete (retention), compact (keep the latest record per key) or both.",
                 choices=CLEANUP_POLICIES),
    LogConfigKey("delete.retention.ms", "86400000", "long",
                 "How long compaction keeps tombstones (null values) once they are cleaned.",
                 0, INT64_MAX),
    LogConfigKey("min.compaction.lag.ms", "0", "long",
                 "Records younger than this are never compacted.", 0, INT64_MAX),
    LogConfigKey("min.cleanable.dirty.ratio", "0.5", "double",
                 "Compact only when this share of the log is not yet compacted.", 0, 1),
    LogConfigKey("max.message.bytes", "1048588", "int",
                 "Largest record batch accepted, in bytes.", 0, INT32_MAX),
    LogConfigKey("message.timestamp.type", "CreateTime", "string",
                 "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch "
                 "with the broker's clock.", choices=TIMESTAMP_TYPES),
    LogConfigKey("flush.messages", str(INT64_MAX), "long",
                 "fsync after this many appended batches; 1 fsyncs every append.", 1, INT64_MAX),
    LogConfigKey("flush.ms", str(INT64_MAX), "long",
                 "fsync when unflushed data is this old.", 0, INT64_MAX),
    LogConfigKey("compression.type", "producer", "string",
                 "Stored and reported only: batches are kept in the producer's codec.",
                 choices=COMPRESSION_TYPES),
    LogConfigKey("min.insync.replicas", "1", "int",
                 "An acks=all produce needs this many in-sync replicas (the leader included).",
                 1, INT32_MAX),
)

LOG_CONFIG_KEYS_BY_NAME: dict[str, LogConfigKey] = {key.name: key for key in LOG_CONFIG_KEYS}


@attrs.frozen(slots=True)
class LogConfig:
    """Validated log settings. Build with from_kafka() to check them."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    segment_index_bytes: int = 10485760
    index_interval_bytes: int = 4096
    retention_ms: int = 604800000
    retention_bytes: int = -1
    cleanup_policy: tuple[str, ...] = ("delete",)
    delete_retention_ms: int = 86400000
    min_compaction_lag_ms: int = 0
    min_cleanable_dirty_ratio: float = 0.5
    max_message_bytes: int = 1048588
    message_timestamp_type: str = "CreateTime"
    flush_messages: int = INT64_MAX
    flush_ms: int = INT64_MAX
    compression_type: str = "producer"
    min_insync_replicas: int = 1

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    @classmethod
    def from_kafka(
        cls, values: Mapping[str, str], base: LogConfig | None = None
    ) -> LogConfig:
        """Parse Kafka-named string settings over `base` (the defaults if None).

        Raises InvalidConfigError naming the key and what it allows.
        """
        merged = (base or cls()).to_kafka()
        for name, text in values.items():
            if name not in LOG_CONFIG_KEYS_BY_NAME:
                raise InvalidConfigError(
                    f"unknown log config {name!r}; known keys: "
                    + ", ".join(key.name for key in LOG_CONFIG_KEYS)
                )
            if not isinstance(text, str):
                raise InvalidConfigError(f"log config {name!r} must be a string, got {text!r}")
            merged[name] = text
        parsed: dict[str, Any] = {key.attribute: parse_value(key, merged[key.name]) for key in LOG_CONFIG_KEYS}
        return cls(**parsed)

    def to_kafka(self) -> dict[str, str]:
        """Every key with its value as Kafka prints it."""
        return {key.name: format_value(key, getattr(self, key.attribute)) for key in LOG_CONFIG_KEYS}


def parse_value(key: LogConfigKey, text: str) -> int | float | str | tuple[str, ...]:
    """Parse and range-check one value of `key`."""
    parser = _PARSERS[key.type]
    value = parser(key, text.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if key.minimum is not None and value < key.minimum:
            raise InvalidConfigError(_range_message(key, text))
        if key.maximum is not None and value > key.maximum:
            raise InvalidConfigError(_range_message(key, text))
    return value


def format_value(key: LogConfigKey, value: object) -> str:
    if key.type == "list":
        assert isinstance(value, tuple)
        return ",".join(value)
    if key.type == "double":
        assert isinstance(value, float | int)
        return repr(float(value))
    return str(value)


def _range_message(key: LogConfigKey, text: str) -> str:
    low = "" if key.minimum is None else _format_bound(key.minimum)
    high = "" if key.maximum is None else _format_bound(key.maximum)
    return f"log config {key.name!r} = {text!r} is out of range; allowed: [{low}, {high}]"


def _format_bound(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _parse_integer(key: LogConfigKey, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidConfigError(
            f"log config {key.name!r} = {text!r} is not an integer ({key.type})"
        ) from None


def _parse_double(key: LogConfigKey, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidConfigError(f"log config {key.name!r} = {text!r} is not a number") from None
    if value != value:  # NaN passes every range check, so reject it by name.
        raise InvalidConfigError(f"log config {key.name!r} = {text!r} is not a number")
    return value


def _parse_string(key: LogConfigKey, text: str) -> str:
    if key.choices and text not in key.choices:
        raise InvalidConfigError(
            f"log config {key.name!r} = {text!r} is not allowed; allowed values: "
            + ", ".join(key.choices)
        )
    return text


def _parse_list(key: LogConfigKey, text: str) -> tuple[str, ...]:
    items = tuple(sorted({item.strip() for item in text.split(",") if item.strip()}))
    if not items:
        raise InvalidConfigError(
            f"log config {key.name!r} is empty; allowed values: " + ", ".join(key.choices)
        )
    for item in items:
        _parse_string(key, item)
    return items


_PARSERS: dict[str, Callable[[LogConfigKey, str], int | float | str | tuple[str, ...]]] = {
    "int": _parse_integer,
    "long": _parse_integer,
    "double": _parse_double,
    "string": _parse_string,
    "list": _parse_list,
}
