"""A simulated Raft cluster on virtual time: one seeded scheduler drives every node.

Each node is a RaftNode driven exactly as a real driver would: a Ready is persisted
after a simulated fsync delay, only then are its messages sent and its committed
entries applied, and then the node is advanced. A crash drops the node object and any
Ready whose fsync had not completed (optionally leaving a torn prefix of its writes);
a restart rebuilds the node from its SimDisk, and the survivors that can reach a crashed
node get the proof that it is gone (RaftNode.peer_gone), as the real transport's
refused redial gives it. Invariants are checked after every event.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

import attrs

from flowlog.raft.messages import Message
from flowlog.raft.raft_core import RaftNode, Role
from flowlog.raft.ready import Proposal, ProposeResult, RaftConfig, Ready

from .common.loop import SimLoop
from .disk import SimDisk
from .invariants import InvariantChecker
from .state_machine import SimStateMachine

TICK_MS = 10
ELECTION_TIMEOUT_TICKS = 10
HEARTBEAT_INTERVAL_TICKS = 2
FSYNC_DELAY_MS_MAX = 4
# How long after a crash a survivor's link has its proof (the connection ends, a redial
# is refused): the real transport's reconnect delay is an election timeout / 20.
GONE_PROOF_DELAY_MS = (1, 20)


@attrs.define
class SimNode:
    node_id: int
    disk: SimDisk = attrs.Factory(SimDisk)
    raft: RaftNode | None = None
    machine: SimStateMachine | None = None
    incarnation: int = 0
    ready_in_flight: Ready | None = None
    led_term: int = 0
    commit_index: int = 0


class SimCluster(SimLoop):
    EVENTS_PER_RUN_MAX = 2_000_000

    def __init__(
        self,
        node_count: int,
        seed_text: str,
        compaction_interval_entries: int = 20,
        entries_per_message_max: int = 8,
    ) -> None:
        super().__init__(seed_text)
        # Its own stream, so the proof of a crash leaves the other draws as they were.
        self._proof_rng = random.Random(f"{seed_text}:proof")
        self.checker = InvariantChecker()
        self.compaction_interval_entries = compaction_interval_entries
        self.entries_per_message_max = entries_per_message_max
        self.voters = frozenset(range(1, node_count + 1))
        self.nodes = {node_id: SimNode(node_id) for node_id in sorted(self.voters)}
        # payload -> (node, index, term) of proposals not yet acknowledged
        self._proposals: dict[bytes, tuple[int, int, int]] = {}
        self.acknowledged_payloads: set[bytes] = set()
        self.clients_active = True
        # Called with a node id when it becomes leader of a new term (scenarios hook in).
        self.on_new_leader: Callable[[int], None] | None = None
        # Called with a leader's node id when its commit index moved.
        self.on_leader_commit: Callable[[int], None] | None = None
        # Called with each message a node sends (after its Ready was persisted).
        self.on_sent: Callable[[Message], None] | None = None
        for node_id in self.nodes:
            self.start(node_id)

    # -- node life -----------------------------------------------------------------------

    def start(self, node_id: int) -> None:
        node = self.nodes[node_id]
        assert node.raft is None
        config = RaftConfig(
            node_id,
            self.voters,
            election_timeout_ticks=ELECTION_TIMEOUT_TICKS,
            heartbeat_interval_ticks=HEARTBEAT_INTERVAL_TICKS,
            entries_per_message_max=self.entries_per_message_max,
        )
        node_rng = random.Random(f"{self.seed_text}:node{node_id}:{node.incarnation}")
        persisted = node.disk.persisted_state()
        node.raft = RaftNode(config, node_rng, persisted)
        node.machine = SimStateMachine(persisted.snapshot)
        for applied in node.machine.applied:
            self.checker.on_apply(node_id, applied)
        self.checker.on_restart(node.raft)
        node.commit_index = node.raft.commit_index
        self.note("start", node_id)
        incarnation = node.incarnation
        self.schedule(self.rng.randrange(1, TICK_MS + 1), lambda: self._tick(node_id, incarnation))

    def crash(self, node_id: int, torn: bool) -> None:
        node = self.nodes[node_id]
        if node.raft is None:
            return
        if node.ready_in_flight is not None and torn:
            node.disk.persist_torn(node.ready_in_flight, self.rng)
        node.raft = None
        node.machine = None
        node.ready_in_flight = None
        node.incarnation += 1
        self.note("crash", (node_id, torn))
        self.stats["crash_torn"] += torn
        self._prove_gone(node_id)

    def _prove_gone(self, node_id: int) -> None:
        """Each survivor whose links to the crashed node are not cut learns that it is
        gone, as the real transport would: its connection ends and a redial is refused.
        Not if the node restarted first (the redial would be accepted), nor across a cut
        (no FIN, no refusal: a dial there times out and proves nothing)."""
        incarnation = self.nodes[node_id].incarnation
        for other_id, other in self.nodes.items():
            if other_id == node_id or other.raft is None:
                continue
            cut = self.network.cut_links
            if (node_id, other_id) in cut or (other_id, node_id) in cut:
                continue
            delay_ms = self._proof_rng.randint(*GONE_PROOF_DELAY_MS)
            self.schedule(
                delay_ms,
                functools.partial(self._deliver_gone, other_id, other.incarnation, node_id,
                                  incarnation),
            )

    def _deliver_gone(
        self, node_id: int, incarnation: int, gone_id: int, gone_incarnation: int
    ) -> None:
        node, gone = self.nodes[node_id], self.nodes[gone_id]
        if node.incarnation != incarnation or node.raft is None:
            return
        if gone.incarnation != gone_incarnation or gone.raft is not None:
            return  # It restarted: the redial was accepted.
        if node.raft.leader_id == gone_id:
            self.note("leader gone", (node_id, gone_id))
        node.raft.peer_gone(gone_id)
        self._after(node)

    def after(self, node_id: int) -> None:
        """A test poked the node directly: hand out its Ready and check, as after an event."""
        self._after(self.nodes[node_id])

    def up_nodes(self) -> list[RaftNode]:
        return [node.raft for node in self.nodes.values() if node.raft is not None]

    def leaders(self) -> list[RaftNode]:
        return [raft for raft in self.up_nodes() if raft.role is Role.LEADER]

    # -- events --------------------------------------------------------------------------

    def _tick(self, node_id: int, incarnation: int) -> None:
        node = self.nodes[node_id]
        if node.incarnation != incarnation or node.raft is None:
            return
        node.raft.tick()
        self._after(node)
        self.schedule(TICK_MS, lambda: self._tick(node_id, incarnation))

    def _deliver(self, message: Message) -> None:
        node = self.nodes[message.recipient]
        if node.raft is None:
            return
        self.note("deliver", message)
        node.raft.step(message)
        self._after(node)

    def propose(self, node_id: int, payload: bytes) -> ProposeResult | None:
        node = self.nodes[node_id]
        if node.raft is None:
            return None
        result = node.raft.propose(payload)
        self.note("propose", (node_id, payload, result))
        if isinstance(result, Proposal):
            self._proposals[payload] = (node_id, result.index, result.term)
        self._after(node)
        return result

    def _after(self, node: SimNode) -> None:
        """Hand out the node's next Ready, if any, then check the invariants."""
        raft = node.raft
        assert raft is not None
        if node.ready_in_flight is None and raft.has_ready():
            ready = raft.ready()
            self.checker.on_ready(raft, ready)
            node.ready_in_flight = ready
            delay_ms = self.rng.randrange(FSYNC_DELAY_MS_MAX + 1) if ready.must_persist else 0
            incarnation = node.incarnation
            self.schedule(delay_ms, lambda: self._complete_ready(node, incarnation, ready))
        self.checker.check_node(raft, self.leaders())
        commit_moved = raft.commit_index > node.commit_index
        node.commit_index = raft.commit_index
        if raft.role is Role.LEADER and commit_moved and self.on_leader_commit is not None:
            self.on_leader_commit(node.node_id)
        if raft.role is Role.LEADER and node.led_term != raft.term:
            node.led_term = raft.term
            self.note("leader", (node.node_id, raft.term))
            if self.on_new_leader is not None:
                self.on_new_leader(node.node_id)

    def _complete_ready(self, node: SimNode, incarnation: int, ready: Ready) -> None:
        if node.incarnation != incarnation:
            return  # The node crashed before this fsync completed.
        raft, machine = node.raft, node.machine
        assert raft is not None and machine is not None
        node.disk.persist(ready)
        for message in ready.messages:
            if self.on_sent is not None:
                self.on_sent(message)
            for delay_ms in self.network.delays_ms(message.sender, message.recipient):
                self.schedule(delay_ms, functools.partial(self._deliver, message))
        if ready.snapshot is not None:
            self.note("install", (node.node_id, ready.snapshot.index))
            self.stats["snapshot_install"] += 1
            for applied in machine.restore(ready.snapshot):
                self.checker.on_apply(node.node_id, applied)
        for entry in ready.committed_entries:
            self.checker.on_apply(node.node_id, machine.apply(entry))
            self._maybe_acknowledge(node.node_id, entry.index, entry.term, entry.payload)
        raft.advance(ready)
        node.ready_in_flight = None
        if machine.applied_index - raft.log.snapshot.index >= self.compaction_interval_entries:
            snapshot = machine.snapshot()
            node.disk.save_snapshot(snapshot)
            raft.compact(snapshot)
        self._after(node)

    def _maybe_acknowledge(self, node_id: int, index: int, term: int, payload: bytes) -> None:
        proposal = self._proposals.get(payload)
        if proposal is None:
            return
        if proposal == (node_id, index, term):
            # The proposer saw its entry applied: this is when a client hears "done".
            del self._proposals[payload]
            self.acknowledged_payloads.add(payload)
            self.checker.on_acknowledged(index, term, payload)
