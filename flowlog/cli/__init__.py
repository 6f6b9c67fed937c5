"""The `flowlog` command: one entry point, one subcommand per job.

    flowlog broker ...                         run a broker (standalone or a cluster member)
    flowlog cluster describe|up ...            a cluster's brokers, controller, partitions
    flowlog topics create|list|describe|delete|alter-config ...
    flowlog produce TOPIC / flowlog consume TOPIC
    flowlog perf produce|consume ...
    flowlog groups list|describe|delete|reset-offsets ...
    flowlog demo [activity-tracking|metrics-rollup]   an example app, live (make demo)

Client commands take --bootstrap HOST:PORT (or $FLOWLOG_BOOTSTRAP) and --json.
Exit codes: 0 done, 1 the operation failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from flowlog import __version__
from flowlog.cli import broker_command, cluster, consume, demo, groups, perf, produce, topics
from flowlog.cli.common import EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flowlog",
        description="flowlog: a Kafka-protocol streaming platform in Python.",
    )
    parser.add_argument("--version", action="version", version=f"flowlog {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (broker_command, cluster, topics, produce, consume, perf, groups, demo):
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.run(args))
