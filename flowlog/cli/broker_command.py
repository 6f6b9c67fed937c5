"""`flowlog broker`: run a broker as a process (signals, logging, the ready line)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from flowlog.broker.broker import Broker
from flowlog.broker.config import BrokerConfig, BrokerConfigError
from flowlog.broker.data_dir_lock import DataDirInUseError
from flowlog.cli.common import EXIT_FAILED, EXIT_USAGE, UsageError, parse_pairs, sole_cause
from flowlog.controller.metadata_migration import MigrationRefusedError

log = logging.getLogger("flowlog.broker")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "broker", help="run a broker (standalone, or one member of a cluster)",
        description="Run a flowlog broker that Kafka clients can use. Without --voters it "
        "is a standalone one-node cluster; with --voters it is one member of a cluster "
        "whose controller quorum is the listed voters (every voter is also a broker).",
    )
    parser.add_argument("--data-dir", default="./flowlog-data", help="where logs live")
    parser.add_argument("--listen", default="127.0.0.1:9092", metavar="HOST:PORT")
    parser.add_argument(
        "--advertise", default=None, metavar="HOST:PORT",
        help="address given to clients in metadata (default: --listen)",
    )
    parser.add_argument("--node-id", type=int, default=1, metavar="N")
    parser.add_argument(
        "--controller-listen", default=None, metavar="HOST:PORT",
        help="where this node's controller quorum listener binds (default: its --voters entry)",
    )
    parser.add_argument(
        "--voters", default=None, metavar="ID@HOST:PORT[,ID@HOST:PORT...]",
        help="the controller quorum: every voter's node id and controller address",
    )
    parser.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE",
        help="a Kafka broker config, e.g. num.partitions=3 (repeatable)",
    )
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(run=run)


# Controlled shutdown (leadership moves away first) gets this long, then we stop anyway.
CONTROLLED_SHUTDOWN_TIMEOUT_S = 10.0


async def _serve_until_signalled(config: BrokerConfig) -> None:
    broker = Broker(config)
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await nursery.start(broker.run)
            print(f"flowlog broker ready on {broker.bootstrap}", flush=True)
            async for signum in signals:
                log.info("%s received, shutting down", signal.Signals(signum).name)
                break
            with trio.move_on_after(CONTROLLED_SHUTDOWN_TIMEOUT_S):
                await broker.controlled_shutdown()
        nursery.cancel_scope.cancel()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; flush and close on the way out."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = BrokerConfig.from_settings(
            data_dir=args.data_dir, listen=args.listen, advertise=args.advertise,
            node_id=args.node_id, settings=parse_pairs(args.config, "--config"),
            voters=args.voters, controller_listen=args.controller_listen,
        )
    except (BrokerConfigError, UsageError) as error:
        print(f"flowlog broker: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        trio.run(_serve_until_signalled, config)
    except Exception as raised:
        cause = sole_cause(raised)
        if isinstance(cause, DataDirInUseError | MigrationRefusedError):
            print(f"flowlog broker: {cause}", file=sys.stderr)
            return EXIT_FAILED
        if isinstance(cause, OSError):
            print(f"flowlog broker: cannot listen on {config.listen}: {cause.strerror}",
                  file=sys.stderr)
            return EXIT_FAILED
        raise
    log.info("flowlog broker stopped cleanly")
    return 0
