"""Raft's data: log entries, hard state, snapshots, and one frozen class per message kind.

Every message names its sender, recipient and the sender's term. Terms are Kafka's
leader epochs; node ids are Kafka node ids. Indexes start at 1: index 0 with term 0 is
the empty log's sentinel (the "snapshot" of nothing).
"""

from __future__ import annotations

import enum

import attrs

NO_NODE = -1


class EntryKind(enum.IntEnum):
    """DATA carries an application payload; NO_OP is the entry a new leader appends so it
    can commit its term (Raft §5.4.2) and learn the commit index without a proposal."""

    DATA = 0
    NO_OP = 1


@attrs.frozen(slots=True)
class Entry:
    index: int
    term: int
    payload: bytes = b""
    kind: EntryKind = EntryKind.DATA


@attrs.frozen(slots=True)
class HardState:
    """What must be durable before any message that depends on it leaves the node."""

    term: int = 0
    voted_for: int = NO_NODE


@attrs.frozen(slots=True)
class Snapshot:
    """The application's state up to and including `index`; `data` is opaque to Raft."""

    index: int = 0
    term: int = 0
    data: bytes = b""


@attrs.frozen(slots=True)
class VoteRequest:
    """RequestVote. A pre-vote (Ongaro's thesis §9.6) carries the term the sender *would*
    campaign in; the receiver neither adopts that term nor records a vote."""

    sender: int
    recipient: int
    term: int
    pre_vote: bool
    last_log_index: int
    last_log_term: int


@attrs.frozen(slots=True)
class VoteResponse:
    sender: int
    recipient: int
    term: int
    pre_vote: bool
    granted: bool


@attrs.frozen(slots=True)
class AppendRequest:
    """AppendEntries: `entries` follow (prev_log_index, prev_log_term) in the leader's log."""

    sender: int
    recipient: int
    term: int
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int


@attrs.frozen(slots=True)
class AppendResponse:
    """Answer to AppendRequest and to SnapshotRequest.

    Success: the recipient's log matches the leader's up to `match_index`.
    Reject: the entry at `rejected_index` did not match; (conflict_term, conflict_index)
    is the fast-backtracking hint: the term the follower holds at rejected_index and the
    first index it holds of that term, or (0, its last index + 1) when its log is shorter.
    A reject with a higher term than the leader's tells a stale leader to step down.
    """

    sender: int
    recipient: int
    term: int
    success: bool
    match_index: int = 0
    rejected_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0


@attrs.frozen(slots=True)
class SnapshotRequest:
    """InstallSnapshot, whole (not chunked): for a follower whose next index was compacted."""

    sender: int
    recipient: int
    term: int
    snapshot: Snapshot


@attrs.frozen(slots=True)
class HeartbeatRequest:
    """Keeps followers from campaigning. `commit` is at most what the follower is known to
    match, so it may adopt it without a log check."""

    sender: int
    recipient: int
    term: int
    commit: int


@attrs.frozen(slots=True)
class HeartbeatResponse:
    sender: int
    recipient: int
    term: int


Message = (
    VoteRequest
    | VoteResponse
    | AppendRequest
    | AppendResponse
    | SnapshotRequest
    | HeartbeatRequest
    | HeartbeatResponse
)
