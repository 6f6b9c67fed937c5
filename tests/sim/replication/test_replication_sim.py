"""The replication simulation under pytest: every scenario, SEEDS_DEFAULT seeds each.
FLOWLOG_REPLICATION_SIM_SEEDS=N runs N per scenario instead (docs/replication-data.md)."""

from __future__ import annotations

import os

import pytest

from .run import run_one
from .scenarios import SCENARIOS

SEEDS_DEFAULT = 120


def seed_count() -> int:
    return int(os.environ.get("FLOWLOG_REPLICATION_SIM_SEEDS", SEEDS_DEFAULT))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replication_simulation(scenario: str) -> None:
    for seed in range(seed_count()):
        report = run_one(seed, scenario)
        if report is not None:
            # The report's first line replays the seed exactly.
            pytest.fail(report, pytrace=False)
