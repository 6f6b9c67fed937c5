"""`flowlog demo [APP] [--bootstrap HOST:PORT] [--duration S]`: an example app, live.

The demos are the example apps of a flowlog checkout (`apps/demo`, above flowlog in the
layers), so this command only launches them: it replaces itself with
`python -m apps.demo ...` (same terminal, same signals, its exit code), with the checkout
on the module path. The demo checks the options.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flowlog.cli.common import EXIT_FAILED

DEMO_MODULE = "apps.demo"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo", help="run an example app live on a standalone broker (make demo)",
        description="Start a standalone broker on a temp data dir (or use --bootstrap), run "
        "the generator and the app, show live results, then stop everything cleanly.",
    )
    parser.add_argument("app", nargs="?", metavar="APP",
                        help="activity-tracking (default) or metrics-rollup")
    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="use this cluster instead of starting a broker")
    parser.add_argument("--duration", metavar="S", help="seconds of live view (default 30)")
    parser.add_argument("--seed", metavar="N", help="of the generator (default 1)")
    parser.set_defaults(run=run)


def demo_arguments(args: argparse.Namespace) -> list[str]:
    """The options given, for the demo module (which checks them)."""
    forwarded = [args.app] if args.app else []
    for option in ("bootstrap", "duration", "seed"):
        value = getattr(args, option)
        if value is not None:
            forwarded += [f"--{option}", value]
    return forwarded


def checkout_root() -> Path:
    return Path(__file__).resolve().parents[2]


def run(args: argparse.Namespace) -> int:
    root = checkout_root()
    if not (root / "apps" / "demo" / "__main__.py").is_file():
        print(f"flowlog demo: no example apps next to this flowlog ({root}); run it from a "
              "flowlog checkout (make demo)", file=sys.stderr)
        return EXIT_FAILED
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", DEMO_MODULE, *demo_arguments(args)]
    sys.stdout.flush()
    os.execve(sys.executable, argv, {**os.environ, "PYTHONPATH": path})
