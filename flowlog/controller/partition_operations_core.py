"""AlterPartition (ISR changes asked by a partition leader) and preferred-leader election.

Sans-IO and read-only on the state. AlterPartition follows Kafka's checks: the sender
must be the registered incarnation (broker epoch) that leads the partition, at the
leader epoch and partition epoch it names; the new ISR keeps the leader, holds only
replicas, and may add only live (unfenced) brokers.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowlog.controller.broker_fencing_core import all_partitions
from flowlog.controller.controller_api import (
    AlterPartitionItem,
    AlterPartitionResult,
    OperationResult,
)
from flowlog.controller.leader_election_core import preferred_leader_change
from flowlog.controller.metadata_records import MetadataRecord, PartitionChangeRecord
from flowlog.controller.metadata_state import MetadataState, PartitionInfo
from flowlog.protocol.errors import ErrorCode


class _Refused(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def alter_partition(
    state: MetadataState, broker_id: int, broker_epoch: int, items: Sequence[AlterPartitionItem]
) -> OperationResult[AlterPartitionResult]:
    records: list[MetadataRecord] = []
    results: list[AlterPartitionResult] = []
    seen: set[tuple[bytes, int]] = set()
    broker = state.broker(broker_id)
    for item in items:
        current = state.partition(item.topic_id, item.partition)
        try:
            if broker is None or broker.epoch != broker_epoch:
                raise _Refused(
                    ErrorCode.STALE_BROKER_EPOCH,
                    f"broker {broker_id} epoch {broker_epoch} is not the registered one",
                )
            if (item.topic_id, item.partition) in seen:
                raise _Refused(ErrorCode.INVALID_REQUEST, "the partition is repeated")
            seen.add((item.topic_id, item.partition))
            record = _isr_change(state, broker_id, item, current)
        except _Refused as refused:
            results.append(_result(item, current, refused.error_code, refused.message))
            continue
        assert current is not None
        if record is not None:
            records.append(record)
            current = PartitionInfo(
                topic_id=current.topic_id,
                partition=current.partition,
                replicas=current.replicas,
                isr=item.new_isr,
                leader=current.leader,
                leader_epoch=current.leader_epoch,
                partition_epoch=current.partition_epoch + 1,
            )
        results.append(_result(item, current, ErrorCode.NONE))
    return OperationResult(tuple(records), tuple(results))


def _isr_change(
    state: MetadataState, broker_id: int, item: AlterPartitionItem, current: PartitionInfo | None
) -> PartitionChangeRecord | None:
    if current is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "no such partition")
    if current.leader != broker_id:
        raise _Refused(
            ErrorCode.NOT_LEADER_OR_FOLLOWER,
            f"broker {broker_id} does not lead it (the leader is {current.leader})",
        )
    if item.leader_epoch != current.leader_epoch:
        raise _Refused(
            ErrorCode.FENCED_LEADER_EPOCH,
            f"leader epoch {item.leader_epoch} is not the current {current.leader_epoch}",
        )
    if item.partition_epoch != current.partition_epoch:
        raise _Refused(
            ErrorCode.INVALID_UPDATE_VERSION,
            f"partition epoch {item.partition_epoch} is not the current "
            f"{current.partition_epoch}",
        )
    new_isr = item.new_isr
    if len(set(new_isr)) != len(new_isr) or broker_id not in new_isr:
        raise _Refused(ErrorCode.INVALID_REQUEST, f"ISR {list(new_isr)} must hold the leader once")
    if not set(new_isr) <= set(current.replicas):
        raise _Refused(
            ErrorCode.INVALID_REQUEST, f"ISR {list(new_isr)} is not within {list(current.replicas)}"
        )
    added = set(new_isr) - set(current.isr)
    ineligible = sorted(replica for replica in added if not state.is_live(replica))
    if ineligible:
        raise _Refused(
            ErrorCode.INELIGIBLE_REPLICA, f"fenced or unknown brokers {ineligible} cannot join"
        )
    if tuple(new_isr) == current.isr:
        return None
    return PartitionChangeRecord(
        topic_id=current.topic_id, partition=current.partition, isr=tuple(new_isr)
    )


def _result(
    item: AlterPartitionItem,
    current: PartitionInfo | None,
    error_code: ErrorCode,
    message: str | None = None,
) -> AlterPartitionResult:
    if current is None:
        return AlterPartitionResult(item.topic_id, item.partition, error_code, message)
    return AlterPartitionResult(
        topic_id=item.topic_id,
        partition=item.partition,
        error_code=error_code,
        error_message=message,
        leader=current.leader,
        leader_epoch=current.leader_epoch,
        isr=current.isr,
        partition_epoch=current.partition_epoch,
    )


def elect_preferred_leaders(state: MetadataState) -> tuple[MetadataRecord, ...]:
    """Kafka's auto leader rebalance: every partition whose first replica is live and in
    the ISR but does not lead gets it back as leader."""
    live = set(state.live_broker_ids())
    changes = (preferred_leader_change(partition, live) for partition in all_partitions(state))
    return tuple(change for change in changes if change is not None)
