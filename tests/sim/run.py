"""Run the Raft simulation from the command line.

    python -m tests.sim.run --seeds 5000                 # many seeds, every scenario, 3 and 5 nodes
    python -m tests.sim.run --seed 1234 --nodes 5 --scenario mixed [--trace]   # replay one

A failing seed prints one line that replays it exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from .scenarios import SCENARIOS
from .simulation import run_simulation


def replay_command(seed: int, node_count: int, scenario: str) -> str:
    return f"python -m tests.sim.run --seed {seed} --nodes {node_count} --scenario {scenario}"


def run_one(seed: int, node_count: int, scenario: str, trace: bool = False) -> str | None:
    """None if the seed passes, else a report whose first line replays it."""
    try:
        run_simulation(seed, node_count, scenario, trace)
    except AssertionError as error:
        notes = "\n".join(getattr(error, "__notes__", []))
        return (
            f"REPLAY: {replay_command(seed, node_count, scenario)}\n"
            f"{type(error).__name__}: {error}\nlast events:\n{notes}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--seeds", type=int, default=100, help="seeds per scenario and size")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--nodes", default="3,5", help="cluster sizes, comma separated")
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    parser.add_argument("--trace", action="store_true", help="print every event (with --seed)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.nodes.split(",")]
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if args.seed is not None:
        seeds = [args.seed]
    else:
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    started = time.monotonic()
    failures = 0
    runs = 0
    for seed in seeds:
        for scenario in scenarios:
            for size in sizes:
                runs += 1
                try:
                    report = run_one(seed, size, scenario, args.trace)
                except Exception:
                    report = f"REPLAY: {replay_command(seed, size, scenario)}\n{traceback.format_exc()}"
                if report is not None:
                    failures += 1
                    print(report, flush=True)
    elapsed_s = time.monotonic() - started
    print(f"{runs} runs, {failures} failed, {elapsed_s:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
