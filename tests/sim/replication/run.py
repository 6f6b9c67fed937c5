"""Run the replication simulation from the command line.

    python -m tests.sim.replication.run --seeds 2000                  # every scenario
    python -m tests.sim.replication.run --seed 17 --scenario crash [--trace]   # replay one

A failing seed prints one line that replays it exactly.
"""

from __future__ import annotations

import sys
from collections import Counter

from ..common import cli, report
from .scenarios import SCENARIOS
from .simulation import run_simulation


def replay_command(seed: int, scenario: str) -> str:
    return report.replay_command("tests.sim.replication.run", seed=seed, scenario=scenario)


def run_one(seed: int, scenario: str, trace: bool = False,
            stats: Counter[str] | None = None) -> str | None:
    """None if the seed passes, else a report whose first line replays it."""
    return report.run_one(replay_command(seed, scenario),
                          lambda: run_simulation(seed, scenario, trace), stats)


def main(argv: list[str] | None = None) -> int:
    args = cli.seed_parser(__doc__ or "", SCENARIOS).parse_args(argv)
    return cli.run_seeds(args, SCENARIOS, lambda seed, scenario, stats: [
        run_one(seed, scenario, args.trace, stats)])


if __name__ == "__main__":
    sys.exit(main())
