"""Majority arithmetic against a brute-force oracle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flowlog.raft.quorum_core import VoteOutcome, committed_index, quorum_size, vote_outcome


@given(st.lists(st.integers(0, 20), min_size=1, max_size=7))
def test_committed_index_is_the_largest_index_a_majority_reached(matches: list[int]) -> None:
    majority = len(matches) // 2 + 1
    oracle = max(i for i in range(0, 21) if sum(m >= i for m in matches) >= majority)
    assert committed_index(matches) == oracle


@given(st.integers(1, 7), st.data())
def test_vote_outcome_matches_counting_every_completion(size: int, data: st.DataObject) -> None:
    voters = list(range(size))
    votes = {
        voter: vote
        for voter in voters
        if (vote := data.draw(st.sampled_from([True, False, None]))) is not None
    }
    undecided = [v for v in voters if v not in votes]
    granted = sum(votes.values())
    # Oracle: won if already a majority; lost if even all undecided granting falls short.
    if granted >= quorum_size(size):
        expected = VoteOutcome.WON
    elif granted + len(undecided) < quorum_size(size):
        expected = VoteOutcome.LOST
    else:
        expected = VoteOutcome.PENDING
    assert vote_outcome(voters, votes) == expected
