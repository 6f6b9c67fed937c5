"""Broker configuration: Kafka's broker config names, parsed and validated once at start.

`--config KEY=VALUE` takes Kafka's names. Broker-level `log.*` keys give the
defaults of topic-level configs (Kafka's `log.segment.bytes` is the default of a
topic's `segment.bytes`); they are mapped in TOPIC_DEFAULT_KEYS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from flowlog.storage.config import LogConfig
from flowlog.storage.errors import InvalidConfigError

MEBIBYTE = 1024 * 1024

# Broker key -> topic key whose default it sets.
TOPIC_DEFAULT_KEYS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.roll.ms": "segment.ms",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.retention.ms": "retention.ms",
    "log.retention.bytes": "retention.bytes",
    "log.cleanup.policy": "cleanup.policy",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "message.max.bytes": "max.message.bytes",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "compression.type": "compression.type",
}
# Kafka's hour/minute spellings of retention, converted to ms.
RETENTION_UNIT_KEYS: dict[str, int] = {
    "log.retention.hours": 3_600_000,
    "log.retention.minutes": 60_000,
}


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError("expected true or false")


def _to_rack(value: str) -> str | None:
    return value.strip() or None


def _to_int(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value.strip())
        if number < minimum:
            raise ValueError(f"must be >= {minimum}")
        return number

    return parse


# Broker-only keys: name -> (attribute, parser, documentation).
BROKER_KEYS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "num.partitions": ("num_partitions", _to_int(1), "Partitions of an auto-created topic."),
    "default.replication.factor": (
        "default_replication_factor",
        _to_int(1),
        "Replication factor of an auto-created topic.",
    ),
    "auto.create.topics.enable": (
        "auto_create_topics_enable",
        _to_bool,
        "Create a topic when a client asks for metadata of or produces to a missing one.",
    ),
    "socket.request.max.bytes": (
        "socket_request_max_bytes",
        _to_int(1024),
        "Largest request frame accepted; a larger one closes the connection.",
    ),
    "queued.max.request.bytes": (
        "queued_max_request_bytes",
        _to_int(-1),
        "Bound on request bytes read ahead per connection (-1: one frame).",
    ),
    "delete.topic.enable": ("delete_topic_enable", _to_bool, "Allow DeleteTopics."),
    "log.retention.check.interval.ms": (
        "retention_check_interval_ms",
        _to_int(1),
        "How often retention and compaction run.",
    ),
    "offsets.retention.minutes": (
        "offsets_retention_minutes",
        _to_int(1),
        "How long committed offsets of an empty group are kept.",
    ),
    "group.initial.rebalance.delay.ms": (
        "group_initial_rebalance_delay_ms",
        _to_int(0),
        "How long a new group waits for more members before its first rebalance.",
    ),
    "group.min.session.timeout.ms": (
        "group_min_session_timeout_ms",
        _to_int(1),
        "Smallest session timeout a group member may ask for.",
    ),
    "group.max.session.timeout.ms": (
        "group_max_session_timeout_ms",
        _to_int(1),
        "Largest session timeout a group member may ask for.",
    ),
    "group.max.size": ("group_max_size", _to_int(1), "Most members (joined or pending) a group may have."),
    "offsets.topic.num.partitions": (
        "offsets_topic_num_partitions",
        _to_int(1),
        "Partitions of __consumer_offsets when it is created (an existing topic keeps its count).",
    ),
    "offsets.retention.check.interval.ms": (
        "offsets_retention_check_interval_ms",
        _to_int(1),
        "How often expired committed offsets are looked for.",
    ),
    "offset.metadata.max.bytes": (
        "offset_metadata_max_bytes",
        _to_int(0),
        "Largest metadata string an offset commit may carry.",
    ),
    "transactional.id.expiration.ms": (
        "transactional_id_expiration_ms",
        _to_int(1),
        "Idle time after which producer-id state may be dropped.",
    ),
    "broker.rack": ("rack", _to_rack, "Rack of this broker; replicas spread over racks."),
    "broker.session.timeout.ms": (
        "broker_session_timeout_ms",
        _to_int(1),
        "A broker that has not heartbeated to the controller for this long is fenced.",
    ),
    "broker.heartbeat.interval.ms": (
        "broker_heartbeat_interval_ms",
        _to_int(1),
        "How often a broker heartbeats to the active controller.",
    ),
    "broker.liveness.watch.enable": (
        "broker_liveness_watch_enable",
        _to_bool,
        "The active controller keeps a connection to every broker and fences one at once "
        "when its process is gone (a refused reconnect), before its session times out.",
    ),
    "replica.lag.time.max.ms": (
        "replica_lag_time_max_ms",
        _to_int(1),
        "A follower that has not caught up with the leader for this long leaves the ISR.",
    ),
    "replica.fetch.wait.max.ms": (
        "replica_fetch_wait_max_ms",
        _to_int(0),
        "Longest time a follower's fetch waits at the leader for new records.",
    ),
    "replica.fetch.max.bytes": (
        "replica_fetch_max_bytes",
        _to_int(1),
        "Bytes a follower asks for per partition and fetch.",
    ),
    "replica.fetch.response.max.bytes": (
        "replica_fetch_response_max_bytes",
        _to_int(1),
        "Bytes a follower asks for per fetch, over all its partitions.",
    ),
    "replica.high.watermark.checkpoint.interval.ms": (
        "replica_high_watermark_checkpoint_interval_ms",
        _to_int(1),
        "How often moved high watermarks are written to disk (and at shutdown).",
    ),
    "unclean.leader.election.enable": (
        "unclean_leader_election_enable",
        _to_bool,
        "With no live ISR member, let a live out-of-sync replica lead (may lose records).",
    ),
    "auto.leader.rebalance.enable": (
        "auto_leader_rebalance_enable",
        _to_bool,
        "Give leadership back to preferred replicas once they are in sync again.",
    ),
    "leader.imbalance.check.interval.seconds": (
        "leader_imbalance_check_interval_seconds",
        _to_int(1),
        "How often the controller looks for partitions not led by their preferred replica.",
    ),
    "controller.quorum.election.timeout.ms": (
        "controller_quorum_election_timeout_ms",
        _to_int(100),
        "A voter that hears no controller leader for this long (randomised up to twice "
        "it) starts an election.",
    ),
    "metadata.log.max.record.bytes.between.snapshots": (
        "metadata_snapshot_bytes_between",
        _to_int(1),
        "Metadata log bytes applied between two snapshots (the log is compacted to each).",
    ),
    "offsets.topic.replication.factor": (
        "offsets_topic_replication_factor",
        _to_int(1),
        "Replication factor of __consumer_offsets when it is created (at most the live "
        "brokers at that moment).",
    ),
}


class BrokerConfigError(ValueError):
    """A bad broker configuration value; the message names the key."""


@attrs.frozen
class HostPort:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, what: str) -> HostPort:
        host, separator, port_text = text.rpartition(":")
        if not separator or not host:
            raise BrokerConfigError(f"{what} must be HOST:PORT, got {text!r}")
        try:
            port = int(port_text)
        except ValueError:
            raise BrokerConfigError(f"{what} port must be a number, got {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise BrokerConfigError(f"{what} port must be 0-65535, got {port}")
        return cls(host.strip("[]"), port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen
class BrokerConfig:
    data_dir: Path
    listen: HostPort = HostPort("127.0.0.1", 9092)
    advertise: HostPort | None = None
    node_id: int = 1
    cluster_id: str = "flowlog-cluster"
    num_partitions: int = 1
    default_replication_factor: int = 1
    auto_create_topics_enable: bool = True
    socket_request_max_bytes: int = 100 * MEBIBYTE
    queued_max_request_bytes: int = -1
    delete_topic_enable: bool = True
    retention_check_interval_ms: int = 300_000
    offsets_retention_minutes: int = 10_080
    group_initial_rebalance_delay_ms: int = 3_000
    group_min_session_timeout_ms: int = 6_000
    group_max_session_timeout_ms: int = 1_800_000
    group_max_size: int = 1_000
    # Kafka's default is 50; 8 keeps small brokers (and tests) light. See docs/consumer-groups.md.
    offsets_topic_num_partitions: int = 8
    offsets_retention_check_interval_ms: int = 600_000
    offset_metadata_max_bytes: int = 4_096
    transactional_id_expiration_ms: int = 604_800_000
    # The controller quorum: voter id -> controller listener. Empty: a standalone
    # one-voter quorum of this node (no controller listener).
    voters: Mapping[int, HostPort] = attrs.field(factory=dict)
    controller_listen: HostPort | None = None
    rack: str | None = None
    broker_session_timeout_ms: int = 9_000
    broker_heartbeat_interval_ms: int = 2_000
    broker_liveness_watch_enable: bool = True
    # Kafka's defaults.
    replica_lag_time_max_ms: int = 30_000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_max_bytes: int = 1024 * 1024
    replica_fetch_response_max_bytes: int = 10 * 1024 * 1024
    replica_high_watermark_checkpoint_interval_ms: int = 5_000
    unclean_leader_election_enable: bool = False
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval_seconds: int = 300
    controller_quorum_election_timeout_ms: int = 1_000
    metadata_snapshot_bytes_between: int = 20 * MEBIBYTE
    offsets_topic_replication_factor: int = 3
    # Topic-config defaults (Kafka names, e.g. "segment.bytes") set by log.* keys.
    topic_defaults: Mapping[str, str] = attrs.field(factory=dict)
    default_log_config: LogConfig = attrs.field(factory=LogConfig)

    @property
    def advertised(self) -> HostPort:
        return self.advertise or self.listen

    @property
    def is_standalone(self) -> bool:
        return not self.voters

    @property
    def voter_ids(self) -> frozenset[int]:
        return frozenset(self.voters) if self.voters else frozenset({self.node_id})

    @classmethod
    def from_settings(
        cls,
        *,
        data_dir: Path | str,
        listen: str | HostPort = "127.0.0.1:9092",
        advertise: str | HostPort | None = None,
        node_id: int = 1,
        settings: Mapping[str, str] | None = None,
        voters: str | None = None,
        controller_listen: str | None = None,
    ) -> BrokerConfig:
        """Build a config from CLI-style values; every error names its key."""
        if node_id < 0:
            raise BrokerConfigError(f"node id must be >= 0, got {node_id}")
        voter_map = parse_voters(voters) if voters else {}
        if voter_map and node_id not in voter_map:
            raise BrokerConfigError(
                f"node id {node_id} is not one of the voters {sorted(voter_map)}: every "
                "member is a voter (brokers outside the quorum are not supported yet)"
            )
        if controller_listen is not None and not voter_map:
            raise BrokerConfigError("--controller-listen needs --voters")
        controller_at = (
            HostPort.parse(controller_listen, "controller-listen")
            if controller_listen is not None
            else voter_map.get(node_id)
        )
        listen_at = listen if isinstance(listen, HostPort) else HostPort.parse(listen, "listen")
        advertise_at = (
            advertise
            if advertise is None or isinstance(advertise, HostPort)
            else HostPort.parse(advertise, "advertise")
        )
        values: dict[str, Any] = {}
        topic_defaults: dict[str, str] = {}
        for key, raw in (settings or {}).items():
            if key in BROKER_KEYS:
                attribute, parse, _ = BROKER_KEYS[key]
                try:
                    values[attribute] = parse(raw)
                except ValueError as error:
                    raise BrokerConfigError(f"bad value {raw!r} for {key}: {error}") from None
            elif key in TOPIC_DEFAULT_KEYS:
                topic_defaults[TOPIC_DEFAULT_KEYS[key]] = raw
            elif key in RETENTION_UNIT_KEYS:
                try:
                    amount = int(raw)
                except ValueError:
                    raise BrokerConfigError(f"bad value {raw!r} for {key}: not a number") from None
                topic_defaults["retention.ms"] = str(
                    amount * RETENTION_UNIT_KEYS[key] if amount >= 0 else -1
                )
            elif key == "cluster.id":
                values["cluster_id"] = raw
            else:
                raise BrokerConfigError(f"unknown broker config {key!r}")
        try:
            default_log_config = LogConfig.from_kafka(topic_defaults)
        except InvalidConfigError as error:
            raise BrokerConfigError(f"bad topic default: {error}") from None
        return cls(
            data_dir=Path(data_dir),
            listen=listen_at,
            advertise=advertise_at,
            node_id=node_id,
            voters=voter_map,
            controller_listen=controller_at,
            topic_defaults=topic_defaults,
            default_log_config=default_log_config,
            **values,
        )



def parse_voters(text: str) -> dict[int, HostPort]:
    """`ID@HOST:PORT[,ID@HOST:PORT...]` -> {id: controller address}."""
    voters: dict[int, HostPort] = {}
    for item in text.split(","):
        node_text, separator, address = item.strip().partition("@")
        if not separator:
            raise BrokerConfigError(f"a voter must be ID@HOST:PORT, got {item.strip()!r}")
        try:
            node_id = int(node_text)
        except ValueError:
            raise BrokerConfigError(f"voter id must be a number, got {node_text!r}") from None
        if node_id < 0 or node_id in voters:
            raise BrokerConfigError(f"voter id {node_id} is negative or repeated")
        at = HostPort.parse(address, f"voter {node_id}")
        if at.port == 0:
            raise BrokerConfigError(f"voter {node_id} needs a real port, not 0")
        voters[node_id] = at
    return voters
