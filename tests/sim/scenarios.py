"""Fault scenarios and the two-phase run: a safety phase under faults, then a liveness
phase on a healed, reliable network that must elect a leader and commit a proposal."""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from flowlog.raft.ready import NotLeader, Proposal

from .cluster import ELECTION_TIMEOUT_TICKS, TICK_MS, SimCluster
from .network import LinkFaults

ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS
SAFETY_PHASE_MS = 2_000
QUIET_PHASE_MS = 8 * ELECTION_TIMEOUT_MS
LIVENESS_DEADLINE_MS = 10 * ELECTION_TIMEOUT_MS
CLIENT_COUNT = 2


@attrs.frozen
class Scenario:
    name: str
    # fault name -> weight
    faults: dict[str, int]
    fault_interval_ms: tuple[int, int] = (50, 400)
    compaction_interval_entries: tuple[int, int] = (5, 40)
    proposal_interval_ms: tuple[int, int] = (5, 60)
    # Chance that a new leader crashes soon after its election, before it replicated
    # much (the schedule of Raft's figure 8), and comes back a little later.
    new_leader_crash_rate: float = 0.0
    # The links to start with; None: random link faults.
    links: LinkFaults | None = None


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario(
            "mixed",
            {"partition": 3, "isolate_leader": 2, "one_way": 2, "heal": 4, "crash": 1,
             "crash_leader": 1, "restart": 3, "links": 2},
        ),
        Scenario("leader_isolation", {"isolate_leader": 3, "heal": 2, "links": 1},
                 fault_interval_ms=(100, 600)),
        Scenario("one_way", {"one_way": 4, "heal": 2, "links": 2}),
        Scenario("crash", {"crash": 2, "crash_leader": 2, "restart": 5, "links": 1},
                 fault_interval_ms=(20, 300)),
        Scenario("leader_churn", {"partition": 1, "heal": 3, "crash_leader": 2, "restart": 2},
                 new_leader_crash_rate=0.7, links=LinkFaults(0.3, 0.05, 1, 20)),
        Scenario("snapshot", {"partition": 2, "isolate_leader": 1, "heal": 2, "crash": 1,
                              "restart": 2}, compaction_interval_entries=(1, 6),
                 proposal_interval_ms=(2, 20)),
    ]
}


class LivenessFailure(AssertionError):
    pass


def run_simulation(seed: int, node_count: int, scenario_name: str, trace: bool = False) -> SimCluster:
    """One seed, start to end; raises AssertionError (with the trace) on a violation."""
    scenario = SCENARIOS[scenario_name]
    seed_text = f"{scenario_name}:{node_count}:{seed}"
    rng = random.Random(f"{seed_text}:scenario")
    cluster = SimCluster(
        node_count,
        seed_text,
        compaction_interval_entries=rng.randint(*scenario.compaction_interval_entries),
        # Small messages split a new leader's old entries from its no-op.
        entries_per_message_max=rng.choice([1, 2, 8]),
    )
    cluster.trace_all = trace
    cluster.network.faults = scenario.links or LinkFaults.random(rng)
    for client in range(CLIENT_COUNT):
        _schedule_client(cluster, rng, scenario, client, 0)
    _schedule_fault(cluster, rng, scenario)
    if scenario.new_leader_crash_rate:
        cluster.on_new_leader = lambda node_id: _maybe_crash_new_leader(
            cluster, rng, scenario, node_id
        )
    cluster.run_until(SAFETY_PHASE_MS)
    cluster.on_new_leader = None
    _check_liveness(cluster)
    cluster.checker.check_logs_match(cluster.up_nodes())
    cluster.checker.check_acknowledged_applied()
    return cluster


def _schedule_client(
    cluster: SimCluster, rng: random.Random, scenario: Scenario, client: int, sequence: int,
    target: int | None = None,
) -> None:
    def propose() -> None:
        if cluster.now_ms >= SAFETY_PHASE_MS:
            return
        node_id = target if target is not None else rng.choice(sorted(cluster.nodes))
        result = cluster.propose(node_id, f"c{client}-{sequence}".encode())
        hint = None
        if isinstance(result, NotLeader) and result.leader_hint in cluster.nodes:
            hint = result.leader_hint
        elif isinstance(result, Proposal):
            hint = node_id
        next_sequence = sequence + 1 if isinstance(result, Proposal) else sequence
        _schedule_client(cluster, rng, scenario, client, next_sequence, hint)

    cluster.schedule(rng.randint(*scenario.proposal_interval_ms), propose)


def _schedule_fault(cluster: SimCluster, rng: random.Random, scenario: Scenario) -> None:
    def inject() -> None:
        if cluster.now_ms >= SAFETY_PHASE_MS:
            return
        names = sorted(scenario.faults)
        name = rng.choices(names, weights=[scenario.faults[n] for n in names])[0]
        FAULTS[name](cluster, rng)
        cluster.note(f"fault {name}")
        _schedule_fault(cluster, rng, scenario)

    cluster.schedule(rng.randint(*scenario.fault_interval_ms), inject)


