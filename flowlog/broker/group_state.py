"""One classic consumer group's membership machine: sans-IO, clock passed in.

The machine answers JoinGroup, SyncGroup, Heartbeat and LeaveGroup and fires
its own deadlines from tick(now_ms). It never calls out: every call returns
effects for the shell to carry out, in order. Requests that must
wait for the rebalance (JoinGroup, SyncGroup) carry a ticket from the shell and
each ticket gets exactly one RespondJoin/RespondSync, now or later.
Semantics follow Kafka's classic GroupCoordinator; docs/consumer-groups.md
has the flows and TRANSITIONS below is the one state table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import attrs

from flowlog.broker import group_records as records
from flowlog.broker.group_types import (
    Effect,
    GroupConfig,
    GroupState,
    JoinedMember,
    JoinRequest,
    JoinResponse,
    MemberIdentity,
    Persist,
    Protocol,
    RespondJoin,
    RespondSync,
    SyncRequest,
    SyncResponse,
    Transition,
)
from flowlog.protocol import group_protocol
from flowlog.protocol.errors import ErrorCode


@attrs.define
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: tuple[Protocol, ...]
    last_heard_ms: int
    is_new: bool = True
    join_ticket: int | None = None
    sync_ticket: int | None = None
    assignment: bytes = b""

    @classmethod
    def from_request(cls, request: JoinRequest, member_id: str, ticket: int, now_ms: int) -> Member:
        return cls(
            member_id=member_id,
            group_instance_id=request.group_instance_id,
            client_id=request.client_id,
            client_host=request.client_host,
            session_timeout_ms=request.session_timeout_ms,
            rebalance_timeout_ms=request.effective_rebalance_timeout_ms,
            protocol_type=request.protocol_type,
            protocols=request.protocols,
            last_heard_ms=now_ms,
            join_ticket=ticket,
        )

    def protocol_names(self) -> set[str]:
        return {protocol.name for protocol in self.protocols}

    def metadata_for(self, protocol_name: str) -> bytes:
        for protocol in self.protocols:
            if protocol.name == protocol_name:
                return protocol.metadata
        raise AssertionError(f"member {self.member_id} does not support {protocol_name}")

    def liveness_deadline_ms(self, new_member_join_timeout_ms: int) -> int | None:
        """When the member is dropped unless heard from; None while a request of it is parked.

        A new member with a parked JoinGroup cannot heartbeat (it has no id yet), so it
        gets the long new-member timeout instead.
        """
        if self.join_ticket is not None:
            return self.last_heard_ms + new_member_join_timeout_ms if self.is_new else None
        if self.sync_ticket is not None:
            return None
        return self.last_heard_ms + self.session_timeout_ms


_EMPTY = GroupState.EMPTY
_PREPARING = GroupState.PREPARING_REBALANCE
_COMPLETING = GroupState.COMPLETING_REBALANCE
_STABLE = GroupState.STABLE
_DEAD = GroupState.DEAD

TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition(_EMPTY, _PREPARING, "a member joins"),
    Transition(_EMPTY, _DEAD, "DeleteGroups, or its last offsets expire"),
    Transition(_PREPARING, _COMPLETING, "all members rejoined, or the join deadline fired"),
    Transition(_PREPARING, _EMPTY, "the join completes with no member left"),
    Transition(_COMPLETING, _STABLE, "the leader's SyncGroup brings the assignment"),
    Transition(
        _COMPLETING,
        _PREPARING,
        "a member joins or changes metadata, leaves, expires, or misses SyncGroup",
    ),
    Transition(
        _STABLE,
        _PREPARING,
        "the leader rejoins, a member changes metadata, joins, leaves, expires or misses SyncGroup",
    ),
    Transition(_PREPARING, _DEAD, "the coordinator unloads the group"),
    Transition(_COMPLETING, _DEAD, "the coordinator unloads the group"),
    Transition(_STABLE, _DEAD, "the coordinator unloads the group"),
)
ALLOWED: Final[dict[GroupState, frozenset[GroupState]]] = {
    state: frozenset(t.target for t in TRANSITIONS if t.source is state) for state in GroupState
}
# tick() repeats until nothing is due; each pass moves the group on, so a few suffice.
TICK_PASSES_MAX: Final = 8


def render_transition_table() -> str:
    """The transition table as Markdown, for docs/consumer-groups.md."""
    lines = ["| from | to | when |", "| --- | --- | --- |"]
    lines += [f"| {t.source.value} | {t.target.value} | {t.trigger} |" for t in TRANSITIONS]
    return "\n".join(lines)


class Group:
    """The membership of one group. Offsets live in group_core.GroupManager."""

    def __init__(
        self,
        group_id: str,
        config: GroupConfig,
        new_member_id: Callable[[str], str],
        now_ms: int,
    ) -> None:
        self.group_id = group_id
        self.config = config
        self._new_member_id = new_member_id
        self.state = _EMPTY
        self.state_changed_ms = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}  # group_instance_id -> member_id
        self.pending_members: dict[str, int] = {}  # member_id -> expiry ms (MEMBER_ID_REQUIRED)
        self.pending_sync: set[str] = set()
        self.join_deadline_ms: int | None = None
        self.sync_deadline_ms: int | None = None
        # Not None while the initial rebalance delay of a group that was Empty runs.
        self.initial_delay_remaining_ms: int | None = None
        self.new_member_added = False
        # Topics the members subscribe to (consumer protocol); None when unknown.
        self.subscribed_topics: frozenset[str] | None = None
        self._effects: list[Effect] = []

    # ------------------------------------------------------------ requests

    def join(self, ticket: int, request: JoinRequest, now_ms: int) -> list[Effect]:
        error = self._join_error(request)
        if error is not ErrorCode.NONE:
            self._respond_join(ticket, JoinResponse(error, member_id=request.member_id))
        elif request.member_id == "":
            self._join_new_member(ticket, request, now_ms)
        elif request.member_id in self.pending_members:
            self._add_member(ticket, request, request.member_id, now_ms)
        else:
            self._join_known_member(ticket, request, now_ms)
        return self._finish()

    def sync(self, ticket: int, request: SyncRequest, now_ms: int) -> list[Effect]:
        error = self._member_error(request.member_id, request.group_instance_id)
        if error is ErrorCode.NONE and request.generation_id != self.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        if error is ErrorCode.NONE and (
            (request.protocol_type is not None and request.protocol_type != self.protocol_type)
            or (request.protocol_name is not None and request.protocol_name != self.protocol_name)
        ):
            error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if error is ErrorCode.NONE and self.state is _PREPARING:
            error = ErrorCode.REBALANCE_IN_PROGRESS
        if error is not ErrorCode.NONE:
            self._respond_sync(ticket, SyncResponse(error))
            return self._finish()
        member = self.members[request.member_id]
        self._sync_received(member.member_id)
        if self.state is _STABLE:
            member.last_heard_ms = now_ms
            self._respond_sync(ticket, self._sync_success(member))
            return self._finish()
        assert self.state is _COMPLETING
        if member.sync_ticket is not None:
            self._respond_sync(member.sync_ticket, SyncResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_ticket = ticket
        if member.member_id == self.leader_id:
            self._install_assignment(dict(request.assignments), now_ms)
        return self._finish()

    def heartbeat(
        self, member_id: str, generation_id: int, group_instance_id: str | None, now_ms: int
    ) -> ErrorCode:
        error = self._member_error(member_id, group_instance_id)
        if error is ErrorCode.NONE and generation_id != self.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        if error is ErrorCode.NONE:
            self.members[member_id].last_heard_ms = now_ms
            # CompletingRebalance answers NONE: the member already holds the new generation.
            if self.state is _PREPARING:
                error = ErrorCode.REBALANCE_IN_PROGRESS
        self._check_invariants()
        return error

    def leave(
        self, identities: Sequence[MemberIdentity], now_ms: int
    ) -> tuple[list[ErrorCode], list[Effect]]:
        errors = [self._leave_one(identity, now_ms) for identity in identities]
        return errors, self._finish()

    def commit_error(
        self, member_id: str, generation_id: int, group_instance_id: str | None, now_ms: int
    ) -> ErrorCode:
        """Whether a member may commit offsets now (the standalone case is the manager's)."""
        error = self._member_error(member_id, group_instance_id)
        if error is ErrorCode.NONE and generation_id != self.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        if error is ErrorCode.NONE and self.state is _COMPLETING:
            error = ErrorCode.REBALANCE_IN_PROGRESS
        if error is ErrorCode.NONE:
            # A commit proves liveness; during PreparingRebalance it is still allowed.
            self.members[member_id].last_heard_ms = now_ms
        return error

    # ------------------------------------------------------------ time

    def next_deadline_ms(self) -> int | None:
        deadlines = list(self.pending_members.values())
        for member in self.members.values():
            deadline = member.liveness_deadline_ms(self.config.new_member_join_timeout_ms)
            if deadline is not None:
                deadlines.append(deadline)
        for deadline in (self.join_deadline_ms, self.sync_deadline_ms):
            if deadline is not None:
                deadlines.append(deadline)
        return min(deadlines, default=None)

    def tick(self, now_ms: int) -> list[Effect]:
        for _ in range(TICK_PASSES_MAX):
            deadline = self.next_deadline_ms()
            if deadline is None or deadline > now_ms:
                break
            self._fire_due(now_ms)
        return self._finish()

    def _fire_due(self, now_ms: int) -> None:
        for member_id, expiry_ms in list(self.pending_members.items()):
            if expiry_ms <= now_ms:
                del self.pending_members[member_id]
                self._maybe_complete_join(now_ms)
        for member in list(self.members.values()):
            deadline = member.liveness_deadline_ms(self.config.new_member_join_timeout_ms)
            if deadline is not None and deadline <= now_ms and member.member_id in self.members:
                self._remove_and_rebalance(member, now_ms)
        if self.join_deadline_ms is not None and self.join_deadline_ms <= now_ms:
            self._join_deadline_fired(now_ms)
        if self.sync_deadline_ms is not None and self.sync_deadline_ms <= now_ms:
            self._sync_deadline_fired(now_ms)

    def _join_deadline_fired(self, now_ms: int) -> None:
        assert self.state is _PREPARING
        remaining_ms = self.initial_delay_remaining_ms
        if remaining_ms is not None and self.new_member_added and remaining_ms > 0:
            # New members keep arriving: wait once more, never past the rebalance timeout.
            delay_ms = min(self.config.initial_rebalance_delay_ms, remaining_ms)
            self.initial_delay_remaining_ms = max(
                remaining_ms - self.config.initial_rebalance_delay_ms, 0
            )
            self.new_member_added = False
            self.join_deadline_ms = now_ms + delay_ms
            return
        self._complete_join(now_ms)

    def _sync_deadline_fired(self, now_ms: int) -> None:
        assert self.state in (_COMPLETING, _STABLE)
        if not self.pending_sync:
            self.sync_deadline_ms = None
            return
        late = [self.members[member_id] for member_id in self.pending_sync]
        for member in late:
            assert member.join_ticket is None and member.sync_ticket is None
            self._remove_member(member)
        self._prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    # ------------------------------------------------------------ admin

    def unload(self) -> list[Effect]:
        """The coordinator gives the group up: parked requests learn NOT_COORDINATOR."""
        for member in self.members.values():
            if member.join_ticket is not None:
                self._respond_join(member.join_ticket, JoinResponse(ErrorCode.NOT_COORDINATOR))
                member.join_ticket = None
            if member.sync_ticket is not None:
                self._respond_sync(member.sync_ticket, SyncResponse(ErrorCode.NOT_COORDINATOR))
                member.sync_ticket = None
        self.join_deadline_ms = self.sync_deadline_ms = self.initial_delay_remaining_ms = None
        self.pending_sync.clear()
        if self.state is not _DEAD:
            self._transition(_DEAD, self.state_changed_ms)
        return self._finish()

    def mark_dead(self, now_ms: int) -> None:
        """DeleteGroups or offset expiry: only an Empty group may die this way."""
        assert self.state is _EMPTY and not self.members
        self._transition(_DEAD, now_ms)

    def to_record_value(self) -> records.GroupValue:
        protocol = self.protocol_name
        members = tuple(
            records.MemberValue(
                member_id=member.member_id,
                group_instance_id=member.group_instance_id,
                client_id=member.client_id,
                client_host=member.client_host,
                rebalance_timeout_ms=member.rebalance_timeout_ms,
                session_timeout_ms=member.session_timeout_ms,
                subscription=member.metadata_for(protocol) if protocol is not None else b"",
                assignment=member.assignment,
            )
            for member in self.members.values()
        )
        return records.GroupValue(
            protocol_type=self.protocol_type,
            generation_id=self.generation_id,
            protocol_name=protocol,
            leader_id=self.leader_id,
            state_timestamp_ms=self.state_changed_ms,
            members=members,
        )

    def restore(self, value: records.GroupValue, now_ms: int) -> None:
        """Load persisted metadata, as after a restart: Stable if it has members, else Empty.

        Restored members must heartbeat within their session timeout from now_ms.
        """
        assert not self.members and not self.pending_members and self.state is _EMPTY
        self.generation_id = value.generation_id
        self.protocol_type = value.protocol_type
        self.protocol_name = value.protocol_name
        for stored in value.members:
            protocols = (
                (Protocol(value.protocol_name, stored.subscription),)
                if value.protocol_name is not None
                else ()
            )
            self.members[stored.member_id] = Member(
                member_id=stored.member_id,
                group_instance_id=stored.group_instance_id,
                client_id=stored.client_id,
                client_host=stored.client_host,
                session_timeout_ms=stored.session_timeout_ms,
                rebalance_timeout_ms=stored.rebalance_timeout_ms,
                protocol_type=value.protocol_type or "",
                protocols=protocols,
                last_heard_ms=now_ms,
                is_new=False,
                assignment=stored.assignment,
            )
            if stored.group_instance_id is not None:
                self.static_members[stored.group_instance_id] = stored.member_id
        if self.members:
            leader = value.leader_id
            self.leader_id = leader if leader in self.members else next(iter(self.members))
            self.state = _STABLE
            self.subscribed_topics = self._compute_subscribed_topics()
        self.state_changed_ms = (
            value.state_timestamp_ms if value.state_timestamp_ms >= 0 else now_ms
        )
        self._check_invariants()

    # ------------------------------------------------------------ join paths

    def _join_error(self, request: JoinRequest) -> ErrorCode:
        config = self.config
        if self.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if not (
            config.min_session_timeout_ms
            <= request.session_timeout_ms
            <= config.max_session_timeout_ms
        ):
            return ErrorCode.INVALID_SESSION_TIMEOUT
        joining = request.member_id == "" or request.member_id in self.pending_members
        if joining and len(self.members) + len(self.pending_members) >= config.group_max_size:
            return ErrorCode.GROUP_MAX_SIZE_REACHED
        if not self._supports(request):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return ErrorCode.NONE

    def _supports(self, request: JoinRequest) -> bool:
        if not request.protocol_type or not request.protocols:
            return False
        others = [m for m in self.members.values() if m.member_id != request.member_id]
        if not others:
            return True
        if request.protocol_type != self.protocol_type:
            return False
        common = {protocol.name for protocol in request.protocols}
        for member in others:
            common &= member.protocol_names()
        return bool(common)

    def _join_new_member(self, ticket: int, request: JoinRequest, now_ms: int) -> None:
        instance_id = request.group_instance_id
        if instance_id is not None:
            member_id = self._fresh_member_id(instance_id)
            old_member_id = self.static_members.get(instance_id)
            if old_member_id is None:
                self._add_member(ticket, request, member_id, now_ms)
            else:
                self._replace_static_member(ticket, request, old_member_id, member_id, now_ms)
        elif request.api_version >= 4:
            # KIP-394: hand out the id and wait for the member to come back with it.
            member_id = self._fresh_member_id(request.client_id)
            self.pending_members[member_id] = now_ms + request.session_timeout_ms
            self._respond_join(
                ticket, JoinResponse(ErrorCode.MEMBER_ID_REQUIRED, member_id=member_id)
            )
        else:
            self._add_member(ticket, request, self._fresh_member_id(request.client_id), now_ms)

    def _fresh_member_id(self, prefix: str) -> str:
        member_id = self._new_member_id(prefix)
        assert member_id and member_id not in self.members and member_id not in self.pending_members
        return member_id

    def _add_member(self, ticket: int, request: JoinRequest, member_id: str, now_ms: int) -> None:
        if self.state is _PREPARING and self.initial_delay_remaining_ms is not None:
            self.new_member_added = True
        if not self.members:
            self.protocol_type = request.protocol_type
        self.pending_members.pop(member_id, None)
        self.members[member_id] = Member.from_request(request, member_id, ticket, now_ms)
        if self.leader_id is None:
            self.leader_id = member_id
        if request.group_instance_id is not None:
            self.static_members[request.group_instance_id] = member_id
        self._maybe_prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    def _join_known_member(self, ticket: int, request: JoinRequest, now_ms: int) -> None:
        error = self._member_error(request.member_id, request.group_instance_id)
        if error is not ErrorCode.NONE:
            self._respond_join(ticket, JoinResponse(error, member_id=request.member_id))
            return
        member = self.members[request.member_id]
        unchanged = member.protocols == request.protocols
        is_leader = member.member_id == self.leader_id
        # A follower (or, while completing, anyone) rejoining unchanged just learns the
        # current generation: it probably lost the first response.
        if (self.state is _COMPLETING and unchanged) or (
            self.state is _STABLE and unchanged and not is_leader
        ):
            self._respond_join(ticket, self._join_success(member, with_members=is_leader))
            return
        self._update_member(member, request, ticket)
        self._maybe_prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    def _replace_static_member(
        self, ticket: int, request: JoinRequest, old_member_id: str, member_id: str, now_ms: int
    ) -> None:
        """KIP-345: a known instance comes back with no id: new id, old one fenced."""
        old = self.members[old_member_id]
        if old.join_ticket is not None:
            self._respond_join(old.join_ticket, JoinResponse(ErrorCode.FENCED_INSTANCE_ID))
        if old.sync_ticket is not None:
            self._respond_sync(old.sync_ticket, SyncResponse(ErrorCode.FENCED_INSTANCE_ID))
        old.join_ticket = old.sync_ticket = None
        old_leader_id = self.leader_id
        old.member_id = member_id
        old.last_heard_ms = now_ms
        self.members = {
            (member_id if key == old_member_id else key): m for key, m in self.members.items()
        }
        self.static_members[request.group_instance_id or ""] = member_id
        if self.leader_id == old_member_id:
            self.leader_id = member_id
        if old_member_id in self.pending_sync:
            self.pending_sync.discard(old_member_id)
            self.pending_sync.add(member_id)
        member = self.members[member_id]
        self._update_member(member, request, ticket)
        if self.state is _STABLE and self._select_protocol() == self.protocol_name:
            # No rebalance: persist the new id, hand back the current generation. Below v9 the
            # old leader id is returned so a restarted leader does not run the assignor.
            member.join_ticket = None
            self._persist_group()
            response = self._join_success(member, with_members=False)
            self._respond_join(ticket, _with_leader(response, old_leader_id or ""))
        elif self.state in (_STABLE, _COMPLETING):
            self._prepare_rebalance(now_ms)
            self._maybe_complete_join(now_ms)
        else:
            assert self.state is _PREPARING
            self._maybe_complete_join(now_ms)

    def _update_member(self, member: Member, request: JoinRequest, ticket: int) -> None:
        if member.join_ticket is not None:
            # Superseded by a newer JoinGroup from the same member.
            self._respond_join(member.join_ticket, JoinResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        member.protocols = request.protocols
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.effective_rebalance_timeout_ms
        member.join_ticket = ticket

    # ------------------------------------------------------------ rebalance

    def _maybe_prepare_rebalance(self, now_ms: int) -> None:
        if self.state in (_EMPTY, _STABLE, _COMPLETING):
            self._prepare_rebalance(now_ms)

    def _prepare_rebalance(self, now_ms: int) -> None:
        if self.state is _COMPLETING:
            for member in self.members.values():
                member.assignment = b""
                if member.sync_ticket is not None:
                    self._respond_sync(
                        member.sync_ticket, SyncResponse(ErrorCode.REBALANCE_IN_PROGRESS)
                    )
                    member.sync_ticket = None
        self.pending_sync.clear()
        self.sync_deadline_ms = None
        rebalance_timeout_ms = self._rebalance_timeout_ms()
        delay_ms = self.config.initial_rebalance_delay_ms
        if self.state is _EMPTY and delay_ms > 0:
            self.join_deadline_ms = now_ms + delay_ms
            self.initial_delay_remaining_ms = max(rebalance_timeout_ms - delay_ms, 0)
        else:
            self.join_deadline_ms = now_ms + rebalance_timeout_ms
            self.initial_delay_remaining_ms = None
        self.new_member_added = False
        self._transition(_PREPARING, now_ms)

    def _maybe_complete_join(self, now_ms: int) -> None:
        if self.state is not _PREPARING or self.initial_delay_remaining_ms is not None:
            return
        all_joined = all(member.join_ticket is not None for member in self.members.values())
        if all_joined and not self.pending_members:
            self._complete_join(now_ms)

    def _complete_join(self, now_ms: int) -> None:
        assert self.state is _PREPARING
        for member in list(self.members.values()):
            # Static members stay until their session expires (KIP-345).
            if member.join_ticket is None and member.group_instance_id is None:
                self._remove_member(member)
        self.initial_delay_remaining_ms = None
        if self.members and not self._elect_joined_leader():
            # Only absent static members are left: wait for their sessions to expire.
            self.join_deadline_ms = now_ms + self._rebalance_timeout_ms()
            return
        self.join_deadline_ms = None
        self.generation_id += 1
        if not self.members:
            self.protocol_name = None
            self.subscribed_topics = None
            self._transition(_EMPTY, now_ms)
            self._persist_group()
            return
        self.protocol_name = self._select_protocol()
        self.subscribed_topics = self._compute_subscribed_topics()
        self._transition(_COMPLETING, now_ms)
        for member in self.members.values():
            if member.join_ticket is not None:
                is_leader = member.member_id == self.leader_id
                self._respond_join(
                    member.join_ticket, self._join_success(member, with_members=is_leader)
                )
                member.join_ticket = None
            member.last_heard_ms = now_ms
            member.is_new = False
            self.pending_sync.add(member.member_id)
        self.sync_deadline_ms = now_ms + self._rebalance_timeout_ms()

    def _elect_joined_leader(self) -> bool:
        leader = self.members.get(self.leader_id or "")
        if leader is not None and leader.join_ticket is not None:
            return True
        for member in self.members.values():
            if member.join_ticket is not None:
                self.leader_id = member.member_id
                return True
        return False

    def _select_protocol(self) -> str:
        """Each member votes for its first protocol that every member supports; most votes win.

        Ties go to the protocol that got its first vote earliest (members in join order).
        """
        candidates = set.intersection(*(m.protocol_names() for m in self.members.values()))
        assert candidates, "joins are refused when members share no protocol"
        votes: dict[str, int] = {}
        for member in self.members.values():
            vote = next(p.name for p in member.protocols if p.name in candidates)
            votes[vote] = votes.get(vote, 0) + 1
        return max(votes, key=lambda name: votes[name])

    def _compute_subscribed_topics(self) -> frozenset[str] | None:
        if self.protocol_type != group_protocol.PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            try:
                subscription = group_protocol.decode_subscription(
                    member.metadata_for(self.protocol_name)
                )
            except group_protocol.InvalidConsumerProtocolPayload:
                return None
            topics.update(subscription.topics)
        return frozenset(topics)

    def _install_assignment(self, assignments: dict[str, bytes], now_ms: int) -> None:
        """The leader's SyncGroup: store, persist, go Stable, answer every parked sync."""
        for member in self.members.values():
            # Members the leader left out get an empty assignment; unknown ids are ignored.
            member.assignment = assignments.get(member.member_id, b"")
        self._transition(_STABLE, now_ms)
        self._persist_group()
        for member in self.members.values():
            if member.sync_ticket is not None:
                self._respond_sync(member.sync_ticket, self._sync_success(member))
                member.sync_ticket = None
                member.last_heard_ms = now_ms

    def _sync_received(self, member_id: str) -> None:
        self.pending_sync.discard(member_id)
        if not self.pending_sync:
            self.sync_deadline_ms = None

    def _rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # ------------------------------------------------------------ leaving

    def _leave_one(self, identity: MemberIdentity, now_ms: int) -> ErrorCode:
        if self.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        member_id = identity.member_id
        if member_id == "":
            # Admin removal of a static member by instance id alone.
            found = self.static_members.get(identity.group_instance_id or "")
            if identity.group_instance_id is None or found is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            self._remove_and_rebalance(self.members[found], now_ms)
            return ErrorCode.NONE
        if member_id in self.pending_members:
            del self.pending_members[member_id]
            self._maybe_complete_join(now_ms)
            return ErrorCode.NONE
        error = self._member_error(member_id, identity.group_instance_id)
        if error is ErrorCode.NONE:
            self._remove_and_rebalance(self.members[member_id], now_ms)
        return error

    def _remove_and_rebalance(self, member: Member, now_ms: int) -> None:
        if member.join_ticket is not None:
            self._respond_join(member.join_ticket, JoinResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        if member.sync_ticket is not None:
            self._respond_sync(member.sync_ticket, SyncResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        member.join_ticket = member.sync_ticket = None
        self._remove_member(member)
        if self.state in (_STABLE, _COMPLETING):
            self._prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    def _remove_member(self, member: Member) -> None:
        assert member.join_ticket is None and member.sync_ticket is None
        del self.members[member.member_id]
        instance_id = member.group_instance_id
        if instance_id is not None and self.static_members.get(instance_id) == member.member_id:
            del self.static_members[instance_id]
        self.pending_sync.discard(member.member_id)
        if self.leader_id == member.member_id:
            self.leader_id = next(iter(self.members), None)

    # ------------------------------------------------------------ helpers

    def _member_error(self, member_id: str, group_instance_id: str | None) -> ErrorCode:
        if self.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if group_instance_id is not None:
            known = self.static_members.get(group_instance_id)
            if known is not None and known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def _join_success(self, member: Member, with_members: bool) -> JoinResponse:
        protocol = self.protocol_name
        assert protocol is not None
        members: tuple[JoinedMember, ...] = ()
        if with_members:
            members = tuple(
                JoinedMember(m.member_id, m.group_instance_id, m.metadata_for(protocol))
                for m in self.members.values()
            )
        return JoinResponse(
            ErrorCode.NONE,
            member_id=member.member_id,
            generation_id=self.generation_id,
            protocol_type=self.protocol_type,
            protocol_name=protocol,
            leader=self.leader_id or "",
            members=members,
        )

    def _sync_success(self, member: Member) -> SyncResponse:
        return SyncResponse(
            ErrorCode.NONE, self.protocol_type, self.protocol_name, member.assignment
        )

    def _persist_group(self) -> None:
        key = records.GroupKey(self.group_id)
        self._effects.append(
            Persist(self.group_id, (records.group_record(key, self.to_record_value()),))
        )

    def _respond_join(self, ticket: int, response: JoinResponse) -> None:
        self._effects.append(RespondJoin(ticket, response))

    def _respond_sync(self, ticket: int, response: SyncResponse) -> None:
        self._effects.append(RespondSync(ticket, response))

    def _transition(self, target: GroupState, now_ms: int) -> None:
        assert target in ALLOWED[self.state], f"{self.state.value} -> {target.value}"
        self.state = target
        self.state_changed_ms = now_ms

    def _finish(self) -> list[Effect]:
        self._check_invariants()
        effects, self._effects = self._effects, []
        return effects

    def _check_invariants(self) -> None:
        members = self.members
        assert (self.leader_id in members) == bool(members), "a group with members has a leader"
        assert not (self.pending_members.keys() & members.keys())
        assert len(members) + len(self.pending_members) <= self.config.group_max_size
        assert self.pending_sync <= members.keys()
        for instance_id, member_id in self.static_members.items():
            assert members[member_id].group_instance_id == instance_id
        parked_joins = any(m.join_ticket is not None for m in members.values())
        parked_syncs = any(m.sync_ticket is not None for m in members.values())
        state = self.state
        assert not parked_joins or state is _PREPARING
        assert not parked_syncs or state is _COMPLETING
        assert (self.join_deadline_ms is not None) == (state is _PREPARING)
        assert self.sync_deadline_ms is None or state in (_COMPLETING, _STABLE)
        if state in (_COMPLETING, _STABLE):
            assert members and self.protocol_name is not None
        if state is _EMPTY:
            assert not members


def _with_leader(response: JoinResponse, leader: str) -> JoinResponse:
    return JoinResponse(
        response.error_code,
        member_id=response.member_id,
        generation_id=response.generation_id,
        protocol_type=response.protocol_type,
        protocol_name=response.protocol_name,
        leader=leader,
        members=response.members,
    )
