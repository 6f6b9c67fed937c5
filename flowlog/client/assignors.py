"""Partition assignors for the "consumer" group protocol: pure functions, no I/O.

The group leader runs one of these on the members' subscriptions and the
partition counts of the subscribed topics, and hands each member its list.

- range (Java's RangeAssignor): per topic, members subscribed to it sorted by
  member id; the first `count % members` get one extra partition.
- roundrobin (Java's RoundRobinAssignor): all partitions sorted by (topic,
  partition) dealt in turn to the members sorted by id, skipping members not
  subscribed to that topic.
- cooperative-sticky: balanced (counts differ by at most one among members
  with the same subscription), keeps as many owned partitions as it can, and
  withholds any partition moving from one member to another: the old owner
  revokes it and rejoins, and the next rebalance gives it to the new owner
  (KIP-429's incremental protocol). Its result never asks a member to take a
  partition that another member still owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from flowlog.client.types import TopicPartition

EAGER: Final = "eager"
COOPERATIVE: Final = "cooperative"


@attrs.frozen(slots=True)
class MemberSubscription:
    member_id: str
    topics: tuple[str, ...]
    owned: tuple[TopicPartition, ...] = ()
    generation: int = -1
    group_instance_id: str | None = None


Assignment = dict[str, list[TopicPartition]]
Assignor = Callable[[Mapping[str, MemberSubscription], Mapping[str, int]], Assignment]


def _all_partitions(
    members: Iterable[MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> list[TopicPartition]:
    topics = sorted({t for m in members for t in m.topics if t in partitions_per_topic})
    return [TopicPartition(t, p) for t in topics for p in range(partitions_per_topic[t])]


def range_assign(
    members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    assignment: Assignment = {member_id: [] for member_id in members}
    topics = sorted({t for m in members.values() for t in m.topics})
    for topic in topics:
        count = partitions_per_topic.get(topic, 0)
        subscribers = sorted(m for m, s in members.items() if topic in s.topics)
        if not subscribers or count <= 0:
            continue
        per_member, extra = divmod(count, len(subscribers))
        for index, member_id in enumerate(subscribers):
            start = index * per_member + min(index, extra)
            length = per_member + (1 if index < extra else 0)
            assignment[member_id].extend(
                TopicPartition(topic, p) for p in range(start, start + length)
            )
    return assignment


def round_robin_assign(
    members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    assignment: Assignment = {member_id: [] for member_id in members}
    order = sorted(members)
    if not order:
        return assignment
    cursor = 0
    for tp in _all_partitions(members.values(), partitions_per_topic):
        # At most len(order) steps find a subscriber: some member subscribes to tp.topic.
        for _ in range(len(order)):
            member_id = order[cursor % len(order)]
            cursor += 1
            if tp.topic in members[member_id].topics:
                assignment[member_id].append(tp)
                break
    return assignment


def sticky_assign(
    members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    """Balanced and sticky, without the cooperative withholding (see cooperative_sticky_assign)."""
    all_partitions = _all_partitions(members.values(), partitions_per_topic)
    valid = set(all_partitions)
    owner = _resolve_owners(members, valid)
    assignment: Assignment = {member_id: [] for member_id in members}
    for tp, member_id in owner.items():
        assignment[member_id].append(tp)
    if not members:
        return assignment

    def eligible(tp: TopicPartition) -> list[str]:
        return [m for m in members if tp.topic in members[m].topics]

    # Members over the fair share give up their newest-sorted extras.
    total = len(all_partitions)
    ceiling = -(-total // len(members))
    unassigned = [tp for tp in all_partitions if tp not in owner]
    for member_id in sorted(assignment):
        owned = sorted(assignment[member_id])
        if len(owned) > ceiling:
            assignment[member_id] = owned[:ceiling]
            unassigned.extend(owned[ceiling:])
    for tp in sorted(unassigned):
        candidates = eligible(tp)
        if candidates:
            target = min(candidates, key=lambda m: (len(assignment[m]), m))
            assignment[target].append(tp)
    _balance(assignment, members)
    return {member_id: sorted(tps) for member_id, tps in assignment.items()}


def _resolve_owners(
    members: Mapping[str, MemberSubscription], valid: set[TopicPartition]
) -> dict[TopicPartition, str]:
    """Who keeps each owned partition: a subscriber still; on a conflict the newer generation."""
    owner: dict[TopicPartition, str] = {}
    generation: dict[TopicPartition, int] = {}
    for member_id in sorted(members):
        member = members[member_id]
        for tp in member.owned:
            if tp not in valid or tp.topic not in member.topics:
                continue
            if tp not in owner or member.generation > generation[tp]:
                owner[tp] = member_id
                generation[tp] = member.generation
    return owner


def _balance(assignment: Assignment, members: Mapping[str, MemberSubscription]) -> None:
    """Move partitions from the fullest to the emptiest eligible member until counts are within one."""
    total = sum(len(tps) for tps in assignment.values())
    # Each move lowers the sum of squared counts, so total * len(members) moves bound the loop.
    for _ in range(total * max(len(members), 1) + 1):
        moved = False
        for source in sorted(assignment, key=lambda m: (-len(assignment[m]), m)):
            for tp in sorted(assignment[source], reverse=True):
                takers = [
                    m for m in assignment
                    if tp.topic in members[m].topics
                    and len(assignment[m]) + 1 < len(assignment[source])
                ]
                if takers:
                    target = min(takers, key=lambda m: (len(assignment[m]), m))
                    assignment[source].remove(tp)
                    assignment[target].append(tp)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return


def withhold_transfers(
    assignment: Assignment, members: Mapping[str, MemberSubscription]
) -> Assignment:
    """Drop each partition assigned to one member while another still owns it."""
    owned_by: dict[TopicPartition, str] = {}
    for member_id, member in members.items():
        for tp in member.owned:
            owned_by.setdefault(tp, member_id)
    return {
        member_id: [tp for tp in tps if owned_by.get(tp, member_id) == member_id]
        for member_id, tps in assignment.items()
    }


def cooperative_sticky_assign(
    members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    return withhold_transfers(sticky_assign(members, partitions_per_topic), members)


ASSIGNORS: Final[dict[str, Assignor]] = {
    "range": range_assign,
    "roundrobin": round_robin_assign,
    "cooperative-sticky": cooperative_sticky_assign,
}
# Eager: every member revokes everything before rejoining. Cooperative: only what moves.
REBALANCE_PROTOCOLS: Final[dict[str, str]] = {
    "range": EAGER,
    "roundrobin": EAGER,
    "cooperative-sticky": COOPERATIVE,
}
