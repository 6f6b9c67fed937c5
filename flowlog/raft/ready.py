"""What goes in and out of the Raft core besides messages: config, Ready, results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import attrs

from flowlog.raft.messages import NO_NODE, Entry, HardState, Message, Snapshot


class RandomSource(Protocol):
    """Randomness passed in (random.Random fits), so a seed replays a run exactly."""

    def randrange(self, start: int, stop: int, /) -> int: ...


def _check_positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


def _to_voters(voters: Iterable[int]) -> frozenset[int]:
    return frozenset(voters)


@attrs.frozen
class RaftConfig:
    """One voter's view of a fixed voter set (no membership changes yet)."""

    node_id: int
    voters: frozenset[int] = attrs.field(converter=_to_voters)
    # A follower campaigns after a random timeout in [election, 2 * election) ticks.
    election_timeout_ticks: int = attrs.field(default=10, validator=_check_positive)
    heartbeat_interval_ticks: int = attrs.field(default=1, validator=_check_positive)
    # One AppendRequest carries at most this many entries, and stops adding entries once
    # their payloads pass the byte budget.
    entries_per_message_max: int = attrs.field(default=64, validator=_check_positive)
    message_payload_bytes_max: int = attrs.field(default=1024 * 1024, validator=_check_positive)
    # Bounds the work one Ready hands to the application.
    committed_entries_per_ready_max: int = attrs.field(default=1024, validator=_check_positive)

    def __attrs_post_init__(self) -> None:
        if self.node_id not in self.voters:
            raise ValueError(f"node {self.node_id} is not one of the voters {sorted(self.voters)}")
        if self.heartbeat_interval_ticks >= self.election_timeout_ticks:
            raise ValueError("the heartbeat interval must be shorter than the election timeout")


@attrs.frozen
class PersistedState:
    """Everything a node acknowledged as durable: rebuild a restarted node from it."""

    hard_state: HardState = HardState()
    snapshot: Snapshot = Snapshot()
    entries: tuple[Entry, ...] = ()


@attrs.frozen
class Ready:
    """One batch of work for the driver, to be done in this order:

    1. persist `snapshot` (if any: it replaces the whole log), then `entries` (delete
       every held entry at or after entries[0].index, then append), then `hard_state`
       (if any), and fsync;
    2. send `messages`;
    3. restore the state machine from `snapshot` (if any), then apply
       `committed_entries`;
    4. call RaftNode.advance(ready).
    """

    hard_state: HardState | None
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]
    committed_entries: tuple[Entry, ...]
    messages: tuple[Message, ...]

    @property
    def must_persist(self) -> bool:
        return self.hard_state is not None or self.snapshot is not None or bool(self.entries)


@attrs.frozen
class Proposal:
    """A proposal was appended at (index, term); it took effect if the entry committed at
    `index` has this term."""

    index: int
    term: int


@attrs.frozen
class NotLeader:
    """Proposals go to the leader; `leader_hint` is the leader this node knows, or -1."""

    leader_hint: int = NO_NODE


ProposeResult = Proposal | NotLeader
