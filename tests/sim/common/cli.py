"""The command line both simulations' run.py build on: which seeds and scenarios, a
full trace for a replayed seed, a summary of failures and counters."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable

# Runs one seed of one scenario (every variant of it, e.g. each cluster size), adding
# its counters to the Counter; yields a report per failed run, None per passed one.
RunSeed = Callable[[int, str, Counter[str]], Iterable[str | None]]


def seed_parser(description: str, scenarios: Iterable[str],
                seeds_help: str = "seeds per scenario") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--seeds", type=int, default=100, help=seeds_help)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--scenario", default="all", choices=["all", *scenarios])
    parser.add_argument("--trace", action="store_true", help="print every event (with --seed)")
    parser.add_argument("--stats", action="store_true", help="print how often things happened")
    return parser


def run_seeds(args: argparse.Namespace, scenarios: Iterable[str], run_seed: RunSeed) -> int:
    """Every seed of every chosen scenario; failures print as they come. Exit status 1 if
    any failed."""
    chosen = list(scenarios) if args.scenario == "all" else [args.scenario]
    seeds = [args.seed] if args.seed is not None else list(
        range(args.first_seed, args.first_seed + args.seeds))
    started = time.monotonic()
    stats: Counter[str] = Counter()
    failures = runs = 0
    for seed in seeds:
        for scenario in chosen:
            for report in run_seed(seed, scenario, stats):
                runs += 1
                if report is not None:
                    failures += 1
                    print(report, flush=True)
    if args.stats:
        for what, count in sorted(stats.items()):
            print(f"{count:>9}  {what}")
    print(f"{runs} runs, {failures} failed, {time.monotonic() - started:.1f} s")
    return 1 if failures else 0
