"""Replication: divergent tails, fast backtracking, restarts, snapshots."""

from __future__ import annotations

import random

from flowlog.raft.messages import (
    NO_NODE,
    AppendRequest,
    AppendResponse,
    Entry,
    HardState,
    Message,
    Snapshot,
    SnapshotRequest,
    VoteRequest,
)
from flowlog.raft.raft_core import RaftNode, Role
from flowlog.raft.ready import PersistedState, Proposal, RaftConfig

from .harness import Cluster


def payloads(cluster: Cluster, node_id: int) -> list[bytes]:
    return [entry.payload for entry in cluster.applied[node_id] if entry.payload]


def test_a_partitioned_old_leader_loses_its_uncommitted_tail() -> None:
    cluster = Cluster(5)
    cluster.campaign(1)
    cluster.isolate(1)
    for index in range(3):
        assert isinstance(cluster.node(1).propose(f"lost{index}".encode()), Proposal)
    cluster.deliver()
    assert cluster.node(1).log.last_index == 4
    cluster.campaign(2)
    cluster.node(2).propose(b"kept")
    cluster.deliver()
    cluster.heal()
    cluster.heartbeat(2)
    cluster.heartbeat(2)
    old = cluster.node(1)
    assert old.role is Role.FOLLOWER
    terms = {old.log.term_at(i) for i in range(2, old.log.last_index + 1)}
    assert terms == {cluster.node(2).term}, "the old tail was overwritten by the new leader"
    for node_id in range(1, 6):
        assert payloads(cluster, node_id) == [b"kept"]


def test_fast_backtracking_skips_a_whole_divergent_term_per_round_trip() -> None:
    cluster = Cluster(3, entries_per_message_max=100)
    cluster.campaign(1)
    cluster.isolate(1)
    for index in range(50):
        cluster.node(1).propose(f"stale{index}".encode())
    cluster.deliver()
    cluster.campaign(2)
    cluster.heal()
    rejects = 0

    def count_rejects(message: Message) -> Message:
        nonlocal rejects
        if isinstance(message, AppendResponse) and not message.success and message.rejected_index:
            rejects += 1
        return message

    cluster.tick(2)
    cluster.deliver(count_rejects)
    assert cluster.node(1).log.last_index == cluster.node(2).log.last_index
    assert rejects <= 2, f"{rejects} rejected probes for one divergent term"


def test_a_cluster_restarted_from_persisted_state_keeps_terms_votes_and_entries() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    for index in range(5):
        cluster.node(1).propose(f"e{index}".encode())
    cluster.deliver()
    cluster.heartbeat(1)
    before = {n: (cluster.node(n).term, cluster.node(n).voted_for) for n in (1, 2, 3)}
    last_index = cluster.node(1).log.last_index
    for node_id in (1, 2, 3):
        cluster.crash(node_id)
        cluster.start(node_id)
    for node_id in (1, 2, 3):
        node = cluster.node(node_id)
        assert (node.term, node.voted_for) == before[node_id]
        assert node.log.last_index == last_index
        assert node.commit_index == 0  # commit is re-learned from the next leader
    cluster.campaign(3)
    cluster.node(3).propose(b"after")
    cluster.deliver()
    cluster.heartbeat(3)
    for node_id in (1, 2, 3):
        assert payloads(cluster, node_id) == [b"e0", b"e1", b"e2", b"e3", b"e4", b"after"]


def test_a_restarted_voter_does_not_vote_twice_in_a_term() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    term, vote = cluster.node(2).term, cluster.node(2).voted_for
    assert vote == 1
    cluster.crash(2)
    node = cluster.start(2)
    node.step(VoteRequest(3, 2, term, False, 100, term))
    cluster.process(2)
    answers = [m for m in cluster.in_flight if m.recipient == 3]
    assert answers and not any(getattr(m, "granted", False) for m in answers)


def test_a_follower_behind_the_leaders_snapshot_gets_it_installed() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    cluster.crash(3)
    for index in range(10):
        cluster.node(1).propose(f"e{index}".encode())
    cluster.deliver()
    cluster.heartbeat(1)
    leader = cluster.node(1)
    assert leader.applied_index == 11
    # The application snapshots its state and the leader forgets the entries.
    state = b"|".join(payloads(cluster, 1))
    snapshot = Snapshot(leader.applied_index, leader.log.term_at(leader.applied_index) or 0, state)
    leader.compact(snapshot)
    assert leader.log.first_index == 12
    cluster.start(3)
    cluster.node(1).propose(b"after")
    sent: list[type] = []

    def record(message: Message) -> Message:
        sent.append(type(message))
        return message

    cluster.deliver(record)
    cluster.heartbeat(1)
    cluster.deliver(record)
    assert SnapshotRequest in sent
    follower = cluster.node(3)
    assert follower.log.snapshot == snapshot
    assert cluster.disks[3].snapshot == snapshot
    assert follower.log.term_at(12) == leader.term and follower.commit_index == 12
    assert [e.payload for e in cluster.applied[3]] == [b"after"]


def test_a_stale_append_does_not_cut_a_longer_matching_log() -> None:
    cluster = Cluster(3)
    cluster.campaign(1)
    held: list[AppendRequest] = []

    def hold_first(message: Message) -> Message | None:
        if isinstance(message, AppendRequest) and message.recipient == 2 and not held:
            held.append(message)
        return message

    cluster.node(1).propose(b"a")
    cluster.deliver(hold_first)
    cluster.node(1).propose(b"b")
    cluster.deliver()
    follower = cluster.node(2)
    last_index = follower.log.last_index
    follower.step(held[0])  # a duplicate of an older request arrives late
    assert follower.log.last_index == last_index


def test_a_follower_commits_only_what_the_request_proved_it_matches() -> None:
    # Log: 1 (term 1), 2 (term 1), 3 (term 2, never committed, about to be replaced).
    persisted = PersistedState(
        HardState(2, NO_NODE), Snapshot(), (Entry(1, 1), Entry(2, 1), Entry(3, 2))
    )
    follower = RaftNode(RaftConfig(2, {1, 2, 3}), random.Random(0), persisted)
    # The term-3 leader has committed 3 (its own entry 3); this request only proves 1..2.
    follower.step(AppendRequest(1, 2, 3, prev_log_index=2, prev_log_term=1, entries=(), leader_commit=3))
    assert follower.commit_index == 2
