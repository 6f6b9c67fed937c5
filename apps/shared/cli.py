"""The command line every example app has:

    python -m apps.<app> run --bootstrap HOST:PORT [--state-dir DIR] [--application-id ID]
    python -m apps.<app> generate --bootstrap HOST:PORT --events N --seed S [--rate R]

`run` creates the missing topics and runs one instance until SIGTERM / Ctrl-C (start more
for more throughput); `generate` writes the app's tables, then N events. Exit codes: 0 done,
1 failed (one line on stderr), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from apps.shared.produce import Generated, produce_generated
from apps.shared.topics import DEFAULT_PARTITIONS, BrokerUnreachableError, TopicSpec, ensure_topics
from flowlog.client.errors import KafkaError
from flowlog_streams import State, StreamsApp, Topology

EXIT_FAILED = 1
# Results show up within a second or so (Kafka Streams' default is 30 s, for throughput).
COMMIT_INTERVAL_MS = 1_000
log = logging.getLogger("apps")


@attrs.frozen
class GeneratorOptions:
    seed: int
    events: int
    rate_per_s: float  # mean events per second of event time
    start_ms: int  # the first event's time


@attrs.frozen
class AppDefinition:
    name: str  # also the default application id
    description: str
    topics: tuple[TopicSpec, ...]  # inputs and outputs, created when missing
    build_topology: Callable[[], Topology]
    generate: Callable[[GeneratorOptions], Generated]
    default_rate_per_s: float
    # StreamsApp settings of this app, on top of streams_settings().
    streams_options: Mapping[str, Any] = attrs.field(factory=dict)


def streams_settings(definition: AppDefinition, **overrides: Any) -> dict[str, Any]:
    """StreamsApp settings for an app: a bad record is logged and skipped, never fatal."""
    return {
        "commit_interval_ms": COMMIT_INTERVAL_MS,
        "deserialization_exception_handler": "log_and_continue",
        "processing_exception_handler": "log_and_continue",
        **definition.streams_options,
        **overrides,
    }


def build_parser(definition: AppDefinition) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m apps.{definition.name.replace('-', '_')}",
                                     description=definition.description)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="run one instance of the app")
    generate = commands.add_parser("generate", help="write sample input")
    for command in (run, generate):
        command.add_argument("--bootstrap", required=True, metavar="HOST:PORT")
        command.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS,
                             help="of the topics created (default %(default)s)")
    run.add_argument("--state-dir", default="./state")
    run.add_argument("--application-id", default=definition.name)
    run.add_argument("--log-level", default="INFO")
    run.add_argument("--window-close-wall-clock-ms", type=int,
                     default=definition.streams_options.get("window_close_wall_clock_ms"),
                     help="after this long without records, let wall-clock time close "
                     "suppressed windows (default %(default)s; 0: never)")
    generate.add_argument("--events", type=int, required=True)
    generate.add_argument("--seed", type=int, required=True)
    generate.add_argument("--rate", type=float, default=definition.default_rate_per_s,
                          help="mean events per second of event time (default %(default)s)")
    generate.add_argument("--speedup", type=float, default=1.0,
                          help="event time runs this many times as fast as the wall clock; "
                          "0: no pacing, as fast as possible (default 1: live)")
    generate.add_argument("--start-ms", type=int,
                          help="the first event's time (default: now; with --speedup 0, "
                          "early enough that the last event is about now)")
    return parser


class AppFailedError(Exception):
    """The app stopped on an error of its own (not the broker's); the message says which."""


def main(definition: AppDefinition, argv: list[str] | None = None) -> int:
    parser = build_parser(definition)
    args = parser.parse_args(argv)
    if args.command == "generate" and (args.events < 0 or args.rate <= 0 or args.speedup < 0):
        parser.error("generate takes --events >= 0, --rate > 0 and --speedup >= 0")
    command: Callable[[AppDefinition, argparse.Namespace], Any] = (
        run_command if args.command == "run" else generate_command
    )
    try:
        trio.run(command, definition, args)
    except (BrokerUnreachableError, KafkaError, AppFailedError) as error:
        print(f"{definition.name}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # generate, or run before the app handles signals itself
        print(f"{definition.name}: interrupted", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def run_command(definition: AppDefinition, args: argparse.Namespace) -> None:
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    created = await ensure_topics(args.bootstrap, definition.topics, args.partitions)
    if created:
        log.info("created topics %s", ", ".join(created))

    def on_state(new: State, old: State) -> None:
        log.info("%s: %s -> %s", definition.name, old.value, new.value)

    app = StreamsApp(definition.build_topology(), application_id=args.application_id,
                     bootstrap=args.bootstrap, state_dir=args.state_dir, state_listener=on_state,
                     **streams_settings(definition, window_close_wall_clock_ms=(
                         args.window_close_wall_clock_ms or None)))
    try:
        await app.run()
    except KafkaError:
        raise
    except Exception as error:
        raise AppFailedError(f"stopped in state {app.state.value}: {error!r}") from None


async def generate_command(definition: AppDefinition, args: argparse.Namespace) -> None:
    options = generator_options(args)
    await ensure_topics(args.bootstrap, definition.topics, args.partitions)
    started = time.monotonic()
    sent = await produce_generated(args.bootstrap, definition.generate(options),
                                   speedup=args.speedup)
    print(f"{definition.name}: wrote {sent} events in {time.monotonic() - started:.1f} s")


def generator_options(args: argparse.Namespace) -> GeneratorOptions:
    start_ms = args.start_ms
    if start_ms is None:
        now_ms = int(time.time() * 1000)
        start_ms = now_ms if args.speedup > 0 else now_ms - int(args.events / args.rate * 1000)
    return GeneratorOptions(args.seed, args.events, args.rate, start_ms)
