"""Random request sequences from well-behaved clients against one group.

The clients act like real consumers (rejoin with the id they were given, the
leader assigns partitions with a range assignor) and the test checks that no
partition has two owners in one generation, generations never go back, every
ticket is answered once, and that every parked ticket is answered in the end.
"""

from __future__ import annotations

import attrs
from group_harness import GROUP, Harness, join_request
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from flowlog.broker.group_core import OffsetCommit
from flowlog.broker.group_types import GroupConfig, GroupState, JoinResponse, SyncRequest
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.group_protocol import (
    Assignment,
    TopicPartitions,
    decode_assignment,
    encode_assignment,
)

CLIENTS = 4
STATIC_CLIENTS = {2: "instance-2"}
TOPIC = "t"
PARTITIONS = 6
# Clients forget their id on these errors and start over.
RESET_ERRORS = {ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID}


@attrs.define
class Client:
    instance_id: str | None
    member_id: str = ""
    generation_id: int = -1
    join_response: JoinResponse | None = None
    join_ticket: int | None = None
    sync_ticket: int | None = None
    synced_generation: int = -1

    @property
    def busy(self) -> bool:
        return self.join_ticket is not None or self.sync_ticket is not None

    def forget(self) -> None:
        self.member_id, self.generation_id, self.join_response = "", -1, None


