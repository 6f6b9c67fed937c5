"""One simulated run: a safety phase with producers, a consumer and the scenario's
faults, then a liveness phase on a healed, reliable network in which every replica
must come back, rejoin the ISR and hold the same log, and an acks=all produce must
succeed. Invariants are checked after every event throughout."""

from __future__ import annotations

import random

from ..common.report import trace_in_failures
from .cluster import SimCluster
from .faults import FaultInjector, random_links
from .scenarios import SCENARIOS, Scenario

REPLICA_LAG_TIME_MAX_MS = (60, 150, 400)
QUIET_PHASE_MS = 3_000
LIVENESS_DEADLINE_MS = 3_000
TRACE_LINES_IN_REPORT = 30


class LivenessFailure(AssertionError):
    pass


def run_simulation(seed: int, scenario_name: str, trace: bool = False) -> SimCluster:
    """One seed, start to end; raises AssertionError (its notes: the last events)."""
    scenario = SCENARIOS[scenario_name]
    seed_text = f"replication:{scenario_name}:{seed}"
    rng = random.Random(f"{seed_text}:scenario")
    cluster = SimCluster(
        seed_text,
        durable=rng.random() < 0.5,
        truncate_with_epoch_request=rng.random() < 0.5,
        replica_lag_time_max_ms=rng.choice(REPLICA_LAG_TIME_MAX_MS),
    )
    cluster.trace_all = trace
    cluster.note("settings", (f"durable={cluster.durable}",
                              f"epoch_requests={cluster.follower_config.truncate_with_epoch_request}",
                              f"lag_max={cluster.leader_config.replica_lag_time_max_ms}"))
    with trace_in_failures(cluster, TRACE_LINES_IN_REPORT):
        _run(cluster, rng, scenario)
    return cluster


def _run(cluster: SimCluster, rng: random.Random, scenario: Scenario) -> None:
    cluster.network.faults = random_links(rng)
    cluster.start(list(scenario.producers))
    injector = FaultInjector(cluster, rng, scenario)
    injector.start()
    cluster.run_until(scenario.safety_phase_ms)
    injector.stop()
    _check_liveness(cluster)


def _check_liveness(cluster: SimCluster) -> None:
    """Heal everything; after a calm period all replicas are in the ISR with one log,
    and an acks=all produce succeeds."""
    cluster.note("liveness phase")
    cluster.clients_active = False
    cluster.network.calm()
    for broker_id in cluster.brokers:
        cluster.restart(broker_id)
    quiet_end_ms = cluster.now_ms + QUIET_PHASE_MS
    cluster.run_until(quiet_end_ms)
    state = cluster.controller.state
    if state.isr != frozenset(cluster.brokers):
        raise LivenessFailure(f"after {QUIET_PHASE_MS} ms of calm the ISR is {sorted(state.isr)} "
                              f"(leader {state.leader}, epoch {state.leader_epoch}); log ends "
                              f"{ {b: x.log.log_end_offset for b, x in cluster.brokers.items()} }")
    producer = next(p for p in cluster.producers.values() if p.acks == -1)
    acknowledged = producer.acknowledged
    cluster.clients_active = True
    producer.in_flight = None
    producer.send()
    cluster.run_until(quiet_end_ms + LIVENESS_DEADLINE_MS,
                      stop=lambda: producer.acknowledged > acknowledged)
    cluster.clients_active = False
    if producer.acknowledged == acknowledged:
        raise LivenessFailure("an acks=all produce did not succeed after the calm")
    cluster.run_until(cluster.now_ms + QUIET_PHASE_MS // 2)
    cluster.checker.check_converged()
    consumer = next(iter(cluster.consumers.values()))
    leader = cluster.brokers[cluster.controller.state.leader]
    if consumer.position != leader.high_watermark:
        raise LivenessFailure(f"the consumer is at {consumer.position}, the high watermark at "
                              f"{leader.high_watermark}")
