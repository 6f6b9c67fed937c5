"""The replication simulation under pytest: every scenario, SEEDS_DEFAULT seeds each.
FLOWLOG_REPLICATION_SIM_SEEDS=N runs N per scenario instead (docs/replication-data.md)."""

from __future__ import annotations

import pytest

from ..common.seeds import check_seeds, seed_count
from .run import run_one
from .scenarios import SCENARIOS

SEEDS_DEFAULT = 120


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replication_simulation(scenario: str) -> None:
    check_seeds(seed_count("FLOWLOG_REPLICATION_SIM_SEEDS", SEEDS_DEFAULT),
                lambda seed: run_one(seed, scenario))
