"""Run a broker as a process: signals, logging, the ready line."""

from __future__ import annotations

import logging
import signal
import sys

import trio

from flowlog.broker.broker import Broker
from flowlog.broker.config import BrokerConfig
from flowlog.broker.data_dir_lock import DataDirInUseError


async def _run_until_signalled(config: BrokerConfig) -> None:
    broker = Broker(config)
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await nursery.start(broker.run)
            print(f"flowlog broker ready on {broker.bootstrap}", flush=True)
            async for signum in signals:
                logging.getLogger(__name__).info(
                    "%s received, shutting down", signal.Signals(signum).name
                )
                break
        nursery.cancel_scope.cancel()


def _sole_cause(error: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (trio's nurseries)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def run_broker(config: BrokerConfig) -> int:
    """Serve until SIGTERM/SIGINT; flush and close on the way out."""
    try:
        trio.run(_run_until_signalled, config)
    except Exception as raised:
        error = _sole_cause(raised)
        if isinstance(error, DataDirInUseError):
            print(f"flowlog broker: {error}", file=sys.stderr)
            return 1
        if isinstance(error, OSError):
            print(f"flowlog broker: cannot listen on {config.listen}: {error.strerror}",
                  file=sys.stderr)
            return 1
        raise
    logging.getLogger(__name__).info("flowlog broker stopped cleanly")
    return 0
