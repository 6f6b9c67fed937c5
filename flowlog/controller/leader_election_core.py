"""Picking partition leaders: the pure rules every membership change shares.

Clean election takes the first replica (assignment order, so the preferred replica
wins when it can) that is in the ISR and live. Unclean election, only when allowed
and no ISR member is live, takes the first live replica and makes it the whole ISR:
records only the old ISR had are then lost, which is why Kafka leaves it off.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from flowlog.controller.metadata_records import NO_LEADER, PartitionChangeRecord
from flowlog.controller.metadata_state import PartitionInfo


def elect_leader(replicas: Sequence[int], isr: Collection[int], live: Collection[int]) -> int:
    """The first replica in the ISR that is live, else NO_LEADER."""
    for replica in replicas:
        if replica in isr and replica in live:
            return replica
    return NO_LEADER


def elect(
    replicas: Sequence[int], isr: tuple[int, ...], live: Collection[int], unclean: bool
) -> tuple[int, tuple[int, ...]]:
    """(leader, isr) after an election; the ISR changes only in an unclean one."""
    leader = elect_leader(replicas, isr, live)
    if leader != NO_LEADER or not unclean:
        return leader, isr
    for replica in replicas:
        if replica in live:
            return replica, (replica,)
    return NO_LEADER, isr


def change_record(
    partition: PartitionInfo, leader: int, isr: tuple[int, ...]
) -> PartitionChangeRecord | None:
    """The record that moves `partition` to (leader, isr), or None if nothing changes.

    `leader` is set only when leadership changes, since replay bumps the leader epoch
    whenever it is set.
    """
    if leader == partition.leader and isr == partition.isr:
        return None
    return PartitionChangeRecord(
        topic_id=partition.topic_id,
        partition=partition.partition,
        leader=None if leader == partition.leader else leader,
        isr=None if isr == partition.isr else isr,
    )


def without_broker(
    partition: PartitionInfo, node_id: int, live: Collection[int], unclean: bool
) -> PartitionChangeRecord | None:
    """`node_id` stops being usable: out of the ISR (unless it is the last member, which
    alone has every committed record) and, if it led, replaced by an election."""
    if node_id not in partition.isr and partition.leader != node_id:
        return None
    isr = tuple(replica for replica in partition.isr if replica != node_id) or partition.isr
    leader = partition.leader
    if leader == node_id or leader not in isr:
        leader, isr = elect(partition.replicas, isr, set(live) - {node_id}, unclean)
    return change_record(partition, leader, isr)


def with_broker(
    partition: PartitionInfo, node_id: int, live: Collection[int], unclean: bool
) -> PartitionChangeRecord | None:
    """`node_id` became usable: a leaderless partition it can lead gets a leader."""
    if partition.leader != NO_LEADER or node_id not in partition.replicas:
        return None
    leader, isr = elect(partition.replicas, partition.isr, set(live) | {node_id}, unclean)
    return change_record(partition, leader, isr)


def preferred_leader_change(
    partition: PartitionInfo, live: Collection[int]
) -> PartitionChangeRecord | None:
    """Give leadership back to the first replica when it is live and in the ISR."""
    preferred = partition.replicas[0]
    if partition.leader == preferred or preferred not in partition.isr or preferred not in live:
        return None
    return change_record(partition, preferred, partition.isr)
