"""Run the replication simulation from the command line.

    python -m tests.sim.replication.run --seeds 2000                  # every scenario
    python -m tests.sim.replication.run --seed 17 --scenario crash [--trace]   # replay one

A failing seed prints one line that replays it exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter

from .scenarios import SCENARIOS
from .simulation import run_simulation


def replay_command(seed: int, scenario: str) -> str:
    return f"python -m tests.sim.replication.run --seed {seed} --scenario {scenario}"


def run_one(seed: int, scenario: str, trace: bool = False,
            stats: Counter[str] | None = None) -> str | None:
    """None if the seed passes, else a report whose first line replays it."""
    try:
        cluster = run_simulation(seed, scenario, trace)
    except AssertionError as error:
        notes = "\n".join(getattr(error, "__notes__", []))
        return (f"REPLAY: {replay_command(seed, scenario)}\n"
                f"{type(error).__name__}: {error}\nlast events:\n{notes}")
    except Exception as error:
        notes = "\n".join(getattr(error, "__notes__", []))
        return (f"REPLAY: {replay_command(seed, scenario)}\n{traceback.format_exc()}"
                f"last events:\n{notes}")
    if stats is not None:
        stats.update(cluster.stats)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--seeds", type=int, default=100, help="seeds per scenario")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    parser.add_argument("--trace", action="store_true", help="print every event (with --seed)")
    parser.add_argument("--stats", action="store_true", help="print how often things happened")
    args = parser.parse_args(argv)
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    seeds = [args.seed] if args.seed is not None else list(
        range(args.first_seed, args.first_seed + args.seeds))
    started = time.monotonic()
    stats: Counter[str] = Counter()
    failures = runs = 0
    for seed in seeds:
        for scenario in scenarios:
            runs += 1
            report = run_one(seed, scenario, args.trace, stats)
            if report is not None:
                failures += 1
                print(report, flush=True)
    if args.stats:
        for what, count in sorted(stats.items()):
            print(f"{count:>9}  {what}")
    print(f"{runs} runs, {failures} failed, {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
