"""A hand-driven Raft cluster for unit tests: the test decides which messages arrive.

Every Ready is handled at once (persist, queue messages, apply, advance). Messages wait
in `in_flight` until deliver() hands them over; `cut` links drop them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from flowlog.raft.messages import Entry, HardState, Message, Snapshot
from flowlog.raft.raft_core import RaftNode, Role
from flowlog.raft.ready import PersistedState, RaftConfig, Ready

ELECTION_TIMEOUT_TICKS = 10
DELIVERY_ROUNDS_MAX = 1000
CAMPAIGNS_MAX = 3

Edit = Callable[[Message], Message | None]


def keep_all(message: Message) -> Message | None:
    return message


@attrs.define
class Disk:
    hard_state: HardState = HardState()
    snapshot: Snapshot = Snapshot()
    entries: list[Entry] = attrs.Factory(list)

    def persist(self, ready: Ready) -> None:
        if ready.snapshot is not None:
            self.snapshot = ready.snapshot
            self.entries = []
        if ready.entries:
            first_index = ready.entries[0].index
            self.entries = [e for e in self.entries if e.index < first_index]
            self.entries.extend(ready.entries)
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state

    def state(self) -> PersistedState:
        return PersistedState(self.hard_state, self.snapshot, tuple(self.entries))


class Cluster:
    def __init__(self, node_count: int, seed: int = 0, **config: int) -> None:
        self.voters = frozenset(range(1, node_count + 1))
        self.seed = seed
        self.config = config
        self.disks = {node_id: Disk() for node_id in self.voters}
        self.nodes: dict[int, RaftNode | None] = {}
        self.applied: dict[int, list[Entry]] = {node_id: [] for node_id in self.voters}
        self.in_flight: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        for node_id in sorted(self.voters):
            self.start(node_id)

    def node(self, node_id: int) -> RaftNode:
        node = self.nodes[node_id]
        assert node is not None, f"node {node_id} is down"
        return node

    def start(self, node_id: int) -> RaftNode:
        config = RaftConfig(
            node_id, self.voters, election_timeout_ticks=ELECTION_TIMEOUT_TICKS, **self.config
        )
        node = RaftNode(config, random.Random(self.seed * 100 + node_id), self.disks[node_id].state())
        self.nodes[node_id] = node
        self.applied[node_id] = []
        return node

    def crash(self, node_id: int) -> None:
        self.nodes[node_id] = None
        self.in_flight = [m for m in self.in_flight if m.recipient != node_id]

    def isolate(self, node_id: int) -> None:
        for other in self.voters - {node_id}:
            self.cut |= {(node_id, other), (other, node_id)}

    def heal(self) -> None:
        self.cut = set()

    def process(self, node_id: int) -> None:
        """Handle the node's Readies until it has none."""
        node = self.nodes[node_id]
        while node is not None and node.has_ready():
            ready = node.ready()
            self.disks[node_id].persist(ready)
            self.in_flight.extend(ready.messages)
            if ready.snapshot is not None:
                self.applied[node_id] = []
            self.applied[node_id].extend(ready.committed_entries)
            node.advance(ready)

    def process_all(self) -> None:
        for node_id in sorted(self.voters):
            self.process(node_id)

    def tick(self, node_id: int, count: int = 1) -> None:
        for _ in range(count):
            self.node(node_id).tick()
            self.process(node_id)

    def deliver(self, edit: Edit = keep_all) -> int:
        """Deliver queued messages (and the ones they cause) until none is left. `edit`
        may drop a message (None) or change it. Returns how many were delivered."""
        delivered = 0
        for _ in range(DELIVERY_ROUNDS_MAX):
            self.process_all()
            if not self.in_flight:
                return delivered
            batch, self.in_flight = self.in_flight, []
            for message in batch:
                node = self.nodes.get(message.recipient)
                if node is None or (message.sender, message.recipient) in self.cut:
                    continue
                edited = edit(message)
                if edited is None:
                    continue
                node.step(edited)
                delivered += 1
        raise AssertionError("messages still flowing after the delivery bound")

    def campaign(self, node_id: int, edit: Edit = keep_all) -> None:
        """Time the node out (the others' leases lapse too) and run elections until it
        wins; a node that fell behind in term needs a second round."""
        node = self.node(node_id)
        for _ in range(CAMPAIGNS_MAX):
            for other in sorted(self.voters - {node_id}):
                peer = self.nodes[other]
                if peer is not None and peer.role is not Role.LEADER:
                    # Out of lease, but not about to campaign themselves.
                    peer._election_elapsed_ticks = ELECTION_TIMEOUT_TICKS
                    peer._randomized_election_timeout_ticks = 10 * ELECTION_TIMEOUT_TICKS
            while node.role is not Role.PRE_CANDIDATE:
                self.tick(node_id)
            self.deliver(edit)
            if node.role is Role.LEADER:
                return

    def leader(self) -> RaftNode:
        leaders = [n for n in self.nodes.values() if n is not None and n.role is Role.LEADER]
        assert len(leaders) == 1, f"leaders: {[n.node_id for n in leaders]}"
        return leaders[0]

    def heartbeat(self, leader_id: int) -> None:
        self.tick(leader_id, self.node(leader_id).config.heartbeat_interval_ticks)
        self.deliver()