def _maybe_crash_new_leader(
    cluster: SimCluster, rng: random.Random, scenario: Scenario, node_id: int
) -> None:
    if cluster.now_ms >= SAFETY_PHASE_MS or rng.random() >= scenario.new_leader_crash_rate:
        return
    incarnation = cluster.nodes[node_id].incarnation

    def crash() -> None:
        if cluster.nodes[node_id].incarnation != incarnation:
            return
        cluster.crash(node_id, torn=rng.random() < 0.5)
        cluster.schedule(rng.randint(10, 150), lambda: _restart_node(cluster, node_id))

    cluster.schedule(rng.choice([0, 1, 2, 4, 8, 16, 32]), crash)


def _restart_node(cluster: SimCluster, node_id: int) -> None:
    if cluster.nodes[node_id].raft is None:
        cluster.start(node_id)


def _partition(cluster: SimCluster, rng: random.Random) -> None:
    node_ids = sorted(cluster.nodes)
    rng.shuffle(node_ids)
    cut = rng.randint(1, len(node_ids) - 1)
    cluster.network.partition([set(node_ids[:cut]), set(node_ids[cut:])])


def _isolate_leader(cluster: SimCluster, rng: random.Random) -> None:
    leaders = cluster.leaders()
    if not leaders:
        return
    leader = max(leaders, key=lambda raft: raft.term).node_id
    cluster.network.partition([{leader}, set(cluster.nodes) - {leader}])


def _one_way(cluster: SimCluster, rng: random.Random) -> None:
    """Cut a few links in one direction only (a node hears but is not heard, or the
    reverse)."""
    node_ids = sorted(cluster.nodes)
    for _ in range(rng.randint(1, len(node_ids))):
        sender, recipient = rng.sample(node_ids, 2)
        cluster.network.cut(sender, recipient)


def _heal(cluster: SimCluster, rng: random.Random) -> None:
    cluster.network.heal()


def _crash(cluster: SimCluster, rng: random.Random) -> None:
    up = sorted(node_id for node_id, node in cluster.nodes.items() if node.raft is not None)
    if up:
        cluster.crash(rng.choice(up), torn=rng.random() < 0.5)


def _crash_leader(cluster: SimCluster, rng: random.Random) -> None:
    leaders = cluster.leaders()
    if leaders:
        cluster.crash(max(leaders, key=lambda raft: raft.term).node_id, torn=rng.random() < 0.5)


def _restart(cluster: SimCluster, rng: random.Random) -> None:
    down = sorted(node_id for node_id, node in cluster.nodes.items() if node.raft is None)
    if down:
        cluster.start(rng.choice(down))


def _links(cluster: SimCluster, rng: random.Random) -> None:
    cluster.network.faults = LinkFaults.random(rng)


FAULTS: dict[str, Callable[[SimCluster, random.Random], None]] = {
    "partition": _partition,
    "isolate_leader": _isolate_leader,
    "one_way": _one_way,
    "heal": _heal,
    "crash": _crash,
    "crash_leader": _crash_leader,
    "restart": _restart,
    "links": _links,
}


def _check_liveness(cluster: SimCluster) -> None:
    """Heal everything; after a quiet period one leader must exist and commit a proposal
    that every node then applies."""
    cluster.note("liveness phase")
    cluster.network.heal()
    cluster.network.faults = LinkFaults.reliable()
    for node_id, node in cluster.nodes.items():
        if node.raft is None:
            cluster.start(node_id)
    quiet_end_ms = cluster.now_ms + QUIET_PHASE_MS
    cluster.run_until(quiet_end_ms)
    leaders = cluster.leaders()
    if len(leaders) != 1:
        raise LivenessFailure(
            f"after {QUIET_PHASE_MS} ms of calm: leaders {[r.node_id for r in leaders]} "
            f"(terms {[r.term for r in cluster.up_nodes()]})"
        )
    leader = leaders[0]
    payload = b"liveness"
    result = cluster.propose(leader.node_id, payload)
    if not isinstance(result, Proposal):
        raise LivenessFailure(f"leader {leader.node_id} refused a proposal: {result}")

    def all_applied() -> bool:
        return all(
            node.machine is not None and node.machine.applied_index >= result.index
            for node in cluster.nodes.values()
        )

    cluster.run_until(quiet_end_ms + LIVENESS_DEADLINE_MS, stop=all_applied)
    if not all_applied():
        applied = {n: node.machine.applied_index if node.machine else None
                   for n, node in cluster.nodes.items()}
        raise LivenessFailure(f"proposal at {result.index} not applied everywhere: {applied}")
    if cluster.checker.applied[result.index][3] != payload:
        raise LivenessFailure(f"index {result.index} holds another entry than the proposal")
