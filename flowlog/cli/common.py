"""What every client subcommand shares: the bootstrap address, errors, key=value pairs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from flowlog.client import Admin

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
BOOTSTRAP_ENVIRONMENT = "FLOWLOG_BOOTSTRAP"
# Exit codes: 0 done, 1 the operation failed, 2 bad arguments.
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Arguments that parse but make no sense together; exit 2."""


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap", default=os.environ.get(BOOTSTRAP_ENVIRONMENT, DEFAULT_BOOTSTRAP),
        metavar="HOST:PORT",
        help=f"broker(s) to bootstrap from, comma separated (${BOOTSTRAP_ENVIRONMENT}, "
        f"default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for programs")


def parse_pairs(pairs: list[str], flag: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise UsageError(f"{flag} takes KEY=VALUE, got {pair!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def bootstrap_servers(args: argparse.Namespace) -> list[str]:
    return [server.strip() for server in args.bootstrap.split(",") if server.strip()]


def run_client_command(command: Callable[[argparse.Namespace], Awaitable[int]],
                       args: argparse.Namespace) -> int:
    """Run an async command; client errors become one line on stderr and exit 1."""
    from flowlog.client.errors import KafkaError

    try:
        return trio.run(command, args)
    except UsageError as error:
        print(f"flowlog: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KafkaError as error:
        print(f"flowlog: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BaseExceptionGroup as group:
        cause = sole_cause(group)
        if isinstance(cause, KafkaError | UsageError):
            print(f"flowlog: {cause}", file=sys.stderr)
            return EXIT_USAGE if isinstance(cause, UsageError) else EXIT_FAILED
        raise


def sole_cause(error: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (trio's nurseries)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def client_options(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    return {"client_id": "flowlog-cli", **extra}


def admin_client(args: argparse.Namespace) -> Admin:
    """An Admin client for the command's --bootstrap."""
    return Admin(bootstrap_servers(args), **client_options(args))
