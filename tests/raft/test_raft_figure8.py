"""Raft's figure 8: a leader must not commit an entry of an earlier term by counting."""

from __future__ import annotations

import attrs

from flowlog.raft.messages import AppendRequest, Message
from flowlog.raft.raft_core import Role

from .harness import Cluster


def test_old_term_entry_is_not_committed_by_counting_replicas() -> None:
    cluster = Cluster(5, entries_per_message_max=1)
    cluster.campaign(1)
    first_term = cluster.node(1).term
    assert cluster.node(1).commit_index == 1  # its no-op
    # Term 1: the entry at index 2 reaches only node 2.
    cluster.cut = {(1, 3), (1, 4), (1, 5)}
    cluster.node(1).propose(b"old")
    cluster.deliver()
    cluster.crash(1)
    cluster.heal()

    # Node 5 wins with 3 and 4, appends its no-op at index 2, and reaches nobody.
    cluster.campaign(5, lambda m: None if isinstance(m, AppendRequest) else m)
    assert cluster.node(5).role is Role.LEADER
    assert cluster.node(5).log.term_at(2) == cluster.node(5).term
    cluster.crash(5)

    # Node 1 comes back and wins; its old entry (not its no-op) reaches node 3 too, so
    # the old entry now sits on a majority (1, 2, 3).
    cluster.start(1)
    leader_term = None

    def only_old_entries(message: Message) -> Message | None:
        if isinstance(message, AppendRequest):
            old = tuple(entry for entry in message.entries if entry.term == first_term)
            return attrs.evolve(message, entries=old)
        return message

    cluster.campaign(1, only_old_entries)
    leader_term = cluster.node(1).term
    assert cluster.node(1).role is Role.LEADER
    assert cluster.node(3).log.term_at(2) == first_term
    assert cluster.node(1).commit_index < 2, "committed an old-term entry by counting"

    # Node 5 can still win (its last term is higher) and overwrite index 2: which is
    # why counting must not commit it.
    cluster.crash(1)
    cluster.start(5)
    cluster.campaign(5)
    assert cluster.node(5).role is Role.LEADER and cluster.node(5).term > leader_term
    cluster.heartbeat(5)
    for node_id in (2, 3, 4):
        assert cluster.node(node_id).log.term_at(2) != first_term
