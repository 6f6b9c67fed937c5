"""RaftNode: one voter's Raft state machine, sans-IO (no clock, no I/O, no own randomness).

Inputs: step(message), tick(), peer_gone(peer), propose(payload), compact(snapshot),
advance(ready).
Output: ready(), a Ready holding what to persist, send and apply (see ready.Ready).

The persist-before-send contract: the driver makes a Ready's snapshot, entries and
hard state durable (fsync) BEFORE it sends any of that Ready's messages, and calls
advance(ready) only after that. A vote is thus on disk before the candidate hears of
it, and an AppendResponse never claims an entry a crash could lose. Between ready()
and advance() the node may be stepped and ticked (fsync may take a while); ready() is
not called again until advance(). A leader counts its own log toward commitment only
up to what advance() acknowledged.

Beyond the Raft paper (Ongaro's thesis ch. 9): pre-vote (a node campaigns at a new
term only after a majority says it could win, so a rejoining node does not depose a
healthy leader), check-quorum (a leader that has not heard from a majority within an
election timeout steps down) and leader stickiness (a node that heard from a leader
within the election timeout ignores vote requests), lifted early by peer_gone(): a
follower with proof that its leader's process died forgets it and campaigns soon.
Voters are fixed by the config.
"""

from __future__ import annotations

import enum

from flowlog.raft import quorum_core
from flowlog.raft.log_core import RaftLog
from flowlog.raft.messages import (
    NO_NODE,
    AppendRequest,
    AppendResponse,
    Entry,
    EntryKind,
    HardState,
    HeartbeatRequest,
    HeartbeatResponse,
    Message,
    Snapshot,
    SnapshotRequest,
    VoteRequest,
    VoteResponse,
)
from flowlog.raft.progress_core import Progress, ProgressState
from flowlog.raft.quorum_core import VoteOutcome
from flowlog.raft.ready import (
    NotLeader,
    PersistedState,
    Proposal,
    ProposeResult,
    RaftConfig,
    RandomSource,
    Ready,
)

