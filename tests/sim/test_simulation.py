"""The Raft simulation under pytest: every scenario on 3 and 5 nodes, a few dozen seeds
each. FLOWLOG_SIM_SEEDS=N runs N seeds per scenario and size instead (docs/replication.md).
"""

from __future__ import annotations

import os

import pytest

from .run import run_one
from .scenarios import SCENARIOS

SEEDS_DEFAULT = 50


def seed_count() -> int:
    return int(os.environ.get("FLOWLOG_SIM_SEEDS", SEEDS_DEFAULT))


@pytest.mark.parametrize("node_count", [3, 5])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simulation(scenario: str, node_count: int) -> None:
    for seed in range(seed_count()):
        report = run_one(seed, node_count, scenario)
        if report is not None:
            # The report's first line replays the seed exactly.
            pytest.fail(report, pytrace=False)
