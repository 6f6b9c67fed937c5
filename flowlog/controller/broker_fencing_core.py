"""Fencing: a broker that missed its session, or is shutting down, leads nothing.

Sans-IO and read-only on the state, like every *_operations_core. Kafka's KRaft
semantics: fencing takes the broker out of every ISR (never emptying one: the last
member alone holds every committed record) and elects new leaders where it led;
unfencing lets it lead partitions that had no leader. A fenced broker re-enters an
ISR only through AlterPartition, once its partition leader sees it caught up.
"""

from __future__ import annotations

from flowlog.controller.controller_api import (
    CLEAN_ELECTION,
    BrokerResult,
    ElectionPolicy,
    OperationResult,
)
from flowlog.controller.leader_election_core import with_broker, without_broker
from flowlog.controller.metadata_records import (
    FenceBrokerRecord,
    MetadataRecord,
    UnfenceBrokerRecord,
)
from flowlog.controller.metadata_state import MetadataState, PartitionInfo
from flowlog.protocol.errors import ErrorCode


def fence_broker(
    state: MetadataState, node_id: int, policy: ElectionPolicy = CLEAN_ELECTION
) -> OperationResult[BrokerResult]:
    broker = state.broker(node_id)
    if broker is None:
        return _unknown(node_id)
    if broker.fenced:
        return OperationResult((), (BrokerResult(node_id, ErrorCode.NONE),))
    live = set(state.live_broker_ids()) - {node_id}
    records: list[MetadataRecord] = [FenceBrokerRecord(node_id)]
    for partition in all_partitions(state):
        change = without_broker(partition, node_id, live, policy.unclean)
        if change is not None:
            records.append(change)
    return OperationResult(tuple(records), (BrokerResult(node_id, ErrorCode.NONE),))


def unfence_broker(
    state: MetadataState, node_id: int, policy: ElectionPolicy = CLEAN_ELECTION
) -> OperationResult[BrokerResult]:
    broker = state.broker(node_id)
    if broker is None:
        return _unknown(node_id)
    if not broker.fenced:
        return OperationResult((), (BrokerResult(node_id, ErrorCode.NONE),))
    live = set(state.live_broker_ids()) | {node_id}
    records: list[MetadataRecord] = [UnfenceBrokerRecord(node_id)]
    for partition in all_partitions(state):
        change = with_broker(partition, node_id, live, policy.unclean)
        if change is not None:
            records.append(change)
    return OperationResult(tuple(records), (BrokerResult(node_id, ErrorCode.NONE),))


def controlled_shutdown(state: MetadataState, node_id: int) -> OperationResult[BrokerResult]:
    """Move leadership away before the broker exits (never uncleanly).

    The broker is fenced at once, so its leadership moves in the same log entry. When
    no other broker is live there is nowhere to move anything: nothing changes, and the
    partitions stay led by it until it returns (a one-broker cluster restarts cleanly).
    """
    broker = state.broker(node_id)
    if broker is None:
        return _unknown(node_id)
    if not set(state.live_broker_ids()) - {node_id}:
        return OperationResult((), (BrokerResult(node_id, ErrorCode.NONE),))
    return fence_broker(state, node_id, ElectionPolicy(unclean=False))


def all_partitions(state: MetadataState) -> list[PartitionInfo]:
    return [
        partition for topic in state.topics() for partition in state.partitions(topic.topic_id)
    ]


def _unknown(node_id: int) -> OperationResult[BrokerResult]:
    return OperationResult(
        (), (BrokerResult(node_id, ErrorCode.BROKER_ID_NOT_REGISTERED, f"no broker {node_id}"),)
    )
