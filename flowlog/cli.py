"""The `flowlog` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys

from flowlog import __version__


def _add_broker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = commands.add_parser(
        "broker",
        help="run a standalone broker",
        description="Run a flowlog broker that Kafka clients can use.",
    )
    broker.add_argument("--data-dir", default="./flowlog-data", help="where logs live")
    broker.add_argument("--listen", default="127.0.0.1:9092", metavar="HOST:PORT")
    broker.add_argument(
        "--advertise", default=None, metavar="HOST:PORT",
        help="address given to clients in metadata (default: --listen)",
    )
    broker.add_argument("--node-id", type=int, default=1, metavar="N")
    broker.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE",
        help="a Kafka broker config, e.g. num.partitions=3 (repeatable)",
    )
    broker.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowlog",
        description="flowlog: a Kafka-protocol streaming platform in Python.",
    )
    parser.add_argument("--version", action="version", version=f"flowlog {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_broker_parser(commands)
    return parser


def _broker(args: argparse.Namespace) -> int:
    from flowlog.broker.config import BrokerConfig, BrokerConfigError, parse_key_values
    from flowlog.broker.run import run_broker

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = BrokerConfig.from_settings(
            data_dir=args.data_dir,
            listen=args.listen,
            advertise=args.advertise,
            node_id=args.node_id,
            settings=parse_key_values(args.config),
        )
    except BrokerConfigError as error:
        print(f"flowlog broker: {error}", file=sys.stderr)
        return 2
    return run_broker(config)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "broker":
        return _broker(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
