"""The vocabulary of the group coordinator: states, config, requests, responses, effects.

Plain values shared by group_state (one group's machine), group_core (all groups)
and the trio shell (coordinator.py and the handlers). Sans-IO like the cores.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

import attrs

from flowlog.broker import group_records as records
from flowlog.protocol.errors import ErrorCode

NO_GENERATION: Final = -1


class GroupState(enum.Enum):
    """Kafka's classic group states; the value is the name DescribeGroups/ListGroups show."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@attrs.frozen
class Transition:
    source: GroupState
    target: GroupState
    trigger: str


@attrs.frozen
class GroupConfig:
    """Broker settings of the coordinator (Kafka's names in comments)."""

    min_session_timeout_ms: int = 6_000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 3_000  # group.initial.rebalance.delay.ms
    # A new member's parked JoinGroup is dropped after this (Kafka's fixed 5 minutes).
    new_member_join_timeout_ms: int = 300_000
    # group.max.size; counts members and pending members. Kafka's default is unbounded.
    group_max_size: int = 1_000
    offsets_retention_ms: int = 7 * 24 * 3_600_000  # offsets.retention.minutes
    offsets_retention_check_interval_ms: int = 600_000  # offsets.retention.check.interval.ms
    offset_metadata_max_bytes: int = 4_096  # offset.metadata.max.bytes
    # Bounds of ours: committed partitions per group and groups per coordinator.
    offsets_per_group_max: int = 100_000
    groups_max: int = 100_000


@attrs.frozen
class Protocol:
    """One (name, metadata) a member offers in JoinGroup; metadata is opaque here."""

    name: str
    metadata: bytes


def _protocols(values: Sequence[Protocol]) -> tuple[Protocol, ...]:
    return tuple(values)


def _assignments(values: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    return tuple(values)


@attrs.frozen
class JoinRequest:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int  # -1 (JoinGroup v0) means: same as the session timeout
    protocol_type: str
    protocols: tuple[Protocol, ...] = attrs.field(converter=_protocols)
    api_version: int
    reason: str | None = None

    @property
    def effective_rebalance_timeout_ms(self) -> int:
        return (
            self.rebalance_timeout_ms if self.rebalance_timeout_ms >= 0 else self.session_timeout_ms
        )


@attrs.frozen
class SyncRequest:
    member_id: str
    generation_id: int
    group_instance_id: str | None = None
    protocol_type: str | None = None  # v5+; None skips the check
    protocol_name: str | None = None  # v5+; None skips the check
    # (member_id, assignment); only the leader's are used.
    assignments: tuple[tuple[str, bytes], ...] = attrs.field(default=(), converter=_assignments)


@attrs.frozen
class MemberIdentity:
    """One member of a LeaveGroup (v0-v2 send one with no instance id)."""

    member_id: str
    group_instance_id: str | None = None


@attrs.frozen
class JoinedMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@attrs.frozen
class JoinResponse:
    """JoinGroup answer fields, independent of the wire version; the shell maps them."""

    error_code: ErrorCode
    member_id: str = ""
    generation_id: int = NO_GENERATION
    protocol_type: str | None = None
    protocol_name: str | None = None  # None before a generation exists; "" on the wire below v7
    leader: str = ""
    members: tuple[JoinedMember, ...] = ()  # the leader's response only


@attrs.frozen
class SyncResponse:
    error_code: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@attrs.frozen
class RespondJoin:
    ticket: int
    response: JoinResponse


@attrs.frozen
class RespondSync:
    ticket: int
    response: SyncResponse


@attrs.frozen
class Persist:
    """Records to append to the group's __consumer_offsets partition before answering."""

    group_id: str
    records: tuple[records.Record, ...]


Effect = RespondJoin | RespondSync | Persist
