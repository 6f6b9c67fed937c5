"""The fault scenarios: which faults, how often, and which adversarial hooks.

Random faults (partitions, one-way cuts, crashes, link quality) are drawn on a timer.
Hooks strike at the moments Raft's proofs care about: a new leader crashing before its
entries leave (Raft's figure 8), a voter restarting right after it voted (a lost vote
lets it vote twice), a leader crashing right after its commit index moved.
"""

from __future__ import annotations

import attrs

from .common.network import LinkFaults


@attrs.frozen
class Scenario:
    name: str
    # fault name (faults.FAULTS) -> weight
    faults: dict[str, int]
    fault_interval_ms: tuple[int, int] = (50, 400)
    safety_phase_ms: int = 2_000
    compaction_interval_entries: tuple[int, int] = (5, 40)
    proposal_interval_ms: tuple[int, int] = (5, 60)
    # Chance that a new leader crashes within a few ms of its election.
    new_leader_crash_rate: float = 0.0
    # Chance that a node restarts right after it granted a vote.
    voter_blip_rate: float = 0.0
    # Chance that a leader crashes right after its commit index moved.
    leader_commit_crash_rate: float = 0.0
    # One is drawn per seed; small messages split a new leader's old entries from its
    # no-op, so an old entry can reach a majority alone.
    entries_per_message_max: tuple[int, ...] = (1, 2, 8)
    # The links to start with; None: random link faults.
    links: LinkFaults | None = None


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario(
            "mixed",
            {"partition": 3, "isolate_leader": 2, "one_way": 2, "heal": 4, "crash": 1,
             "crash_leader": 1, "blip": 1, "restart": 3, "links": 2, "false_proof": 1},
        ),
        Scenario("leader_isolation", {"isolate_leader": 3, "heal": 2, "links": 1},
                 fault_interval_ms=(100, 600)),
        Scenario("one_way", {"one_way": 4, "heal": 2, "links": 2}),
        Scenario("crash", {"crash": 2, "crash_leader": 2, "blip": 4, "restart": 5, "links": 1},
                 fault_interval_ms=(5, 200), voter_blip_rate=0.3),
        Scenario("leader_churn", {"partition": 1, "heal": 3, "crash_leader": 2, "blip": 2,
                                  "restart": 2},
                 safety_phase_ms=6_000, new_leader_crash_rate=0.7, leader_commit_crash_rate=0.1,
                 links=LinkFaults(0.3, 0.05, 1, 20), entries_per_message_max=(1,)),
        Scenario("snapshot", {"partition": 2, "isolate_leader": 1, "heal": 2, "crash": 1,
                              "restart": 2}, compaction_interval_entries=(1, 6),
                 proposal_interval_ms=(2, 20)),
    ]
}
