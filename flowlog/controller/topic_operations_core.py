"""CreateTopics, DeleteTopics and CreatePartitions: validate against the state, emit records.

Sans-IO and read-only on the state. Items of one request are independent (one failing
does not fail the others), but each sees the earlier items' effects, so two new topics
in one request cannot clash.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from flowlog.controller.controller_api import (
    ControllerDefaults,
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    NewPartitions,
    NewTopic,
    OperationResult,
    RandomSource,
)
from flowlog.controller.metadata_records import (
    RECORDS_PER_BATCH_MAX,
    ConfigRecord,
    ConfigResourceType,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from flowlog.controller.metadata_state import MetadataState
from flowlog.controller.topic_config_validation import topic_configs_error
from flowlog.controller.topic_placement import (
    collision_key,
    new_topic_id,
    place_replicas,
    replica_assignment_error,
    topic_name_error,
)
from flowlog.protocol.errors import ErrorCode

PARTITIONS_PER_TOPIC_MAX = 10_000


class _Refused(Exception):
    """One item's error; caught per item and turned into its result."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def create_topics(
    state: MetadataState,
    random_source: RandomSource,
    defaults: ControllerDefaults,
    topics: Sequence[NewTopic],
    validate_only: bool,
) -> OperationResult[CreateTopicResult]:
    records: list[MetadataRecord] = []
    results: list[CreateTopicResult] = []
    name_counts = Counter(topic.name for topic in topics)
    clash_names = {collision_key(topic.name): topic.name for topic in state.topics()}
    new_ids: set[bytes] = set()
    for topic in topics:
        try:
            if name_counts[topic.name] > 1:
                raise _Refused(ErrorCode.INVALID_REQUEST, f"topic {topic.name!r} is repeated")
            _check_new_topic_name(state, topic.name, clash_names)
            replica_lists = _replica_lists(state, random_source, defaults, topic)
            config_error = topic_configs_error(topic.configs)
            if config_error is not None:
                raise _Refused(ErrorCode.INVALID_CONFIG, config_error)
            if len(records) + len(replica_lists) + len(topic.configs) + 1 > RECORDS_PER_BATCH_MAX:
                raise _Refused(
                    ErrorCode.POLICY_VIOLATION,
                    f"the request would create more than {RECORDS_PER_BATCH_MAX} records",
                )
        except _Refused as refused:
            results.append(CreateTopicResult(topic.name, refused.error_code, refused.message))
            continue
        topic_id = new_topic_id(
            random_source, lambda candidate: candidate in new_ids or _id_taken(state, candidate)
        )
        new_ids.add(topic_id)
        clash_names[collision_key(topic.name)] = topic.name
        records.extend(_new_topic_records(topic, topic_id, replica_lists))
        results.append(
            CreateTopicResult(
                name=topic.name,
                error_code=ErrorCode.NONE,
                topic_id=topic_id,
                num_partitions=len(replica_lists),
                replication_factor=len(replica_lists[0]),
            )
        )
    return OperationResult(() if validate_only else tuple(records), tuple(results))


def _id_taken(state: MetadataState, topic_id: bytes) -> bool:
    return state.topic_by_id(topic_id) is not None


def _check_new_topic_name(state: MetadataState, name: str, clash_names: dict[str, str]) -> None:
    name_error = topic_name_error(name)
    if name_error is not None:
        raise _Refused(ErrorCode.INVALID_TOPIC_EXCEPTION, name_error)
    if state.topic_by_name(name) is not None or clash_names.get(collision_key(name)) == name:
        raise _Refused(ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
    clashing = clash_names.get(collision_key(name))
    if clashing is not None:
        raise _Refused(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"topic {name!r} collides with topic {clashing!r} ('.' and '_' clash)",
        )


def _replica_lists(
    state: MetadataState,
    random_source: RandomSource,
    defaults: ControllerDefaults,
    topic: NewTopic,
) -> list[tuple[int, ...]]:
    if topic.assignments:
        if topic.num_partitions != -1 or topic.replication_factor != -1:
            raise _Refused(
                ErrorCode.INVALID_REQUEST,
                "with replica assignments, partitions and replication factor must be -1",
            )
        return _explicit_replica_lists(state, topic.assignments)
    partition_count = (
        defaults.num_partitions if topic.num_partitions == -1 else topic.num_partitions
    )
    if not 1 <= partition_count <= PARTITIONS_PER_TOPIC_MAX:
        raise _Refused(
            ErrorCode.INVALID_PARTITIONS,
            f"partition count {partition_count} is not in [1, {PARTITIONS_PER_TOPIC_MAX}]",
        )
    replication_factor = (
        defaults.default_replication_factor
        if topic.replication_factor == -1
        else topic.replication_factor
    )
    live_broker_ids = state.live_broker_ids()
    _check_replication_factor(replication_factor, len(live_broker_ids))
    return place_replicas(
        live_broker_ids, partition_count, replication_factor, random_source, _racks(state)
    )


def _racks(state: MetadataState) -> dict[int, str | None]:
    return {node_id: broker.rack for node_id, broker in state.brokers().items()}


def _check_replication_factor(replication_factor: int, live_broker_count: int) -> None:
    if replication_factor < 1:
        raise _Refused(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"replication factor {replication_factor} is below 1",
        )
    if replication_factor > live_broker_count:
        raise _Refused(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"replication factor {replication_factor} is larger than the "
            f"{live_broker_count} live broker(s)",
        )


def _explicit_replica_lists(
    state: MetadataState, assignments: Mapping[int, Sequence[int]]
) -> list[tuple[int, ...]]:
    indexes = sorted(assignments)
    if indexes != list(range(len(indexes))):
        raise _Refused(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"assigned partitions {indexes} are not 0..{len(indexes) - 1}",
        )
    if len(indexes) > PARTITIONS_PER_TOPIC_MAX:
        raise _Refused(
            ErrorCode.INVALID_PARTITIONS,
            f"{len(indexes)} partitions is more than {PARTITIONS_PER_TOPIC_MAX}",
        )
    replica_lists = [tuple(assignments[index]) for index in indexes]
    _check_explicit_replicas(state, replica_lists, len(replica_lists[0]))
    return replica_lists


def _check_explicit_replicas(
    state: MetadataState, replica_lists: Sequence[tuple[int, ...]], replication_factor: int
) -> None:
    registered = set(state.live_broker_ids())
    for replicas in replica_lists:
        error = replica_assignment_error(replicas, registered)
        if error is not None:
            raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, error)
        if len(replicas) != replication_factor:
            raise _Refused(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"replicas {list(replicas)} differ from the replication factor "
                f"{replication_factor} of the other partitions",
            )


