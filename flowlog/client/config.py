"""Client options, declared once with their defaults; units are in the names.

Producer, Consumer and Admin take these as keyword arguments
(`Producer("host:9092", linger_ms=5)`); an unknown or invalid option raises
ConfigurationError naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import attrs

from flowlog.client.assignors import GroupAssignor, resolve_assignors
from flowlog.client.errors import ConfigurationError


def positive(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value <= 0:
        raise ConfigurationError(f"{attribute.name} must be positive, got {value}")


def not_negative(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must not be negative, got {value}")


def _strategy_tuple(value: object) -> tuple[object, ...]:
    # A lone name or assignor is a one-entry strategy; tuple("range") would split the name.
    if isinstance(value, str | GroupAssignor) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


def _valid_strategy(
    _instance: object, _attribute: attrs.Attribute[Any], value: tuple[object, ...]
) -> None:
    resolve_assignors(value)


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Options shared by every client."""

    client_id: str = "flowlog-client"
    # How long one request may wait for its response before the connection is dropped.
    request_timeout_ms: int = attrs.field(default=30_000, validator=positive)
    connect_timeout_ms: int = attrs.field(default=10_000, validator=positive)
    # Retries wait retry_backoff_ms * 2**attempt (with jitter), capped at retry_backoff_max_ms.
    retry_backoff_ms: int = attrs.field(default=100, validator=positive)
    retry_backoff_max_ms: int = attrs.field(default=1_000, validator=positive)
    # Overall bound of an API call (metadata, admin, offsets) including its retries.
    default_api_timeout_ms: int = attrs.field(default=60_000, validator=positive)
    metadata_max_age_ms: int = attrs.field(default=300_000, validator=positive)
    # Requests written to one connection and not yet answered.
    max_in_flight_requests_per_connection: int = attrs.field(default=5, validator=positive)
    # Largest response frame we accept (a fetch response is bounded by fetch_max_bytes).
    max_response_size_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=positive)
    receive_buffer_bytes: int = attrs.field(default=256 * 1024, validator=positive)


@attrs.frozen(kw_only=True)
class ProducerConfig(ClientConfig):
    # -1 ("all"), 0 or 1.
    acks: int | str = -1
    # None: on unless acks is not "all".
    enable_idempotence: bool | None = None
    compression_type: str = "none"
    compression_level: int | None = None
    linger_ms: int = attrs.field(default=5, validator=not_negative)
    batch_size_bytes: int = attrs.field(default=16_384, validator=positive)
    # Records accepted and not yet acknowledged; send() blocks when full.
    buffer_memory_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=positive)
    max_request_size_bytes: int = attrs.field(default=1024 * 1024, validator=positive)
    # How long send() may block waiting for buffer space or metadata.
    max_block_ms: int = attrs.field(default=60_000, validator=positive)
    # Upper bound from send() to success or failure, retries included.
    delivery_timeout_ms: int = attrs.field(default=120_000, validator=positive)
    # "murmur2" (Java's default for keyed records, sticky for null keys).
    partitioner: str = "murmur2"


@attrs.frozen(kw_only=True)
class ConsumerConfig(ClientConfig):
    group_id: str | None = None
    group_instance_id: str | None = None
    # "earliest", "latest" or "none" (raise NoOffsetForPartitionError).
    auto_offset_reset: str = "latest"
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = attrs.field(default=5_000, validator=positive)
    # "read_uncommitted" or "read_committed".
    isolation_level: str = "read_uncommitted"
    fetch_min_bytes: int = attrs.field(default=1, validator=positive)
    fetch_max_bytes: int = attrs.field(default=50 * 1024 * 1024, validator=positive)
    fetch_max_wait_ms: int = attrs.field(default=500, validator=not_negative)
    max_partition_fetch_bytes: int = attrs.field(default=1024 * 1024, validator=positive)
    # Decoded fetch results held for the application, per consumer.
    fetch_buffer_max_chunks: int = attrs.field(default=64, validator=positive)
    # Read-ahead bound in decoded records too: 64 chunks of tiny records would be millions of
    # Python objects. Fetching pauses while the buffer holds this many untaken records.
    fetch_buffer_max_records: int = attrs.field(default=200_000, validator=positive)
    session_timeout_ms: int = attrs.field(default=45_000, validator=positive)
    rebalance_timeout_ms: int = attrs.field(default=300_000, validator=positive)
    heartbeat_interval_ms: int = attrs.field(default=3_000, validator=positive)
    # In preference order: "range", "roundrobin", "cooperative-sticky" or GroupAssignor objects.
    partition_assignment_strategy: tuple[str | GroupAssignor, ...] = attrs.field(
        default=("range", "cooperative-sticky"), converter=_strategy_tuple,
        validator=_valid_strategy,
    )


@attrs.frozen(kw_only=True)
class AdminConfig(ClientConfig):
    pass


ConfigT = TypeVar("ConfigT", bound=ClientConfig)


def build_config(config_class: type[ConfigT], options: dict[str, Any]) -> ConfigT:
    """`config_class(**options)` with ConfigurationError naming a bad option."""
    known = {field.name for field in attrs.fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown {config_class.__name__} option(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        return config_class(**options)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigurationError):
            raise
        raise ConfigurationError(str(error)) from error


def parse_bootstrap(bootstrap_servers: str | list[str] | tuple[str, ...]) -> list[tuple[str, int]]:
    """"h1:9092,h2:9092" or a list of "host:port" into (host, port) pairs."""
    entries = (
        bootstrap_servers.split(",") if isinstance(bootstrap_servers, str) else bootstrap_servers
    )
    result = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        host, separator, port = entry.rpartition(":")
        if not separator or not port.isdigit():
            raise ConfigurationError(f"bootstrap server {entry!r} is not host:port")
        result.append((host.strip("[]"), int(port)))
    if not result:
        raise ConfigurationError("bootstrap_servers is empty")
    return result