def range_assignment(members: list[str]) -> dict[str, bytes]:
    ordered = sorted(members)
    owned: dict[str, list[int]] = {member: [] for member in ordered}
    for partition in range(PARTITIONS):
        owned[ordered[partition * len(ordered) // PARTITIONS]].append(partition)
    return {
        member: encode_assignment(Assignment([TopicPartitions(TOPIC, parts)], version=0))
        for member, parts in owned.items()
    }


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.harness = Harness(GroupConfig(initial_rebalance_delay_ms=3_000))
        self.clients = [Client(STATIC_CLIENTS.get(index)) for index in range(CLIENTS)]
        self.issued: set[int] = set()
        self.handled_joins: set[int] = set()
        self.handled_syncs: set[int] = set()
        self.sync_context: dict[int, tuple[int, str, int]] = {}  # ticket -> client, id, gen
        self.owners: dict[int, dict[int, str]] = {}  # generation -> partition -> member
        self.highest_generation = 0

    # ------------------------------------------------------------ plumbing

    def deliver(self) -> None:
        for ticket, response in self.harness.joins.items():
            if ticket in self.handled_joins:
                continue
            self.handled_joins.add(ticket)
            for client in self.clients:
                if client.join_ticket == ticket:
                    client.join_ticket = None
                    self.on_join(client, response)
        for ticket, sync in self.harness.syncs.items():
            if ticket in self.handled_syncs:
                continue
            self.handled_syncs.add(ticket)
            index, member_id, generation = self.sync_context[ticket]
            client = self.clients[index]
            if client.sync_ticket == ticket:
                client.sync_ticket = None
            if sync.error_code == ErrorCode.NONE:
                client.synced_generation = generation
                self.record_ownership(generation, member_id, sync.assignment)
            elif sync.error_code in RESET_ERRORS:
                client.forget()

    def on_join(self, client: Client, response: JoinResponse) -> None:
        if response.error_code == ErrorCode.MEMBER_ID_REQUIRED:
            client.member_id = response.member_id
        elif response.error_code == ErrorCode.NONE:
            client.member_id = response.member_id
            client.generation_id = response.generation_id
            client.join_response = response
        elif response.error_code in RESET_ERRORS:
            client.forget()

    def record_ownership(self, generation: int, member_id: str, payload: bytes) -> None:
        if not payload:
            return
        owners = self.owners.setdefault(generation, {})
        for topic_partitions in decode_assignment(payload).assigned_partitions:
            for partition in topic_partitions.partitions:
                owner = owners.setdefault(partition, member_id)
                assert owner == member_id, f"partition {partition} owned twice in {generation}"

    # ------------------------------------------------------------ rules

    @rule(index=st.integers(0, CLIENTS - 1))
    def join(self, index: int) -> None:
        client = self.clients[index]
        if client.busy:
            return
        request = join_request(client.member_id, instance_id=client.instance_id)
        client.join_ticket = self.harness.join(request)
        self.issued.add(client.join_ticket)
        self.deliver()

    @rule(index=st.integers(0, CLIENTS - 1))
    def next_step(self, index: int) -> None:
        """What a live consumer does next: (re)join, sync, or heartbeat."""
        client = self.clients[index]
        if client.join_response is None or client.generation_id < 0:
            self.join(index)
        elif client.synced_generation != client.generation_id:
            self.sync(index)
        else:
            self.heartbeat(index)
            if (
                self.harness.manager.heartbeat(
                    GROUP, client.member_id, client.generation_id, None, self.harness.now_ms
                )
                == ErrorCode.REBALANCE_IN_PROGRESS
            ):
                self.join(index)

    @rule(index=st.integers(0, CLIENTS - 1))
    def sync(self, index: int) -> None:
        client = self.clients[index]
        response = client.join_response
        if client.busy or response is None:
            return
        assignments: tuple[tuple[str, bytes], ...] = ()
        if response.leader == client.member_id and response.members:
            plan = range_assignment([m.member_id for m in response.members])
            assignments = tuple(plan.items())
        request = SyncRequest(
            client.member_id, client.generation_id, client.instance_id, assignments=assignments
        )
        ticket = self.harness.sync(request)
        client.sync_ticket = ticket
        self.issued.add(ticket)
        self.sync_context[ticket] = (index, client.member_id, client.generation_id)
        self.deliver()

    @rule(index=st.integers(0, CLIENTS - 1))
    def heartbeat(self, index: int) -> None:
        client = self.clients[index]
        if not client.member_id:
            return
        error = self.harness.manager.heartbeat(
            GROUP, client.member_id, client.generation_id, client.instance_id, self.harness.now_ms
        )
        if error in RESET_ERRORS:
            client.forget()

    @rule(index=st.integers(0, CLIENTS - 1))
    def leave(self, index: int) -> None:
        client = self.clients[index]
        if not client.member_id or client.busy:
            return
        from flowlog.broker.group_types import MemberIdentity

        identity = MemberIdentity(client.member_id, client.instance_id)
        _, _, effects = self.harness.manager.leave(GROUP, [identity], self.harness.now_ms)
        self.harness.absorb(effects)
        client.forget()
        self.deliver()

    @rule(index=st.integers(0, CLIENTS - 1), offset=st.integers(0, 1_000))
    def commit(self, index: int, offset: int) -> None:
        client = self.clients[index]
        errors, effects = self.harness.manager.commit_offsets(
            GROUP,
            client.member_id,
            client.generation_id,
            client.instance_id,
            [OffsetCommit(TOPIC, index % PARTITIONS, offset)],
            self.harness.now_ms,
        )
        self.harness.absorb(effects)
        if errors[0] == ErrorCode.NONE:
            fetched = self.harness.manager.fetch_offsets(GROUP, None)
            assert any(f.offset == offset for f in fetched)

    @rule(delta_ms=st.sampled_from([100, 1_000, 3_000, 6_000, 12_000, 31_000]))
    def advance(self, delta_ms: int) -> None:
        self.harness.advance(delta_ms)
        self.deliver()

    @precondition(lambda self: GROUP in self.harness.manager.groups)
    @rule()
    def restart(self) -> None:
        before = self.harness.manager.groups[GROUP].generation_id
        self.harness.absorb(self.harness.manager.unload())
        self.deliver()
        self.harness = self.harness.restarted()
        self.handled_joins, self.handled_syncs = set(), set()
        for client in self.clients:
            assert not client.busy
        # The last persisted generation comes back: one still in CompletingRebalance
        # was never persisted (as in Kafka), and it never handed out assignments.
        restored = self.harness.manager.groups.get(GROUP)
        self.highest_generation = restored.generation_id if restored is not None else 0
        assert self.highest_generation <= before

    # ------------------------------------------------------------ invariants

    @invariant()
    def generation_never_goes_back(self) -> None:
        group = self.harness.manager.groups.get(GROUP)
        if group is not None:
            assert group.generation_id >= self.highest_generation
            self.highest_generation = group.generation_id
            assert group.state is not GroupState.DEAD

    @invariant()
    def only_issued_tickets_are_answered(self) -> None:
        answered = set(self.harness.joins) | set(self.harness.syncs)
        assert answered <= self.issued

    def teardown(self) -> None:
        # With no more requests every parked ticket must be answered.
        for _ in range(10):
            self.harness.advance(60_000)
            self.deliver()
        assert all(not client.busy for client in self.clients)


GroupMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
test_group_machine = GroupMachine.TestCase
