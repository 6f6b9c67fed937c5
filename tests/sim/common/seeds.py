"""The simulations under pytest: a seed count an environment variable can raise, and
the first failing seed's report (its first line replays it) as the failure."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest


def seed_count(env_var: str, default: int) -> int:
    return int(os.environ.get(env_var, default))


def check_seeds(count: int, run_one: Callable[[int], str | None]) -> None:
    for seed in range(count):
        report = run_one(seed)
        if report is not None:
            pytest.fail(report, pytrace=False)
