"""Broker registration, leader election on membership changes, producer-id blocks.

Sans-IO and read-only on the state. A registered broker is live unless fenced
(broker_fencing_core.py). Elections follow leader_election_core: the first replica
(in assignment order) that is in the ISR and live; with none, the partition has no
leader (-1) until one returns, unless the policy allows an unclean election.
"""

from __future__ import annotations

from flowlog.controller.controller_api import (
    CLEAN_ELECTION,
    BrokerResult,
    ElectionPolicy,
    OperationResult,
    ProducerIdBlock,
)
from flowlog.controller.leader_election_core import elect_leader, with_broker, without_broker
from flowlog.controller.metadata_records import (
    UUID_SIZE_BYTES,
    MetadataRecord,
    PartitionChangeRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
)
from flowlog.controller.metadata_state import MetadataState, PartitionInfo
from flowlog.protocol.errors import ErrorCode

PORT_MAX = 65535
PRODUCER_ID_MAX = 2**63 - 1
# Kafka hands out blocks of 1000; a far larger one is a caller bug, not a need.
PRODUCER_ID_BLOCK_SIZE_MAX = 1_000_000


__all__ = ["allocate_producer_ids", "elect_leader", "register_broker", "unregister_broker"]


def register_broker(
    state: MetadataState,
    node_id: int,
    host: str,
    port: int,
    rack: str | None,
    incarnation_id: bytes,
    policy: ElectionPolicy = CLEAN_ELECTION,
) -> OperationResult[BrokerResult]:
    """Register (or re-register) a broker, unfenced, and elect it where partitions have
    no leader.

    A new incarnation of a broker that leads partitions bumps their leader epoch: the
    restarted process must not be taken for the old one by followers or clients.
    """
    error = _registration_error(node_id, host, port, incarnation_id)
    if error is not None:
        return OperationResult((), (BrokerResult(node_id, ErrorCode.INVALID_REQUEST, error),))
    record = RegisterBrokerRecord(node_id, host, port, rack, incarnation_id)
    previous = state.broker(node_id)
    if previous is not None and (
        previous.host, previous.port, previous.rack, previous.incarnation_id
    ) == (host, port, rack, incarnation_id):
        # A retried registration; a fenced broker is unfenced by its next heartbeat.
        return OperationResult((), (BrokerResult(node_id, ErrorCode.NONE),))
    restarted = previous is not None and previous.incarnation_id != incarnation_id
    live = set(state.live_broker_ids()) | {node_id}
    records: list[MetadataRecord] = [record]
    for partition in _all_partitions(state):
        change = with_broker(partition, node_id, live, policy.unclean)
        if change is not None:
            records.append(change)
        elif restarted and partition.leader == node_id:
            records.append(_leader_change(partition, node_id))
    return OperationResult(tuple(records), (BrokerResult(node_id, ErrorCode.NONE),))


def _registration_error(node_id: int, host: str, port: int, incarnation_id: bytes) -> str | None:
    if node_id < 0:
        return f"node id {node_id} is negative"
    if not host:
        return "the host is empty"
    if not 1 <= port <= PORT_MAX:
        return f"port {port} is not in [1, {PORT_MAX}]"
    if len(incarnation_id) != UUID_SIZE_BYTES:
        return f"the incarnation id is {len(incarnation_id)} bytes, not {UUID_SIZE_BYTES}"
    return None


def unregister_broker(state: MetadataState, node_id: int) -> OperationResult[BrokerResult]:
    """Remove a broker: drop it from every ISR (but never empty one) and re-elect leaders."""
    if state.broker(node_id) is None:
        return OperationResult(
            (),
            (BrokerResult(node_id, ErrorCode.BROKER_ID_NOT_REGISTERED, f"no broker {node_id}"),),
        )
    live = set(state.live_broker_ids()) - {node_id}
    records: list[MetadataRecord] = []
    for partition in _all_partitions(state):
        change = without_broker(partition, node_id, live, unclean=False)
        if change is not None:
            records.append(change)
    records.append(UnregisterBrokerRecord(node_id))
    return OperationResult(tuple(records), (BrokerResult(node_id, ErrorCode.NONE),))


def allocate_producer_ids(
    state: MetadataState, broker_id: int, block_size: int
) -> OperationResult[ProducerIdBlock]:
    """The next `block_size` producer ids for `broker_id`; blocks never overlap."""
    if state.broker(broker_id) is None:
        return _producer_id_refusal(
            broker_id, ErrorCode.BROKER_ID_NOT_REGISTERED, f"no broker {broker_id}"
        )
    if not 1 <= block_size <= PRODUCER_ID_BLOCK_SIZE_MAX:
        return _producer_id_refusal(
            broker_id,
            ErrorCode.INVALID_REQUEST,
            f"block size {block_size} is not in [1, {PRODUCER_ID_BLOCK_SIZE_MAX}]",
        )
    first = state.next_producer_id
    end = first + block_size
    if end - 1 > PRODUCER_ID_MAX:
        return _producer_id_refusal(
            broker_id, ErrorCode.UNKNOWN_SERVER_ERROR, "all producer ids are handed out"
        )
    return OperationResult(
        (ProducerIdsRecord(broker_id=broker_id, next_producer_id=end),),
        (ProducerIdBlock(broker_id, ErrorCode.NONE, None, first, block_size),),
    )


def _producer_id_refusal(
    broker_id: int, error_code: ErrorCode, message: str
) -> OperationResult[ProducerIdBlock]:
    return OperationResult((), (ProducerIdBlock(broker_id, error_code, message),))


def _all_partitions(state: MetadataState) -> list[PartitionInfo]:
    return [
        partition for topic in state.topics() for partition in state.partitions(topic.topic_id)
    ]


def _leader_change(partition: PartitionInfo, leader: int) -> PartitionChangeRecord:
    return PartitionChangeRecord(
        topic_id=partition.topic_id, partition=partition.partition, leader=leader
    )
