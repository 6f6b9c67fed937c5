"""Fault injection: what each timed random fault does to a Raft cluster, and the
adversarial hooks of a scenario."""

from __future__ import annotations

from collections.abc import Callable

from flowlog.raft.messages import Message, VoteResponse
from flowlog.raft.raft_core import Role

from .cluster import SimCluster
from .common.faults import TimedFaults
from .common.network import LinkFaults
from .scenarios import Scenario

RESTART_DELAY_MS = (10, 150)
BLIP_RESTART_DELAY_MS = (0, 20)


class FaultInjector(TimedFaults[SimCluster, Scenario]):
    NOTE_FIRST = False

    def start(self) -> None:
        super().start()
        if self.scenario.new_leader_crash_rate:
            self.cluster.on_new_leader = self._maybe_crash_new_leader
        if self.scenario.voter_blip_rate:
            self.cluster.on_sent = self._maybe_blip_voter
        if self.scenario.leader_commit_crash_rate:
            self.cluster.on_leader_commit = self._maybe_crash_committer

    def stop(self) -> None:
        super().stop()
        self.cluster.on_new_leader = None
        self.cluster.on_sent = None
        self.cluster.on_leader_commit = None

    # -- timed faults --------------------------------------------------------------------

    def apply(self, name: str) -> None:
        FAULTS[name](self)

    def partition(self) -> None:
        self.cluster.network.split(self.rng, sorted(self.cluster.nodes))

    def isolate_leader(self) -> None:
        leader = self._newest_leader()
        if leader is not None:
            self.cluster.network.isolate(leader, self.cluster.nodes)

    def one_way(self) -> None:
        """Cut a few links in one direction only: a node hears but is not heard, or the
        reverse."""
        node_ids = sorted(self.cluster.nodes)
        for _ in range(self.rng.randint(1, len(node_ids))):
            sender, recipient = self.rng.sample(node_ids, 2)
            self.cluster.network.cut(sender, recipient)

    def links(self) -> None:
        self.cluster.network.faults = LinkFaults.random(self.rng)

    def crash(self) -> None:
        up = self._up()
        if up:
            self.cluster.crash(self.rng.choice(up), torn=self.rng.random() < 0.5)

    def crash_leader(self) -> None:
        leader = self._newest_leader()
        if leader is not None:
            self.cluster.crash(leader, torn=self.rng.random() < 0.5)

    def blip(self) -> None:
        """A quick process restart, while the messages of the moment are in flight."""
        up = self._up()
        if up:
            self._crash_and_restart(self.rng.choice(up), BLIP_RESTART_DELAY_MS)

    def false_proof(self) -> None:
        """Tell one follower that its leader is gone while the leader lives (a wrong
        refusal): an early pre-vote, never a safety matter."""
        followers = [
            raft for raft in self.cluster.up_nodes()
            if raft.role is Role.FOLLOWER and raft.leader_id in self.cluster.nodes
        ]
        if followers:
            follower = self.rng.choice(followers)
            follower.peer_gone(follower.leader_id)
            self.cluster.after(follower.node_id)

    def restart(self) -> None:
        down = sorted(n for n, node in self.cluster.nodes.items() if node.raft is None)
        if down:
            self.cluster.start(self.rng.choice(down))

    # -- hooks ---------------------------------------------------------------------------

    def _maybe_crash_new_leader(self, node_id: int) -> None:
        """Raft's figure 8 needs leaders that die before their entries spread."""
        if self.active and self.rng.random() < self.scenario.new_leader_crash_rate:
            delay_ms = self.rng.choice([0, 1, 2, 4, 8, 16, 32])
            self._crash_and_restart(node_id, RESTART_DELAY_MS, delay_ms)

    def _maybe_blip_voter(self, message: Message) -> None:
        """A voter that forgot its vote would vote again for another candidate."""
        if not isinstance(message, VoteResponse) or message.pre_vote or not message.granted:
            return
        if self.active and self.rng.random() < self.scenario.voter_blip_rate:
            self._crash_and_restart(message.sender, (1, 10), torn=False)

    def _maybe_crash_committer(self, node_id: int) -> None:
        """A leader that dies right after committing: the entry must survive anyway."""
        if self.active and self.rng.random() < self.scenario.leader_commit_crash_rate:
            self._crash_and_restart(node_id, RESTART_DELAY_MS)

    # -- helpers -------------------------------------------------------------------------

    def _crash_and_restart(
        self,
        node_id: int,
        restart_delay_ms: tuple[int, int],
        crash_delay_ms: int = 0,
        torn: bool | None = None,
    ) -> None:
        cluster = self.cluster
        incarnation = cluster.nodes[node_id].incarnation
        torn_write = self.rng.random() < 0.5 if torn is None else torn

        def restart() -> None:
            if cluster.nodes[node_id].raft is None:
                cluster.start(node_id)

        def crash() -> None:
            if cluster.nodes[node_id].incarnation == incarnation:
                cluster.crash(node_id, torn_write)
                cluster.schedule(self.rng.randint(*restart_delay_ms), restart)

        cluster.schedule(crash_delay_ms, crash)

    def _up(self) -> list[int]:
        return sorted(n for n, node in self.cluster.nodes.items() if node.raft is not None)

    def _newest_leader(self) -> int | None:
        leaders = self.cluster.leaders()
        return max(leaders, key=lambda raft: raft.term).node_id if leaders else None


FAULTS: dict[str, Callable[[FaultInjector], None]] = {
    "partition": FaultInjector.partition,
    "isolate_leader": FaultInjector.isolate_leader,
    "one_way": FaultInjector.one_way,
    "heal": FaultInjector.heal,
    "links": FaultInjector.links,
    "crash": FaultInjector.crash,
    "crash_leader": FaultInjector.crash_leader,
    "blip": FaultInjector.blip,
    "restart": FaultInjector.restart,
    "false_proof": FaultInjector.false_proof,
}
