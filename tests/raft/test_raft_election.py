"""Elections: pre-vote, check-quorum, leader stickiness, proposals and leader hints."""

from __future__ import annotations

import random

from flowlog.raft.messages import NO_NODE, VoteRequest, VoteResponse
from flowlog.raft.raft_core import RaftNode, Role
from flowlog.raft.ready import NotLeader, Proposal, RaftConfig

from .harness import ELECTION_TIMEOUT_TICKS, Cluster


def test_a_single_voter_elects_itself_and_commits_at_once() -> None:
    cluster = Cluster(1)
    cluster.tick(1, 2 * ELECTION_TIMEOUT_TICKS)
    node = cluster.node(1)
    assert node.role is Role.LEADER and node.term == 1
    result = node.propose(b"x")
    assert result == Proposal(2, 1)
    cluster.process(1)
    assert node.commit_index == 2
    assert [entry.payload for entry in cluster.applied[1]] == [b"", b"x"]


def test_three_voters_elect_one_leader_and_apply_a_proposal_everywhere() -> None:
    cluster = Cluster(3)
    cluster.campaign(2)
    leader = cluster.leader()
    assert leader.node_id == 2
    assert isinstance(leader.propose(b"hello"), Proposal)
    cluster.deliver()
    cluster.heartbeat(2)
    for node_id in (1, 2, 3):
        assert [e.payload for e in cluster.applied[node_id]] == [b"", b"hello"]


def test_a_proposal_to_a_follower_names_the_leader() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    assert cluster.node(3).propose(b"x") == NotLeader(leader_hint=1)
    fresh = RaftNode(RaftConfig(1, {1, 2, 3}), random.Random(0))
    assert fresh.propose(b"x") == NotLeader(leader_hint=NO_NODE)


def test_pre_vote_keeps_a_partitioned_follower_from_disrupting_the_leader() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    term = cluster.node(1).term
    cluster.isolate(3)
    for _ in range(5 * ELECTION_TIMEOUT_TICKS):
        cluster.tick(3)
        cluster.tick(1)
        cluster.deliver()
    # It campaigned, but only for pre-votes: its term never moved.
    assert cluster.node(3).term == term
    assert cluster.node(3).role is Role.PRE_CANDIDATE
    cluster.heal()
    cluster.heartbeat(1)
    assert cluster.leader().node_id == 1 and cluster.node(1).term == term
    assert cluster.node(3).role is Role.FOLLOWER and cluster.node(3).leader_id == 1


def test_followers_in_a_leader_lease_ignore_vote_requests_of_higher_terms() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    term = cluster.node(1).term
    follower = cluster.node(2)
    follower.step(VoteRequest(3, 2, term + 5, False, 100, term + 4))
    assert follower.term == term and follower.voted_for != 3
    cluster.process(2)
    assert not cluster.in_flight  # not even an answer


def test_check_quorum_makes_an_isolated_leader_step_down() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    cluster.isolate(1)
    leader = cluster.node(1)
    for _ in range(2 * ELECTION_TIMEOUT_TICKS):
        cluster.tick(1)
        cluster.deliver()
    assert leader.role is Role.FOLLOWER and leader.leader_id == NO_NODE
    # Its proposals are refused rather than silently lost.
    assert isinstance(leader.propose(b"x"), NotLeader)


def test_a_leader_that_hears_from_a_majority_stays() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    cluster.isolate(3)
    for _ in range(5 * ELECTION_TIMEOUT_TICKS):
        cluster.tick(1)
        cluster.tick(2)
        cluster.deliver()
    assert cluster.leader().node_id == 1


def test_the_majority_side_elects_a_new_leader_and_the_old_one_follows_it() -> None:
    cluster = Cluster(5)
    cluster.campaign(1)
    old_term = cluster.node(1).term
    cluster.isolate(1)
    cluster.campaign(4)
    assert cluster.node(4).role is Role.LEADER and cluster.node(4).term > old_term
    cluster.heal()
    cluster.heartbeat(4)
    assert cluster.node(1).role is Role.FOLLOWER and cluster.node(1).leader_id == 4


def test_a_vote_is_in_the_hard_state_of_the_ready_that_sends_its_answer() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    candidate = cluster.node(2)
    for _ in range(3 * ELECTION_TIMEOUT_TICKS):
        candidate.tick()
        if candidate.role is Role.PRE_CANDIDATE:
            break
    ready = candidate.ready()
    assert {type(m) for m in ready.messages} == {VoteRequest}
    assert ready.hard_state is None  # a pre-vote changes nothing durable
    candidate.advance(ready)
    # Pretend both peers granted the pre-vote: the real vote's Ready carries term + vote.
    for peer in (1, 3):
        candidate.step(VoteResponse(peer, 2, candidate.term + 1, True, True))
    ready = candidate.ready()
    assert ready.hard_state is not None and ready.hard_state.voted_for == 2
    assert all(isinstance(m, VoteRequest) and not m.pre_vote for m in ready.messages)
