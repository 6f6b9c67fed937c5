"""Majority arithmetic for a fixed voter set: pure functions, checked against an oracle."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping


class VoteOutcome(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def quorum_size(voter_count: int) -> int:
    """The smallest majority of `voter_count` voters."""
    assert voter_count >= 1, "a quorum needs at least one voter"
    return voter_count // 2 + 1


def committed_index(match_indexes: Collection[int]) -> int:
    """The largest index that a majority of voters (one match index each) has reached."""
    ordered = sorted(match_indexes, reverse=True)
    return ordered[quorum_size(len(ordered)) - 1]


def vote_outcome(voters: Collection[int], votes: Mapping[int, bool]) -> VoteOutcome:
    """WON once a majority granted, LOST once a majority can no longer grant."""
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    rejected = sum(1 for voter in voters if votes.get(voter) is False)
    needed = quorum_size(len(voters))
    if granted >= needed:
        return VoteOutcome.WON
    if len(voters) - rejected < needed:
        return VoteOutcome.LOST
    return VoteOutcome.PENDING
