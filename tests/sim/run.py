"""Run the Raft simulation from the command line.

    python -m tests.sim.run --seeds 5000                 # many seeds, every scenario, 3 and 5 nodes
    python -m tests.sim.run --seed 1234 --nodes 5 --scenario mixed [--trace]   # replay one

A failing seed prints one line that replays it exactly.
"""

from __future__ import annotations

import sys
from collections import Counter

from .common import cli, report
from .scenarios import SCENARIOS
from .simulation import run_simulation


def replay_command(seed: int, node_count: int, scenario: str) -> str:
    return report.replay_command("tests.sim.run", seed=seed, nodes=node_count, scenario=scenario)


def run_one(seed: int, node_count: int, scenario: str, trace: bool = False,
            stats: Counter[str] | None = None) -> str | None:
    """None if the seed passes, else a report whose first line replays it."""
    return report.run_one(replay_command(seed, node_count, scenario),
                          lambda: run_simulation(seed, node_count, scenario, trace), stats)


def main(argv: list[str] | None = None) -> int:
    parser = cli.seed_parser(__doc__ or "", SCENARIOS, "seeds per scenario and size")
    parser.add_argument("--nodes", default="3,5", help="cluster sizes, comma separated")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.nodes.split(",")]
    return cli.run_seeds(args, SCENARIOS, lambda seed, scenario, stats: (
        run_one(seed, size, scenario, args.trace, stats) for size in sizes))


if __name__ == "__main__":
    sys.exit(main())