def _new_topic_records(
    topic: NewTopic, topic_id: bytes, replica_lists: Sequence[tuple[int, ...]]
) -> list[MetadataRecord]:
    records: list[MetadataRecord] = [TopicRecord(name=topic.name, topic_id=topic_id)]
    records.extend(_partition_records(topic_id, 0, replica_lists))
    records.extend(
        ConfigRecord(ConfigResourceType.TOPIC, topic.name, name, topic.configs[name])
        for name in sorted(topic.configs)
    )
    return records


def _partition_records(
    topic_id: bytes, first_partition: int, replica_lists: Sequence[tuple[int, ...]]
) -> list[PartitionRecord]:
    # A new partition's replicas are all in sync (it is empty) and the first one leads.
    return [
        PartitionRecord(
            topic_id=topic_id,
            partition=first_partition + index,
            replicas=replicas,
            isr=replicas,
            leader=replicas[0],
            leader_epoch=0,
            partition_epoch=0,
        )
        for index, replicas in enumerate(replica_lists)
    ]


def delete_topics(
    state: MetadataState, names: Sequence[str], topic_ids: Sequence[bytes]
) -> OperationResult[DeleteTopicResult]:
    """Results for `names` first, then for `topic_ids`; a topic named twice is removed once."""
    removed: list[bytes] = []
    results: list[DeleteTopicResult] = []
    for name in names:
        topic = state.topic_by_name(name)
        if topic is None:
            results.append(
                DeleteTopicResult(
                    name, None, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no topic {name!r}"
                )
            )
            continue
        removed.append(topic.topic_id)
        results.append(DeleteTopicResult(name, None, ErrorCode.NONE))
    for topic_id in topic_ids:
        topic = state.topic_by_id(topic_id)
        if topic is None:
            results.append(
                DeleteTopicResult(
                    None, topic_id, ErrorCode.UNKNOWN_TOPIC_ID, f"no topic id {topic_id.hex()}"
                )
            )
            continue
        removed.append(topic.topic_id)
        results.append(DeleteTopicResult(topic.name, topic_id, ErrorCode.NONE))
    unique_removed = list(dict.fromkeys(removed))
    return OperationResult(
        tuple(RemoveTopicRecord(topic_id) for topic_id in unique_removed), tuple(results)
    )


def create_partitions(
    state: MetadataState,
    random_source: RandomSource,
    topics: Sequence[NewPartitions],
    validate_only: bool,
) -> OperationResult[CreatePartitionsResult]:
    records: list[MetadataRecord] = []
    results: list[CreatePartitionsResult] = []
    name_counts = Counter(topic.name for topic in topics)
    for request in topics:
        try:
            if name_counts[request.name] > 1:
                raise _Refused(ErrorCode.INVALID_REQUEST, f"topic {request.name!r} is repeated")
            records.extend(_new_partition_records(state, random_source, request))
        except _Refused as refused:
            results.append(
                CreatePartitionsResult(request.name, refused.error_code, refused.message)
            )
            continue
        results.append(CreatePartitionsResult(request.name, ErrorCode.NONE))
    return OperationResult(() if validate_only else tuple(records), tuple(results))


def _new_partition_records(
    state: MetadataState, random_source: RandomSource, request: NewPartitions
) -> list[PartitionRecord]:
    topic = state.topic_by_name(request.name)
    if topic is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no topic {request.name!r}")
    existing = state.partitions(topic.topic_id)
    if request.count <= len(existing):
        raise _Refused(
            ErrorCode.INVALID_PARTITIONS,
            f"topic {request.name!r} has {len(existing)} partitions; the count can only grow, "
            f"not become {request.count}",
        )
    if request.count > PARTITIONS_PER_TOPIC_MAX:
        raise _Refused(
            ErrorCode.INVALID_PARTITIONS,
            f"partition count {request.count} is more than {PARTITIONS_PER_TOPIC_MAX}",
        )
    assert existing, "create_topics never makes a topic without partitions"
    new_count = request.count - len(existing)
    replication_factor = len(existing[0].replicas)
    if request.assignments is not None:
        if len(request.assignments) != new_count:
            raise _Refused(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"{len(request.assignments)} assignments for {new_count} new partitions",
            )
        replica_lists = [tuple(replicas) for replicas in request.assignments]
        _check_explicit_replicas(state, replica_lists, replication_factor)
    else:
        live_broker_ids = state.live_broker_ids()
        _check_replication_factor(replication_factor, len(live_broker_ids))
        replica_lists = place_replicas(
            live_broker_ids, new_count, replication_factor, random_source, _racks(state)
        )
    return _partition_records(topic.topic_id, len(existing), replica_lists)
