"""One simulated run: a safety phase under the scenario's faults with clients
proposing, then a liveness phase on a healed, reliable network that must elect one
leader and commit a proposal on every node. Invariants are checked throughout."""

from __future__ import annotations

import random

from flowlog.raft.ready import NotLeader, Proposal

from .cluster import ELECTION_TIMEOUT_TICKS, TICK_MS, SimCluster
from .common.network import LinkFaults
from .common.report import trace_in_failures
from .faults import FaultInjector
from .scenarios import SCENARIOS, Scenario

ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS
QUIET_PHASE_MS = 8 * ELECTION_TIMEOUT_MS
LIVENESS_DEADLINE_MS = 10 * ELECTION_TIMEOUT_MS
CLIENT_COUNT = 2
TRACE_LINES_IN_REPORT = 25


class LivenessFailure(AssertionError):
    pass


def run_simulation(seed: int, node_count: int, scenario_name: str, trace: bool = False) -> SimCluster:
    """One seed, start to end; raises AssertionError (its notes: the last events)."""
    scenario = SCENARIOS[scenario_name]
    seed_text = f"{scenario_name}:{node_count}:{seed}"
    rng = random.Random(f"{seed_text}:scenario")
    cluster = SimCluster(
        node_count,
        seed_text,
        compaction_interval_entries=rng.randint(*scenario.compaction_interval_entries),
        entries_per_message_max=rng.choice(scenario.entries_per_message_max),
    )
    cluster.trace_all = trace
    with trace_in_failures(cluster, TRACE_LINES_IN_REPORT):
        _run(cluster, rng, scenario)
    return cluster


def _run(cluster: SimCluster, rng: random.Random, scenario: Scenario) -> None:
    cluster.network.faults = scenario.links or LinkFaults.random(rng)
    injector = FaultInjector(cluster, rng, scenario)
    for client in range(CLIENT_COUNT):
        _schedule_client(cluster, rng, scenario, client, 0, None)
    injector.start()
    cluster.run_until(scenario.safety_phase_ms)
    injector.stop()
    cluster.clients_active = False
    _check_liveness(cluster)
    cluster.checker.check_logs_match(cluster.up_nodes())
    cluster.checker.check_acknowledged_applied()


def _schedule_client(
    cluster: SimCluster,
    rng: random.Random,
    scenario: Scenario,
    client: int,
    sequence: int,
    target: int | None,
) -> None:
    """A client proposes to the node it believes leads, or a random one, and follows
    NotLeader hints."""

    def propose() -> None:
        if not cluster.clients_active:
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


def _check_liveness(cluster: SimCluster) -> None:
    """Heal everything; after a quiet period one leader must exist and commit a proposal
    that every node then applies."""
    cluster.note("liveness phase")
    cluster.network.calm()
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
        applied = {
            node_id: node.machine.applied_index if node.machine else None
            for node_id, node in cluster.nodes.items()
        }
        raise LivenessFailure(f"proposal at {result.index} not applied everywhere: {applied}")
    if cluster.checker.applied[result.index][3] != payload:
        raise LivenessFailure(f"index {result.index} holds another entry than the proposal")
