"""The cluster metadata image, built only by replaying metadata records in offset order.

Sans-IO: no clock, no randomness, no files. replay(record, offset) is the only mutator,
so the same records in the same order always give an equal state; that is what lets a
log (and later a Raft quorum) carry the metadata. Queries return copies or frozen
objects, never a view the caller could change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from flowlog.controller.metadata_records import (
    NO_LEADER,
    ConfigRecord,
    ConfigResourceType,
    FenceBrokerRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
    UnregisterBrokerRecord,
)


class MetadataInconsistencyError(Exception):
    """A record that cannot apply to the current state: a bug in its writer or a bad log.

    replay() checks before it changes anything, so the state stays as it was.
    """


@attrs.frozen
class BrokerRegistration:
    """`epoch` is the offset of the registration record (Kafka's broker epoch): a
    heartbeat carrying an older one comes from a previous incarnation."""

    node_id: int
    host: str
    port: int
    rack: str | None
    incarnation_id: bytes
    epoch: int = -1
    fenced: bool = False


@attrs.frozen
class TopicInfo:
    name: str
    topic_id: bytes


@attrs.frozen
class PartitionInfo:
    topic_id: bytes
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@attrs.frozen
class ConfigOverrides:
    resource_type: ConfigResourceType
    resource_name: str
    overrides: dict[str, str]


@attrs.frozen
class MetadataImage:
    """The whole state as plain data: what a snapshot stores (metadata_snapshot.py)."""

    last_applied_offset: int
    next_producer_id: int
    brokers: tuple[BrokerRegistration, ...]
    topics: tuple[TopicInfo, ...]
    partitions: tuple[PartitionInfo, ...]
    configs: tuple[ConfigOverrides, ...]


@attrs.define(eq=True)
class MetadataState:
    """Brokers, topics, partitions, config overrides and the producer-id high mark."""

    _brokers: dict[int, BrokerRegistration] = attrs.field(factory=dict, init=False)
    _topics: dict[bytes, TopicInfo] = attrs.field(factory=dict, init=False)
    _topic_ids_by_name: dict[str, bytes] = attrs.field(factory=dict, init=False)
    # Partitions of a topic are contiguous from 0, so a list indexed by partition.
    _partitions: dict[bytes, list[PartitionInfo]] = attrs.field(factory=dict, init=False)
    # Only non-empty override maps are kept, so equal overrides mean equal states.
    _configs: dict[tuple[ConfigResourceType, str], dict[str, str]] = attrs.field(
        factory=dict, init=False
    )
    _next_producer_id: int = attrs.field(default=0, init=False)
    _last_applied_offset: int = attrs.field(default=-1, init=False)

    def copy(self) -> MetadataState:
        """An independent state equal to this one (records and infos are frozen)."""
        other = MetadataState()
        other.replace_with(self)
        return other

    def replace_with(self, other: MetadataState) -> None:
        """Become equal to `other` (a restored snapshot), keeping this object's identity:
        the controller core and the broker hold references to it."""
        self._brokers = dict(other._brokers)
        self._topics = dict(other._topics)
        self._topic_ids_by_name = dict(other._topic_ids_by_name)
        self._partitions = {key: list(value) for key, value in other._partitions.items()}
        self._configs = {key: dict(value) for key, value in other._configs.items()}
        self._next_producer_id = other._next_producer_id
        self._last_applied_offset = other._last_applied_offset

    def to_image(self) -> MetadataImage:
        return MetadataImage(
            last_applied_offset=self._last_applied_offset,
            next_producer_id=self._next_producer_id,
            brokers=tuple(self._brokers[node_id] for node_id in sorted(self._brokers)),
            topics=tuple(self.topics()),
            partitions=tuple(
                partition
                for topic in self.topics()
                for partition in self._partitions[topic.topic_id]
            ),
            configs=tuple(
                ConfigOverrides(resource_type, name, dict(overrides))
                for (resource_type, name), overrides in sorted(self._configs.items())
            ),
        )

    @classmethod
    def from_image(cls, image: MetadataImage) -> MetadataState:
        """The state an image describes; MetadataInconsistencyError if it is not one."""
        state = cls()
        for broker in image.brokers:
            if broker.node_id in state._brokers:
                raise MetadataInconsistencyError(f"broker {broker.node_id} twice in an image")
            state._brokers[broker.node_id] = broker
        for topic in image.topics:
            state._replay_topic(TopicRecord(topic.name, topic.topic_id))
        for partition in image.partitions:
            known = state._partitions.get(partition.topic_id)
            if known is None or partition.partition != len(known):
                raise MetadataInconsistencyError(f"partition out of order in an image: {partition}")
            _check_assignment(partition.replicas, partition.isr, partition.leader, partition)
            known.append(partition)
        for config in image.configs:
            if not config.overrides:
                raise MetadataInconsistencyError(f"empty overrides in an image: {config}")
            if (
                config.resource_type is ConfigResourceType.TOPIC
                and config.resource_name not in state._topic_ids_by_name
            ):
                raise MetadataInconsistencyError(f"config of unknown topic: {config}")
            state._configs[(config.resource_type, config.resource_name)] = dict(config.overrides)
        state._next_producer_id = image.next_producer_id
        state._last_applied_offset = image.last_applied_offset
        return state

    # --- replay ---------------------------------------------------------------------

    def replay(self, record: MetadataRecord, offset: int) -> None:
        """Apply one record found at `offset`; offsets must strictly increase."""
        if offset <= self._last_applied_offset:
            raise MetadataInconsistencyError(
                f"record offset {offset} is not after the last applied {self._last_applied_offset}"
            )
        match record:
            case RegisterBrokerRecord():
                self._replay_register_broker(record, offset)
            case UnregisterBrokerRecord():
                self._replay_unregister_broker(record)
            case TopicRecord():
                self._replay_topic(record)
            case PartitionRecord():
                self._replay_partition(record)
            case PartitionChangeRecord():
                self._replay_partition_change(record)
            case RemoveTopicRecord():
                self._replay_remove_topic(record)
            case ConfigRecord():
                self._replay_config(record)
            case ProducerIdsRecord():
                self._replay_producer_ids(record)
            case FenceBrokerRecord():
                self._replay_fencing(record.node_id, fenced=True)
            case UnfenceBrokerRecord():
                self._replay_fencing(record.node_id, fenced=False)
            case _:
                raise MetadataInconsistencyError(f"not a metadata record: {record!r}")
        self._last_applied_offset = offset

    def _replay_register_broker(self, record: RegisterBrokerRecord, offset: int) -> None:
        # A registration for a known node id replaces it: the broker restarted. A
        # registering broker is alive, so it starts unfenced.
        self._brokers[record.node_id] = BrokerRegistration(
            node_id=record.node_id,
            host=record.host,
            port=record.port,
            rack=record.rack,
            incarnation_id=record.incarnation_id,
            epoch=offset,
        )

    def _replay_fencing(self, node_id: int, fenced: bool) -> None:
        broker = self._brokers.get(node_id)
        if broker is None:
            raise MetadataInconsistencyError(f"fencing change of unknown broker {node_id}")
        self._brokers[node_id] = attrs.evolve(broker, fenced=fenced)

    def _replay_unregister_broker(self, record: UnregisterBrokerRecord) -> None:
        if record.node_id not in self._brokers:
            raise MetadataInconsistencyError(f"unregister of unknown broker {record.node_id}")
        del self._brokers[record.node_id]

    def _replay_topic(self, record: TopicRecord) -> None:
        if record.name in self._topic_ids_by_name:
            raise MetadataInconsistencyError(f"topic {record.name!r} exists already")
        if record.topic_id in self._topics:
            raise MetadataInconsistencyError(f"topic id {record.topic_id.hex()} is taken")
        self._topics[record.topic_id] = TopicInfo(name=record.name, topic_id=record.topic_id)
        self._topic_ids_by_name[record.name] = record.topic_id
        self._partitions[record.topic_id] = []

    def _replay_partition(self, record: PartitionRecord) -> None:
        partitions = self._partitions.get(record.topic_id)
        if partitions is None:
            raise MetadataInconsistencyError(
                f"partition {record.partition} of unknown topic id {record.topic_id.hex()}"
            )
        if record.partition != len(partitions):
            raise MetadataInconsistencyError(
                f"partition {record.partition} of topic id {record.topic_id.hex()} is not the "
                f"next one ({len(partitions)})"
            )
        _check_assignment(record.replicas, record.isr, record.leader, record)
        partitions.append(
            PartitionInfo(
                topic_id=record.topic_id,
                partition=record.partition,
                replicas=record.replicas,
                isr=record.isr,
                leader=record.leader,
                leader_epoch=record.leader_epoch,
                partition_epoch=record.partition_epoch,
            )
        )

    def _replay_partition_change(self, record: PartitionChangeRecord) -> None:
        current = self.partition(record.topic_id, record.partition)
        if current is None:
            raise MetadataInconsistencyError(f"change of unknown partition: {record!r}")
        replicas = current.replicas if record.replicas is None else record.replicas
        isr = current.isr if record.isr is None else record.isr
        leader = current.leader if record.leader is None else record.leader
        _check_assignment(replicas, isr, leader, record)
        changed = attrs.evolve(
            current,
            replicas=replicas,
            isr=isr,
            leader=leader,
            leader_epoch=current.leader_epoch + (0 if record.leader is None else 1),
            partition_epoch=current.partition_epoch + 1,
        )
        self._partitions[record.topic_id][record.partition] = changed

    def _replay_remove_topic(self, record: RemoveTopicRecord) -> None:
        topic = self._topics.pop(record.topic_id, None)
        if topic is None:
            raise MetadataInconsistencyError(f"removal of unknown topic id {record.topic_id.hex()}")
        del self._topic_ids_by_name[topic.name]
        del self._partitions[record.topic_id]
        # A topic's overrides die with it: a new topic of the same name starts clean.
        self._configs.pop((ConfigResourceType.TOPIC, topic.name), None)

    def _replay_config(self, record: ConfigRecord) -> None:
        key = (record.resource_type, record.resource_name)
        if (
            record.resource_type is ConfigResourceType.TOPIC
            and record.resource_name not in self._topic_ids_by_name
        ):
            raise MetadataInconsistencyError(f"config of unknown topic {record.resource_name!r}")
        overrides = self._configs.setdefault(key, {})
        if record.value is None:
            overrides.pop(record.name, None)
        else:
            overrides[record.name] = record.value
        if not overrides:
            del self._configs[key]

    def _replay_producer_ids(self, record: ProducerIdsRecord) -> None:
        if record.next_producer_id <= self._next_producer_id:
            raise MetadataInconsistencyError(
                f"producer id block end {record.next_producer_id} does not pass "
                f"{self._next_producer_id}: blocks would overlap"
            )
        self._next_producer_id = record.next_producer_id

    # --- queries --------------------------------------------------------------------

    @property
    def last_applied_offset(self) -> int:
        """Offset of the last replayed record; -1 before the first."""
        return self._last_applied_offset

    @property
    def next_producer_id(self) -> int:
        """First producer id not yet handed out in any block."""
        return self._next_producer_id

    def brokers(self) -> dict[int, BrokerRegistration]:
        return dict(self._brokers)

    def broker(self, node_id: int) -> BrokerRegistration | None:
        return self._brokers.get(node_id)

    def live_broker_ids(self) -> list[int]:
        """Registered brokers that are not fenced, ascending."""
        return sorted(node_id for node_id, broker in self._brokers.items() if not broker.fenced)

    def registered_broker_ids(self) -> list[int]:
        return sorted(self._brokers)

    def is_live(self, node_id: int) -> bool:
        broker = self._brokers.get(node_id)
        return broker is not None and not broker.fenced

    def topics(self) -> list[TopicInfo]:
        return sorted(self._topics.values(), key=lambda topic: topic.name)

    def topic_by_name(self, name: str) -> TopicInfo | None:
        topic_id = self._topic_ids_by_name.get(name)
        return None if topic_id is None else self._topics[topic_id]

    def topic_by_id(self, topic_id: bytes) -> TopicInfo | None:
        return self._topics.get(topic_id)

    def partitions(self, topic_id: bytes) -> tuple[PartitionInfo, ...]:
        """Partitions of the topic in index order; empty for an unknown topic."""
        return tuple(self._partitions.get(topic_id, ()))

    def partition(self, topic_id: bytes, partition: int) -> PartitionInfo | None:
        partitions = self._partitions.get(topic_id, [])
        return partitions[partition] if 0 <= partition < len(partitions) else None

    def config_overrides(self, resource_type: ConfigResourceType, name: str) -> dict[str, str]:
        return dict(self._configs.get((resource_type, name), {}))

    def topic_config_overrides(self, topic_name: str) -> dict[str, str]:
        """Only the keys set on this topic, not defaults."""
        return self.config_overrides(ConfigResourceType.TOPIC, topic_name)

    def broker_config_overrides(self, resource_name: str) -> dict[str, str]:
        """Overrides of one broker (its id in decimal) or of the cluster ("")."""
        return self.config_overrides(ConfigResourceType.BROKER, resource_name)

    def effective_topic_config(
        self, topic_name: str, defaults: Mapping[str, str]
    ) -> dict[str, str]:
        """The topic's overrides laid over `defaults` (the broker-level values)."""
        return {**defaults, **self.topic_config_overrides(topic_name)}


def _check_assignment(
    replicas: Sequence[int], isr: Sequence[int], leader: int, record: object
) -> None:
    if not replicas:
        raise MetadataInconsistencyError(f"no replicas: {record!r}")
    if not set(isr) <= set(replicas):
        raise MetadataInconsistencyError(f"an ISR member is not a replica: {record!r}")
    if leader != NO_LEADER and leader not in isr:
        raise MetadataInconsistencyError(f"the leader is not in the ISR: {record!r}")
