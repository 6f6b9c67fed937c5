"""StreamsConfig: the app's settings, checked once, with Kafka Streams' defaults.

Unknown names and bad values raise ValueError naming the setting.
"""

from __future__ import annotations

from typing import Any

import attrs

from flowlog.client.config import not_negative, positive
from flowlog_streams.handlers import ExceptionHandler, resolve_handler
from flowlog_streams.serdes import Serde, Serdes, check_serde

AT_LEAST_ONCE = "at_least_once"


def _offset_reset(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("earliest", "latest"):
        raise ValueError(f"{attribute.name} must be 'earliest' or 'latest', not {value!r}")


def _guarantee(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value != AT_LEAST_ONCE:
        raise ValueError(
            f"processing_guarantee {value!r} is not available yet; only {AT_LEAST_ONCE!r}"
        )


def _application_id(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not all(c.isalnum() or c in "._-" for c in value):
        raise ValueError(
            f"application_id must be non-empty and use only [a-zA-Z0-9._-], not {value!r}"
        )


@attrs.define(kw_only=True)
class StreamsConfig:
    application_id: str = attrs.field(validator=_application_id)
    bootstrap: str | list[str] = "127.0.0.1:9092"
    state_dir: str = "./state"
    # Flush the producer, then commit input offsets, this often (Kafka Streams' default).
    commit_interval_ms: int = attrs.field(default=30_000, validator=positive)
    # How long a task with an empty, caught-up input partition waits before processing the others.
    max_task_idle_ms: int = 0
    default_key_serde: Serde = attrs.field(factory=Serdes.bytes)
    default_value_serde: Serde = attrs.field(factory=Serdes.bytes)
    deserialization_exception_handler: Any = "log_and_fail"
    processing_exception_handler: Any = "log_and_fail"
    # Where a source topic has no committed offset (per-source settings win).
    auto_offset_reset: str = attrs.field(default="earliest", validator=_offset_reset)
    auto_create_topics: bool = False
    # Partitions of missing user topics when auto_create_topics is on.
    auto_create_partitions: int = attrs.field(default=1, validator=positive)
    # Replication factor of internal topics; -1 takes the broker's default.
    replication_factor: int = -1
    processing_guarantee: str = attrs.field(default=AT_LEAST_ONCE, validator=_guarantee)
    num_standby_replicas: int = attrs.field(default=0, validator=not_negative)
    # Warm-ups (KIP-441): a copy of a task's state lagging its changelogs by at most this many
    # records counts as caught up; a task moves only to a caught-up instance, others warm up
    # first (at most max_warmup_replicas at a time) and a probing rebalance follows every
    # probing_rebalance_interval_ms until they have caught up. Kafka Streams' defaults.
    acceptable_recovery_lag: int = attrs.field(default=10_000, validator=not_negative)
    max_warmup_replicas: int = attrs.field(default=2, validator=positive)
    probing_rebalance_interval_ms: int = attrs.field(default=600_000, validator=positive)
    # Record cache per task, split between its stores (Kafka Streams' statestore.cache.max.bytes);
    # 0 turns caching off: every update is emitted and logged.
    cache_max_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=not_negative)
    # Records an aggregation drops (too late for their window, null key or value) are
    # written here, raw, with headers saying why; None: they are only counted and logged.
    late_records_topic: str | None = None
    # Off (None) by default, as Kafka Streams: after this long with no records, suppress()
    # buffers let wall-clock time move their stream time on, so windows of a quiet
    # partition close. A departure from Kafka Streams' event-time semantics.
    window_close_wall_clock_ms: int | None = None
    # One block cache and write-buffer budget shared by every RocksDB store of the process.
    rocksdb_cache_bytes: int = attrs.field(default=64 * 1024 * 1024, validator=positive)
    # host:port where this instance answers interactive queries (reported to the group).
    application_server: str | None = None
    # A partition's fetching pauses while its task buffers this many records.
    buffered_records_per_partition: int = attrs.field(default=1_000, validator=positive)
    # Records a task processes before the loop looks at punctuation, commits and other tasks.
    max_records_per_task_loop: int = attrs.field(default=1_000, validator=positive)
    session_timeout_ms: int = attrs.field(default=45_000, validator=positive)
    heartbeat_interval_ms: int = attrs.field(default=3_000, validator=positive)
    # Extra keyword options for flowlog.client's Consumer / Producer / Admin.
    consumer_config: dict[str, Any] = attrs.field(factory=dict)
    producer_config: dict[str, Any] = attrs.field(factory=dict)
    admin_config: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_serde(self.default_key_serde, "default_key_serde")
        check_serde(self.default_value_serde, "default_value_serde")
        # Fail at construction, not at the first bad record.
        self.deserialization_handler()
        self.processing_handler()

    def deserialization_handler(self) -> ExceptionHandler:
        return resolve_handler(
            self.deserialization_exception_handler, "deserialization_exception_handler"
        )

    def processing_handler(self) -> ExceptionHandler:
        return resolve_handler(self.processing_exception_handler, "processing_exception_handler")


def build_config(options: dict[str, Any]) -> StreamsConfig:
    """StreamsConfig from keyword options, with a clear error for unknown names."""
    known = {a.name for a in attrs.fields(StreamsConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown streams setting(s) {unknown}; known: {sorted(known)}")
    return StreamsConfig(**options)
