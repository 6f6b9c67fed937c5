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

Custom assignors (Java's ConsumerPartitionAssignor) subclass GroupAssignor:
they add their own bytes to each member's subscription and assignment (the
streams runtime reports its tasks this way). `partition_assignment_strategy`
mixes built-in names and such objects; resolve_assignors turns both into
GroupAssignor objects, so the group member handles one kind of thing.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from flowlog.client.errors import ConfigurationError
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
    # What the member's assignor added to its subscription (GroupAssignor.subscription_user_data).
    user_data: bytes | None = None


@attrs.frozen(slots=True)
class MemberAssignment:
    """What the leader hands one member: its partitions and the assignor's own bytes."""

    partitions: tuple[TopicPartition, ...]
    user_data: bytes | None = None


Assignment = dict[str, list[TopicPartition]]
Assignor = Callable[[Mapping[str, MemberSubscription], Mapping[str, int]], Assignment]


class GroupAssignor(abc.ABC):
    """An assignor object: the protocol `name` members vote for in JoinGroup, and its logic.

    Subclasses set `name` and `rebalance_protocol` (EAGER: members revoke
    everything before rejoining; COOPERATIVE: only what the assignment takes
    away, so `assign` must not hand a member a partition another member still
    owns) and implement `assign`. One object serves one consumer: it may keep
    state between its own calls (what on_assignment received, what to report).
    """

    name: str
    rebalance_protocol: str = EAGER

    def subscription_user_data(
        self, topics: tuple[str, ...], owned: tuple[TopicPartition, ...]
    ) -> bytes | None:
        """Bytes for this member's subscription; called for every JoinGroup.

        In the cooperative protocol it is also called right after on_assignment,
        with the same arguments as at the join: if the bytes changed, the member
        rejoins at once so that the leader sees what it gave up. Keep it a pure
        function of the assignor's state.
        """
        return None

    def on_join(self) -> None:
        """Called before each JoinGroup, before subscription_user_data: freeze what it reports."""
        return None

    async def before_assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> None:
        """Run by the leader just before `assign`: fetch what the plan needs (I/O allowed)."""
        return None

    @abc.abstractmethod
    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        """Run by the leader: every member's assignment (members left out get nothing)."""

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        """Called on every member after SyncGroup, before the rebalance listener's callbacks."""
        return None  # most assignors keep no state


@attrs.frozen
class BuiltinAssignor(GroupAssignor):
    """One of the assignor functions above as a GroupAssignor (no user data)."""

    name: str
    function: Assignor
    rebalance_protocol: str = EAGER

    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        plan = self.function(members, partitions_per_topic)
        return {member_id: MemberAssignment(tuple(tps)) for member_id, tps in plan.items()}


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


def resolve_assignors(strategy: Iterable[object]) -> dict[str, GroupAssignor]:
    """Protocol name -> assignor, in preference order, for built-in names and GroupAssignors.

    Raises ConfigurationError naming the first entry that is neither, or
    whose name or rebalance protocol is invalid or repeated.
    """
    resolved: dict[str, GroupAssignor] = {}
    for entry in strategy:
        assignor = _resolve_one(entry)
        if assignor.name in resolved:
            raise ConfigurationError(
                f"partition_assignment_strategy names assignor {assignor.name!r} twice"
            )
        resolved[assignor.name] = assignor
    if not resolved:
        raise ConfigurationError("partition_assignment_strategy is empty")
    return resolved


def _resolve_one(entry: object) -> GroupAssignor:
    if isinstance(entry, str):
        if entry not in ASSIGNORS:
            raise ConfigurationError(
                f"unknown assignor {entry!r} in partition_assignment_strategy; "
                f"known: {sorted(ASSIGNORS)}, or a GroupAssignor object"
            )
        return BuiltinAssignor(entry, ASSIGNORS[entry], REBALANCE_PROTOCOLS[entry])
    if not isinstance(entry, GroupAssignor):
        raise ConfigurationError(
            f"partition_assignment_strategy entry {entry!r} is neither an assignor name "
            f"({', '.join(sorted(ASSIGNORS))}) nor a GroupAssignor"
        )
    name = getattr(entry, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"assignor {entry!r} needs a non-empty string `name`")
    if entry.rebalance_protocol not in (EAGER, COOPERATIVE):
        raise ConfigurationError(
            f"assignor {name!r} has rebalance_protocol {entry.rebalance_protocol!r}; "
            f"expected {EAGER!r} or {COOPERATIVE!r}"
        )
    return entry
