"""The data the replication cores exchange with the broker shell, one frozen class each.

These are the replication-relevant fields of the wire messages (Fetch with a replica
id, OffsetForLeaderEpoch, AlterPartition) and of the controller's partition record;
the shell maps them to and from the protocol schemas.
"""

from __future__ import annotations

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.leader_epoch_cache import EpochEndOffset

NO_LEADER = -1


@attrs.frozen
class PartitionState:
    """What the controller committed for one partition (KRaft's PartitionRecord)."""

    replicas: tuple[int, ...]
    isr: frozenset[int]
    leader: int
    leader_epoch: int
    # Bumped by every change, ISR changes included (KRaft's partition epoch).
    partition_epoch: int

    def newer_than(self, other: PartitionState | None) -> bool:
        if other is None:
            return True
        return (self.leader_epoch, self.partition_epoch) > (other.leader_epoch, other.partition_epoch)


@attrs.frozen
class AlterPartitionRequest:
    """A leader asks the controller to commit a new ISR (KIP-497)."""

    leader: int
    leader_epoch: int
    # The partition epoch the leader's view is based on; a stale one is refused.
    partition_epoch: int
    new_isr: frozenset[int]


@attrs.frozen
class FetchRequest:
    """One partition of a follower's Fetch (replica id = the follower)."""

    request_id: int
    replica_id: int
    current_leader_epoch: int
    fetch_offset: int
    # Epoch of the follower's last batch (Fetch v12+), for divergence detection.
    last_fetched_epoch: int


@attrs.frozen
class FetchAnswer:
    """The leader's answer to a FetchRequest, for that partition."""

    request_id: int
    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    diverging_epoch: EpochEndOffset | None = None
    # Whole batches laid end to end, base offsets >= the fetch offset.
    records: bytes | memoryview = b""


@attrs.frozen
class EpochRequest:
    """One partition of a follower's OffsetForLeaderEpoch."""

    request_id: int
    replica_id: int
    current_leader_epoch: int
    leader_epoch: int


@attrs.frozen
class EpochAnswer:
    request_id: int
    error: ErrorCode
    end: EpochEndOffset
