"""`flowlog demo` (and `make demo`): an example app live on a standalone broker.

    python -m apps.demo [activity-tracking | metrics-rollup] [--bootstrap HOST:PORT]
                        [--duration S] [--seed N]

Starts a broker on a temp data dir (or uses --bootstrap), runs the generator and the app,
shows live results for --duration seconds or until Ctrl-C, stops everything cleanly and
says where the data is.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import trio
from rich.console import Console

from apps.demo.broker import BrokerStartError
from apps.demo.runner import run_demo
from apps.demo.specs import DEMOS
from apps.shared.topics import BrokerUnreachableError
from flowlog.client.errors import KafkaError

EXIT_FAILED = 1
DEFAULT_DURATION_S = 30.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowlog demo", description=__doc__.splitlines()[0])
    parser.add_argument("app", nargs="?", choices=sorted(DEMOS), default="activity-tracking")
    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="use this cluster instead of starting a broker")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, metavar="S",
                        help="seconds of live view (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="of the generator")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The app's own log lines would tear the live view; warnings and errors still show.
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    console = Console()
    work_dir = Path(tempfile.mkdtemp(prefix="flowlog-demo-"))
    code = 0
    try:
        trio.run(run_demo, DEMOS[args.app], args.bootstrap, args.duration, console, args.seed,
                 work_dir)
    except (BrokerStartError, BrokerUnreachableError, KafkaError) as error:
        console.print(f"[bold red]demo failed:[/] {error}")
        code = EXIT_FAILED
    except KeyboardInterrupt:
        console.print("interrupted")
        code = EXIT_FAILED
    where = "the broker's data and log in broker/, " if args.bootstrap is None else ""
    console.print(f"The data was in {work_dir} ({where}the app's state in state/); "
                  f"remove it with: rm -rf {work_dir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
