"""The Raft simulation under pytest: every scenario on 3 and 5 nodes, a few dozen seeds
each. FLOWLOG_SIM_SEEDS=N runs N seeds per scenario and size instead (docs/replication.md).
"""

from __future__ import annotations

import pytest

from .common.seeds import check_seeds, seed_count
from .run import run_one
from .scenarios import SCENARIOS

SEEDS_DEFAULT = 50


@pytest.mark.parametrize("node_count", [3, 5])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simulation(scenario: str, node_count: int) -> None:
    check_seeds(seed_count("FLOWLOG_SIM_SEEDS", SEEDS_DEFAULT),
                lambda seed: run_one(seed, node_count, scenario))
