"""Raft's safety properties, checked as the simulation runs (Raft paper, figure 3).

- election safety: at most one leader per term;
- log matching: an (index, term) names one entry and one predecessor term, so two logs
  holding the same (index, term) agree on every entry up to it;
- leader completeness: a leader holds every entry committed in an earlier term;
- state machine safety: every node applies the same entry at an index, in order, so each
  node's applied sequence is a prefix of one global sequence;
- committed entries never change, and an entry acknowledged to a client is in every
  later leader's log.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowlog.raft.messages import Entry
from flowlog.raft.raft_core import RaftNode, Role
from flowlog.raft.ready import Ready

from .state_machine import AppliedEntry


class InvariantViolation(AssertionError):
    pass


class InvariantChecker:
    def __init__(self) -> None:
        self.leader_by_term: dict[int, int] = {}
        # (index, term) -> (payload, kind, term of the entry before it)
        self.entry_identity: dict[tuple[int, int], tuple[bytes, int, int]] = {}
        self.committed_terms: dict[int, int] = {}
        self.applied: dict[int, AppliedEntry] = {}
        self.acknowledged: dict[int, tuple[int, bytes]] = {}
        self._seen_commit: dict[int, int] = {}
        self._known_leader_term: dict[int, int] = {}

    def fail(self, text: str) -> None:
        raise InvariantViolation(text)

    # -- per event ---------------------------------------------------------------------

    def check_node(self, raft: RaftNode, leaders: Iterable[RaftNode]) -> None:
        if raft.role is Role.LEADER:
            holder = self.leader_by_term.setdefault(raft.term, raft.node_id)
            if holder != raft.node_id:
                self.fail(f"election safety: {holder} and {raft.node_id} lead term {raft.term}")
            if self._known_leader_term.get(raft.node_id) != raft.term:
                self._known_leader_term[raft.node_id] = raft.term
                self._check_leader_completeness(raft)
        self._observe_commit(raft, leaders)

    def on_restart(self, raft: RaftNode) -> None:
        self._seen_commit[raft.node_id] = raft.commit_index
        self._known_leader_term.pop(raft.node_id, None)

    def on_ready(self, raft: RaftNode, ready: Ready) -> None:
        previous_term = None
        for entry in ready.entries:
            if previous_term is None:
                previous_term = raft.log.term_at(entry.index - 1)
                assert previous_term is not None
            self._check_identity(raft.node_id, entry, previous_term)
            previous_term = entry.term

    def on_apply(self, node_id: int, applied: AppliedEntry) -> None:
        index = applied[0]
        first = self.applied.setdefault(index, applied)
        if first != applied:
            self.fail(f"state machine safety: node {node_id} applied {applied} at {index}, "
                      f"another node applied {first}")
        committed_term = self.committed_terms.get(index)
        if committed_term is not None and committed_term != applied[1]:
            self.fail(f"node {node_id} applied term {applied[1]} at {index}, committed {committed_term}")

    def on_acknowledged(self, index: int, term: int, payload: bytes) -> None:
        self.acknowledged[index] = (term, payload)

    # -- at the end --------------------------------------------------------------------

    def check_logs_match(self, rafts: list[RaftNode]) -> None:
        """Full log matching over the in-memory logs, pairwise."""
        for position, first in enumerate(rafts):
            for second in rafts[position + 1 :]:
                self._check_pair(first, second)

    def check_acknowledged_applied(self) -> None:
        for index, (term, payload) in self.acknowledged.items():
            applied = self.applied.get(index)
            if applied is None or applied[1] != term or applied[3] != payload:
                self.fail(f"acknowledged entry {index} (term {term}) lost: now {applied}")

    # -- helpers -----------------------------------------------------------------------

    def _check_identity(self, node_id: int, entry: Entry, previous_term: int) -> None:
        identity = (entry.payload, int(entry.kind), previous_term)
        first = self.entry_identity.setdefault((entry.index, entry.term), identity)
        if first != identity:
            self.fail(f"log matching: node {node_id} holds ({entry.index}, {entry.term}) as "
                      f"{identity}, another node as {first}")

    def _observe_commit(self, raft: RaftNode, leaders: Iterable[RaftNode]) -> None:
        seen = self._seen_commit.get(raft.node_id, 0)
        if raft.commit_index <= seen:
            return
        start = max(seen, raft.log.snapshot.index) + 1
        newly: list[tuple[int, int]] = []
        for index in range(start, raft.commit_index + 1):
            term = raft.log.term_at(index)
            if term is None:
                break  # Committed but not yet received (a heartbeat told the commit).
            known = self.committed_terms.setdefault(index, term)
            if known != term:
                self.fail(f"committed entry {index} changed: term {known} then {term} "
                          f"(node {raft.node_id})")
            newly.append((index, term))
        self._seen_commit[raft.node_id] = start - 1 + len(newly)
        for leader in leaders:
            for index, term in newly:
                if leader.term > term:
                    self._check_holds(leader, index, term, "committed")

    def _check_leader_completeness(self, leader: RaftNode) -> None:
        for index, term in self.committed_terms.items():
            self._check_holds(leader, index, term, "committed")
        for index, (term, _) in self.acknowledged.items():
            self._check_holds(leader, index, term, "acknowledged")

    def _check_holds(self, leader: RaftNode, index: int, term: int, what: str) -> None:
        if index <= leader.log.snapshot.index:
            return  # Its snapshot covers the index; state machine safety checks the content.
        held = leader.log.term_at(index)
        if held != term:
            self.fail(f"leader completeness: leader {leader.node_id} of term {leader.term} "
                      f"holds term {held} at {index}, {what} term {term}")

    def _check_pair(self, first: RaftNode, second: RaftNode) -> None:
        low = max(first.log.snapshot.index, second.log.snapshot.index)
        high = min(first.log.last_index, second.log.last_index)
        # The highest common (index, term): everything from `low` up to it must agree.
        for index in range(high, low, -1):
            if first.log.term_at(index) == second.log.term_at(index):
                ours = first.log.entries(low + 1, index) if index > low else []
                theirs = second.log.entries(low + 1, index) if index > low else []
                if ours != theirs:
                    self.fail(f"log matching: nodes {first.node_id} and {second.node_id} agree "
                              f"on ({index}, {first.log.term_at(index)}) but differ before it")
                return
