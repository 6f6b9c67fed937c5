"""The stateful streams benchmark's windowed count written with flowlog_streams (issue 11).

    python -m bench.streams_state_flowlog_app --bootstrap 127.0.0.1:PORT --input state-input \
        --output state-output-flowlog --application-id bench-state-<unique> --state-dir DIR \
        [--caching-disabled] [--report-restore-tasks N]

stream(str keys) -> group_by_key() -> windowed_by(1-minute tumbling windows, no grace)
-> count(Materialized.as_("counts"), RocksDB, changelogged) -> to_stream()
-> to(output, Serdes.windowed(str) keys, long values). ``StreamsApp(...,
commit_interval_ms=1000)``, every other setting at its default. Runs until SIGTERM/SIGINT
(the harness ``bench.streams_state_bench`` measures it), then prints
``METRICS {json}`` (``app.metrics()``).

Logging: ``flowlog_streams.restore`` at INFO (its "task X: restored N records in S s" lines),
everything else at WARNING, on stderr with a wall-clock timestamp.

``--report-restore-tasks N``: once N tasks have finished restoring (restore listener "end"
events), print ``RESTORED {json}`` (first start, last end, per-task figures and
``app.metrics()["records_restored"]``) and keep running until stopped.
flowlog_streams is imported lazily, so ``--help`` works without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from bench.loopback import is_loopback

STORE = "counts"
WINDOW_MS = 60_000


def build_topology(input_topic: str, output_topic: str, caching: bool) -> Any:
    from flowlog_streams import Materialized, Serdes, StreamsBuilder, TimeWindows

    materialized = Materialized.as_(STORE)
    if not caching:
        materialized = materialized.with_caching_disabled()
    builder = StreamsBuilder()
    builder.stream(input_topic, key_serde=Serdes.str()) \
        .group_by_key() \
        .windowed_by(TimeWindows.of_size_with_no_grace(WINDOW_MS)) \
        .count(materialized) \
        .to_stream() \
        .to(output_topic, key_serde=Serdes.windowed(Serdes.str()), value_serde=Serdes.long())
    return builder.build()


class RestoreWatch:
    """Restore listener: wall-clock start and end of every task's restore."""

    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.started: dict[str, float] = {}
        self.ended: dict[str, dict[str, Any]] = {}
        self.all_ended: Any = None  # a trio.Event, set once `tasks` tasks have restored

    def __call__(self, event: str, progress: Any) -> None:
        if event == "start":
            self.started[progress.task_id] = time.time()
        elif event == "end":
            now = time.time()
            self.ended[progress.task_id] = {
                "records": progress.restored_records,
                "total": progress.total_records,
                "start": self.started.get(progress.task_id),
                "end": now,
                "seconds": now - self.started.get(progress.task_id, now),
            }
            if self.all_ended is not None and self.tasks and len(self.ended) >= self.tasks:
                self.all_ended.set()


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("flowlog_streams.restore").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_state_flowlog_app",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--commit-interval-ms", type=int, default=1000)
    parser.add_argument("--caching-disabled", action="store_true",
                        help="Materialized.with_caching_disabled(): every update emitted, logged")
    parser.add_argument("--consumer-config", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for the app's flowlog.client consumer (integer values), "
                        "e.g. fetch_buffer_max_chunks=4; repeatable; none by default")
    parser.add_argument("--report-restore-tasks", type=int, default=0, metavar="N",
                        help="print RESTORED {json} once N tasks have restored")
    args = parser.parse_args(argv)
    if not is_loopback(args.bootstrap):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2
    consumer_config: dict[str, Any] = {}
    for item in args.consumer_config:
        key, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            parser.error(f"--consumer-config wants KEY=INTEGER, got {item!r}")
        consumer_config[key] = int(value)
    _configure_logging()
    import trio

    from flowlog_streams import StreamsApp

    watch = RestoreWatch(args.report_restore_tasks)
    app = StreamsApp(
        build_topology(args.input, args.output, caching=not args.caching_disabled),
        application_id=args.application_id,
        bootstrap=args.bootstrap,
        state_dir=args.state_dir,
        commit_interval_ms=args.commit_interval_ms,
        restore_listener=watch,
        consumer_config=consumer_config,
    )

    async def report_restore() -> None:
        watch.all_ended = trio.Event()
        if len(watch.ended) < args.report_restore_tasks:
            await watch.all_ended.wait()
        starts = [t["start"] for t in watch.ended.values() if t["start"] is not None]
        ends = [t["end"] for t in watch.ended.values()]
        doc = {
            "tasks": watch.ended,
            "first_start": min(starts) if starts else None,
            "last_end": max(ends),
            "records_restored_metric": app.metrics().get("records_restored"),
        }
        print("RESTORED " + json.dumps(doc), flush=True)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            if args.report_restore_tasks > 0:
                nursery.start_soon(report_restore)
            await app.run()
            nursery.cancel_scope.cancel()

    print("flowlog_streams app running", flush=True)
    trio.run(run)
    try:
        metrics = app.metrics()
    except Exception as exc:  # the figures are a diagnostic, never the result
        metrics = {"error": repr(exc)}
    print("METRICS " + json.dumps(metrics, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
