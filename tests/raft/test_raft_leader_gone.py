"""peer_gone(): a follower with proof that its leader's process died campaigns early;
one without the proof keeps refusing pre-votes while its leader lives."""

from __future__ import annotations

from flowlog.raft.messages import NO_NODE, VoteRequest, VoteResponse
from flowlog.raft.raft_core import LEADER_GONE_DELAY_DIVISOR, Role

from .harness import ELECTION_TIMEOUT_TICKS, Cluster

# The longest a follower with the proof waits before its pre-vote.
GONE_WINDOW_TICKS = max(1, ELECTION_TIMEOUT_TICKS // LEADER_GONE_DELAY_DIVISOR)


def _tick_together(cluster: Cluster, nodes: tuple[int, ...], ticks: int) -> None:
    """Tick `nodes` in lockstep, delivering what they send after each round."""
    for _ in range(ticks):
        for node_id in nodes:
            cluster.tick(node_id)
        cluster.deliver()


def _elected_cluster(node_count: int, seed: int = 0) -> Cluster:
    cluster = Cluster(node_count, seed=seed)
    cluster.campaign(1)
    cluster.heartbeat(1)
    for node_id in range(2, node_count + 1):
        assert cluster.node(node_id).leader_id == 1
    return cluster


def test_the_survivors_elect_a_new_leader_within_the_short_window() -> None:
    for seed in range(20):
        cluster = _elected_cluster(3, seed)
        term = cluster.node(1).term
        cluster.crash(1)
        for node_id in (2, 3):
            cluster.node(node_id).peer_gone(1)
            assert cluster.node(node_id).leader_id == NO_NODE
        for _ in range(GONE_WINDOW_TICKS):
            for node_id in (2, 3):
                cluster.tick(node_id)
                cluster.deliver()
        leader = cluster.leader()
        assert leader.node_id in (2, 3) and leader.term == term + 1, f"seed {seed}"
        other = cluster.node(5 - leader.node_id)
        assert other.role is Role.FOLLOWER and other.leader_id == leader.node_id


def test_survivors_that_campaign_at_the_same_moment_split_then_elect_after_a_timeout() -> None:
    # Ticks in lockstep and no delivery in between: the worst case for a split vote.
    splits = 0
    for seed in range(20):
        cluster = _elected_cluster(3, seed)
        cluster.crash(1)
        for node_id in (2, 3):
            cluster.node(node_id).peer_gone(1)
        _tick_together(cluster, (2, 3), GONE_WINDOW_TICKS)
        if not any(cluster.node(n).role is Role.LEADER for n in (2, 3)):
            splits += 1
            # Plain Raft from here: randomized election timeouts (which in lockstep
            # may split again, rarely twice).
            for _ in range(10 * ELECTION_TIMEOUT_TICKS):
                cluster.tick(2)
                cluster.tick(3)
                cluster.deliver()
                if any(cluster.node(n).role is Role.LEADER for n in (2, 3)):
                    break
        assert cluster.leader().node_id in (2, 3), f"seed {seed}"
    assert 0 < splits < 20, splits


def test_one_survivor_with_the_proof_wins_with_the_vote_of_another_that_has_it_too() -> None:
    cluster = _elected_cluster(5)
    term = cluster.node(1).term
    cluster.crash(1)
    # Nodes 2 and 3 saw node 1 die; 4 and 5 did not (yet): they still hold their lease,
    # so only 2 and 3 campaign, and 2 + 3 + one of 4 / 5 is needed...
    for node_id in (2, 3):
        cluster.node(node_id).peer_gone(1)
    _tick_together(cluster, (2, 3), GONE_WINDOW_TICKS)
    assert all(cluster.node(n).term == term for n in (2, 3, 4, 5))
    assert not any(cluster.node(n).role is Role.LEADER for n in (2, 3, 4, 5))
    # ... until one more voter has the proof.
    cluster.node(4).peer_gone(1)
    for _ in range(GONE_WINDOW_TICKS):
        for node_id in (2, 3, 4):
            cluster.tick(node_id)
        cluster.deliver()
    assert cluster.leader().term == term + 1


def test_a_follower_without_the_proof_refuses_a_pre_vote_while_its_leader_lives() -> None:
    cluster = _elected_cluster(3)
    term = cluster.node(1).term
    # Node 2 believes (wrongly) that node 1 is gone; node 3 still hears from node 1.
    cluster.node(2).peer_gone(1)
    cluster.tick(2, GONE_WINDOW_TICKS)
    assert cluster.node(2).role is Role.PRE_CANDIDATE
    requests = [m for m in cluster.in_flight if isinstance(m, VoteRequest)]
    assert {m.recipient for m in requests} == {1, 3} and all(m.pre_vote for m in requests)
    cluster.deliver()
    # Neither the leader nor node 3 granted (nor even answered): nothing moved.
    assert cluster.node(2).role is Role.PRE_CANDIDATE and cluster.node(2).term == term
    assert cluster.node(3).leader_id == 1 and cluster.node(3).term == term
    assert cluster.leader().node_id == 1
    # The leader's next heartbeat puts node 2 back in line.
    cluster.heartbeat(1)
    assert cluster.node(2).role is Role.FOLLOWER and cluster.node(2).leader_id == 1
    assert cluster.leader().node_id == 1 and cluster.node(1).term == term


def test_a_follower_with_the_proof_grants_a_pre_vote_the_leader_would_block() -> None:
    cluster = _elected_cluster(3)
    term = cluster.node(1).term
    follower = cluster.node(3)
    follower.peer_gone(1)
    cluster.process(3)
    follower.step(VoteRequest(2, 3, term + 1, True, cluster.node(2).log.last_index,
                              cluster.node(2).log.last_term))
    cluster.process(3)
    (answer,) = [m for m in cluster.in_flight if m.sender == 3]
    assert answer == VoteResponse(3, 2, term + 1, True, True)
    assert follower.term == term  # a pre-vote changes nothing


def test_proof_about_a_peer_that_is_not_the_leader_changes_nothing() -> None:
    cluster = _elected_cluster(3)
    follower = cluster.node(2)
    timeout = follower._randomized_election_timeout_ticks
    follower.peer_gone(3)
    follower.peer_gone(2)  # itself: not a peer
    assert follower.leader_id == 1 and follower._randomized_election_timeout_ticks == timeout
    leader = cluster.node(1)
    leader.peer_gone(2)
    assert leader.role is Role.LEADER
    cluster.tick(2, ELECTION_TIMEOUT_TICKS - 1)
    assert follower.role is Role.FOLLOWER and follower.leader_id == 1
