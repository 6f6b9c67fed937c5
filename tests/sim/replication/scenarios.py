"""Fault mixes for the replication simulation.

Random faults are drawn on a timer: network partitions (the controller is node 0 and
takes part), a leader cut off from the controller only (the followers still reach it:
the stale-leader case), crashes and restarts, forced leader moves, link quality.
A hook cuts a leader's power right after it served unflushed data to a follower.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Scenario:
    name: str
    # fault name (faults.FAULTS) -> weight
    faults: dict[str, int]
    fault_interval_ms: tuple[int, int] = (50, 400)
    safety_phase_ms: int = 3_000
    # (acks, produce interval range) per producer
    producers: tuple[tuple[int, tuple[int, int]], ...] = ((-1, (5, 40)), (1, (10, 60)))
    # Chance that a leader that just sent a follower unflushed data loses power at once
    # and restarts soon: its followers then hold data of its epoch that it lost.
    power_cut_after_serve_rate: float = 0.0


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario("mixed", {"partition": 3, "isolate_leader": 2, "stale_leader": 2, "heal": 5,
                           "crash": 1, "crash_leader": 1, "restart": 3, "move_leader": 1,
                           "links": 2}),
        Scenario("crash", {"crash": 2, "crash_leader": 3, "blip": 3, "restart": 4, "heal": 1,
                           "links": 1}, fault_interval_ms=(20, 250)),
        Scenario("stale_leader", {"stale_leader": 3, "isolate_leader": 2, "heal": 3, "links": 1,
                                  "blip": 1}, fault_interval_ms=(100, 500)),
        Scenario("power_cut", {"blip": 1, "restart": 3, "heal": 1, "links": 1, "partition": 1},
                 power_cut_after_serve_rate=0.05),
        Scenario("churn", {"move_leader": 4, "crash_leader": 1, "blip": 2, "restart": 2,
                           "heal": 1, "partition": 1}, fault_interval_ms=(20, 200)),
    ]
}