LEADER_MESSAGES = (AppendRequest, HeartbeatRequest, SnapshotRequest)
# A follower that saw its leader's process die campaigns within election_timeout / this.
LEADER_GONE_DELAY_DIVISOR = 4


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class RaftNode:
    def __init__(
        self, config: RaftConfig, random: RandomSource, persisted: PersistedState | None = None
    ) -> None:
        """A fresh voter, or a restarted one rebuilt from what it had made durable."""
        persisted = persisted or PersistedState()
        self.config = config
        self._random = random
        self._peers = sorted(config.voters - {config.node_id})
        self.term = persisted.hard_state.term
        self.voted_for = persisted.hard_state.voted_for
        self._handed_hard_state = persisted.hard_state
        self.log = RaftLog(persisted.snapshot, persisted.entries)
        # Only what the snapshot covers is known committed; the leader tells the rest.
        self.commit_index = self.log.snapshot.index
        self.applied_index = self.log.snapshot.index
        self.role = Role.FOLLOWER
        self.leader_id = NO_NODE
        self._votes: dict[int, bool] = {}
        self._progress: dict[int, Progress] = {}
        self._outbox: list[Message] = []
        self._ready_in_flight = False
        self._election_elapsed_ticks = 0
        self._heartbeat_elapsed_ticks = 0
        self._randomized_election_timeout_ticks = self._random_election_timeout()

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def hard_state(self) -> HardState:
        return HardState(self.term, self.voted_for)

    def progress(self, peer: int) -> Progress | None:
        return self._progress.get(peer)

    # -- inputs ------------------------------------------------------------------------

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._election_elapsed_ticks += 1
            if self._election_elapsed_ticks >= self._randomized_election_timeout_ticks:
                self._become_pre_candidate()

    def peer_gone(self, peer: int) -> None:
        """The driver has proof that `peer`'s process is gone (its connection ended and a
        redial was refused: nothing listens any more). If it is our leader, forget it and
        campaign after a short random delay instead of a whole election timeout. Having
        forgotten the leader, we also grant the pre-votes of others who saw it die; a node
        without the proof keeps its leader and refuses them (leader stickiness). Elections
        stay as safe as ever: this only moves when a pre-vote starts."""
        if self.role is not Role.FOLLOWER or peer == NO_NODE or peer != self.leader_id:
            return
        self.leader_id = NO_NODE
        self._election_elapsed_ticks = 0
        # Random, so that the survivors rarely campaign at once and split the vote.
        window = max(1, self.config.election_timeout_ticks // LEADER_GONE_DELAY_DIVISOR)
        self._randomized_election_timeout_ticks = self._random.randrange(1, window + 1)

    def propose(self, payload: bytes) -> ProposeResult:
        if self.role is not Role.LEADER:
            return NotLeader(self.leader_id)
        entry = Entry(self.log.last_index + 1, self.term, payload)
        self.log.append(entry)
        self._broadcast_append()
        return Proposal(entry.index, entry.term)

    def compact(self, snapshot: Snapshot) -> None:
        """The application durably saved `snapshot` of its applied state: forget the
        entries it covers. Followers that need them get the snapshot instead."""
        assert snapshot.index <= self.applied_index, "a snapshot of entries not yet applied"
        self.log.compact(snapshot)

    def step(self, message: Message) -> None:
        if message.recipient != self.node_id or message.sender not in self._peers:
            return
        if message.term > self.term:
            if not self._adopt_higher_term(message):
                return
        elif message.term < self.term:
            self._answer_stale(message)
            return
        if isinstance(message, VoteRequest):
            self._handle_vote_request(message)
        elif isinstance(message, VoteResponse):
            self._handle_vote_response(message)
        elif isinstance(message, LEADER_MESSAGES):
            self._handle_leader_message(message)
        elif self.role is Role.LEADER:
            self._handle_follower_answer(message)

    # -- Ready ---------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._ready_in_flight:
            return False
        return (
            self.hard_state != self._handed_hard_state
            or self.log.has_pending
            or bool(self._outbox)
            or self._apply_end_index() > self.applied_index
        )

    def ready(self) -> Ready:
        assert not self._ready_in_flight, "advance() the previous Ready first"
        hard_state = self.hard_state if self.hard_state != self._handed_hard_state else None
        snapshot, entries = self.log.take_pending()
        committed: list[Entry] = []
        apply_end_index = self._apply_end_index()
        if apply_end_index > self.applied_index:
            committed = self.log.entries(self.applied_index + 1, apply_end_index)
            self.applied_index = apply_end_index
        ready = Ready(hard_state, snapshot, tuple(entries), tuple(committed), tuple(self._outbox))
        self._outbox = []
        self._handed_hard_state = self.hard_state
        self._ready_in_flight = True
        return ready

    def advance(self, ready: Ready) -> None:
        """The driver persisted, sent and applied `ready`."""
        assert self._ready_in_flight, "advance() without a ready()"
        self._ready_in_flight = False
        self.log.mark_persisted(ready.snapshot, ready.entries)
        if self.role is Role.LEADER:
            self._maybe_commit()

    def _apply_end_index(self) -> int:
        # Apply only durable entries: a restart must find what was applied in its log.
        end = min(self.commit_index, self.log.persisted_index)
        return min(end, self.applied_index + self.config.committed_entries_per_ready_max)

    # -- roles ---------------------------------------------------------------------------

    def _random_election_timeout(self) -> int:
        timeout = self.config.election_timeout_ticks
        return self._random.randrange(timeout, 2 * timeout)

    def _reset_timers(self) -> None:
        self._election_elapsed_ticks = 0
        self._heartbeat_elapsed_ticks = 0
        self._randomized_election_timeout_ticks = self._random_election_timeout()

    def _become_follower(self, term: int, leader_id: int) -> None:
        if term > self.term:
            self.term = term
            self.voted_for = NO_NODE
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self._votes = {}
        self._progress = {}
        self._reset_timers()

    def _become_pre_candidate(self) -> None:
        self.role = Role.PRE_CANDIDATE
        self.leader_id = NO_NODE
        self._progress = {}
        self._reset_timers()
        self._votes = {self.node_id: True}
        self._request_votes(pre_vote=True)

    def _become_candidate(self) -> None:
        self.term += 1
        self.voted_for = self.node_id
        self.role = Role.CANDIDATE
        self._reset_timers()
        self._votes = {self.node_id: True}
        self._request_votes(pre_vote=False)

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader_id = self.node_id
        self._votes = {}
        self._reset_timers()
        self._progress = {peer: Progress(self.log.last_index + 1) for peer in self._peers}
        # Entries of earlier terms commit only under one of this term (Raft §5.4.2).
        self.log.append(Entry(self.log.last_index + 1, self.term, b"", EntryKind.NO_OP))
        self._broadcast_append()

    def _request_votes(self, pre_vote: bool) -> None:
        if self._tally_votes(pre_vote):
            return
        term = self.term + 1 if pre_vote else self.term
        for peer in self._peers:
            self._send(
                VoteRequest(
                    self.node_id, peer, term, pre_vote, self.log.last_index, self.log.last_term
                )
            )

    def _tally_votes(self, pre_vote: bool) -> bool:
        """Move on if the (pre-)vote is decided; True if it was."""
        outcome = quorum_core.vote_outcome(self.config.voters, self._votes)
        if outcome is VoteOutcome.WON:
            if pre_vote:
                self._become_candidate()
            else:
                self._become_leader()
        elif outcome is VoteOutcome.LOST:
            self._become_follower(self.term, NO_NODE)
        return outcome is not VoteOutcome.PENDING

    def _in_leader_lease(self) -> bool:
        # Leader stickiness: a live leader was heard within the (minimum) election timeout.
        return (
            self.leader_id != NO_NODE
            and self._election_elapsed_ticks < self.config.election_timeout_ticks
        )

    # -- terms ---------------------------------------------------------------------------

    def _adopt_higher_term(self, message: Message) -> bool:
        """Handle a message of a higher term; False if it is to be dropped."""
        if isinstance(message, VoteRequest):
            if self._in_leader_lease():
                return False
            if message.pre_vote:
                return True  # A pre-vote never changes our term.
        if isinstance(message, VoteResponse) and message.pre_vote and message.granted:
            return True  # Granted pre-votes carry the term we asked about.
        leader_id = message.sender if isinstance(message, LEADER_MESSAGES) else NO_NODE
        self._become_follower(message.term, leader_id)
        return True

    def _answer_stale(self, message: Message) -> None:
        """Tell a sender of an old term about ours, so a stale leader or a pre-candidate
        that fell behind catches up instead of waiting."""
        if isinstance(message, LEADER_MESSAGES):
            self._send(AppendResponse(self.node_id, message.sender, self.term, success=False))
        elif isinstance(message, VoteRequest) and message.pre_vote:
            self._send(VoteResponse(self.node_id, message.sender, self.term, True, False))

    # -- elections -----------------------------------------------------------------------

    def _handle_vote_request(self, message: VoteRequest) -> None:
        if message.pre_vote:
            could_vote = message.term > self.term
        else:
            could_vote = self.voted_for == message.sender or (
                self.voted_for == NO_NODE and self.leader_id == NO_NODE
            )
        granted = could_vote and self.log.is_up_to_date(
            message.last_log_index, message.last_log_term
        )
        if granted and not message.pre_vote:
            self.voted_for = message.sender
            self._election_elapsed_ticks = 0
        term = message.term if granted else self.term
        self._send(VoteResponse(self.node_id, message.sender, term, message.pre_vote, granted))

    def _handle_vote_response(self, message: VoteResponse) -> None:
        if message.pre_vote:
            if self.role is not Role.PRE_CANDIDATE:
                return
            # A grant must be for the term we would campaign in, not an earlier one.
            if message.granted and message.term != self.term + 1:
                return
        elif self.role is not Role.CANDIDATE:
            return
        self._votes[message.sender] = message.granted
        self._tally_votes(message.pre_vote)

    # -- follower ------------------------------------------------------------------------

    def _handle_leader_message(
        self, message: AppendRequest | HeartbeatRequest | SnapshotRequest
    ) -> None:
        assert self.role is not Role.LEADER, (
            f"two leaders in term {self.term}: {self.node_id} and {message.sender}"
        )
        if self.role is not Role.FOLLOWER or self.leader_id != message.sender:
            self._become_follower(message.term, message.sender)
        self._election_elapsed_ticks = 0
        if isinstance(message, AppendRequest):
            self._handle_append(message)
        elif isinstance(message, HeartbeatRequest):
            self.commit_index = max(self.commit_index, min(message.commit, self.log.last_index))
            self._send(HeartbeatResponse(self.node_id, message.sender, self.term))
        else:
            self._handle_snapshot(message)

    def _handle_append(self, message: AppendRequest) -> None:
        prev_index, prev_term = message.prev_log_index, message.prev_log_term
        entries = message.entries
        if prev_index < self.commit_index:
            # Committed entries match the leader's; start the check at our commit index.
            entries = tuple(entry for entry in entries if entry.index > self.commit_index)
            prev_index = self.commit_index
            prev_term = self._known_term(self.commit_index)
        if self.log.term_at(prev_index) != prev_term:
            assert prev_index > self.commit_index, "a committed entry differs from the leader's"
            self._reject_append(message.sender, prev_index)
            return
        self.log.merge(entries, self.commit_index)
        last_new_index = prev_index + len(entries)
        self.commit_index = max(self.commit_index, min(message.leader_commit, last_new_index))
        self._send(
            AppendResponse(
                self.node_id, message.sender, self.term, success=True, match_index=last_new_index
            )
        )

    def _reject_append(self, leader: int, rejected_index: int) -> None:
        if rejected_index > self.log.last_index:
            conflict_term, conflict_index = 0, self.log.last_index + 1
        else:
            conflict_term = self._known_term(rejected_index)
            conflict_index = self.log.first_index_of_term(rejected_index, self.commit_index + 1)
        self._send(
            AppendResponse(
                self.node_id,
                leader,
                self.term,
                success=False,
                rejected_index=rejected_index,
                conflict_term=conflict_term,
                conflict_index=conflict_index,
            )
        )

    def _handle_snapshot(self, message: SnapshotRequest) -> None:
        snapshot = message.snapshot
        if snapshot.index > self.commit_index:
            if self.log.term_at(snapshot.index) != snapshot.term:
                self.log.install_snapshot(snapshot)
                self.applied_index = snapshot.index
            # Else our log already holds the snapshot's last entry: keep the log.
            self.commit_index = snapshot.index
        self._send(
            AppendResponse(
                self.node_id, message.sender, self.term, True, match_index=self.commit_index
            )
        )

    def _known_term(self, index: int) -> int:
        term = self.log.term_at(index)
        assert term is not None, f"term of index {index} is unknown"
        return term

    # -- leader --------------------------------------------------------------------------

    def _tick_leader(self) -> None:
        self._election_elapsed_ticks += 1
        if self._election_elapsed_ticks >= self.config.election_timeout_ticks:
            self._election_elapsed_ticks = 0
            if not self._quorum_recently_active():
                self._become_follower(self.term, NO_NODE)
                return
        self._heartbeat_elapsed_ticks += 1
        if self._heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks:
            self._heartbeat_elapsed_ticks = 0
            self._broadcast_heartbeat()

    def _quorum_recently_active(self) -> bool:
        """Check quorum: did a majority (counting us) speak up in this window? Resets it."""
        active = 1 + sum(1 for progress in self._progress.values() if progress.recently_active)
        for progress in self._progress.values():
            progress.recently_active = False
        return active >= quorum_core.quorum_size(len(self.config.voters))

    def _broadcast_heartbeat(self) -> None:
        for peer, progress in self._progress.items():
            progress.probe_sent = False
            if progress.state is ProgressState.SNAPSHOT:
                progress.snapshot_age_ticks += self.config.heartbeat_interval_ticks
                if progress.snapshot_age_ticks >= self.config.election_timeout_ticks:
                    # The snapshot or its answer was probably lost: send it again.
                    progress.become_probe(progress.next_index)
            commit = min(progress.match_index, self.commit_index)
            self._send(HeartbeatRequest(self.node_id, peer, self.term, commit))

    def _broadcast_append(self) -> None:
        for peer in self._peers:
            self._send_append(peer, allow_empty=False)

    def _send_append(self, peer: int, allow_empty: bool) -> None:
        progress = self._progress[peer]
        if progress.state is ProgressState.SNAPSHOT:
            return
        if progress.state is ProgressState.PROBE and progress.probe_sent:
            return
        prev_index = progress.next_index - 1
        prev_term = self.log.term_at(prev_index)
        if prev_term is None:
            progress.become_snapshot()
            self._send(SnapshotRequest(self.node_id, peer, self.term, self.log.snapshot))
            return
        entries = self.log.entries(
            progress.next_index,
            progress.next_index + self.config.entries_per_message_max - 1,
            self.config.message_payload_bytes_max,
        )
        if not entries and not allow_empty:
            return
        request = AppendRequest(
            self.node_id, peer, self.term, prev_index, prev_term, tuple(entries), self.commit_index
        )
        self._send(request)
        if progress.state is ProgressState.PROBE:
            progress.probe_sent = True
        elif entries:
            progress.next_index = entries[-1].index + 1

    def _handle_follower_answer(self, message: Message) -> None:
        progress = self._progress[message.sender]
        progress.recently_active = True
        if isinstance(message, HeartbeatResponse):
            if progress.match_index < self.log.last_index:
                self._send_append(message.sender, allow_empty=True)
        elif isinstance(message, AppendResponse):
            if message.success:
                self._handle_append_success(message.sender, progress, message.match_index)
            else:
                self._handle_append_reject(message.sender, progress, message)

    def _handle_append_success(self, peer: int, progress: Progress, match_index: int) -> None:
        assert match_index <= self.log.last_index, "a follower matched past our log"
        if not progress.acknowledge(match_index):
            return
        if progress.state is not ProgressState.REPLICATE:
            progress.become_replicate()
        self._maybe_commit()
        # Keep a lagging follower streaming: each answer pulls the next batch.
        self._send_append(peer, allow_empty=False)

    def _handle_append_reject(self, peer: int, progress: Progress, message: AppendResponse) -> None:
        if message.rejected_index <= progress.match_index:
            return  # Stale: the follower has matched beyond it since.
        if progress.state is ProgressState.SNAPSHOT:
            return
        if progress.state is ProgressState.PROBE and message.rejected_index != progress.next_index - 1:
            return  # An answer to an earlier probe.
        next_index = message.conflict_index
        if message.conflict_term > 0:
            index = self.log.last_index_of_term(message.conflict_term, message.rejected_index)
            if index is not None:
                next_index = index + 1
        progress.become_probe(min(next_index, message.rejected_index))
        self._send_append(peer, allow_empty=True)

    def _maybe_commit(self) -> None:
        matches = [progress.match_index for progress in self._progress.values()]
        matches.append(self.log.persisted_index)
        index = quorum_core.committed_index(matches)
        # Counting replicas commits only entries of our own term (Raft §5.4.2).
        if index > self.commit_index and self.log.term_at(index) == self.term:
            self.commit_index = index

    def _send(self, message: Message) -> None:
        self._outbox.append(message)
