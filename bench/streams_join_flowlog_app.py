"""The join benchmarks' app: a stream-stream windowed or a stream-table inner join.

    python -m bench.streams_join_flowlog_app app --bootstrap 127.0.0.1:PORT --left join-left \
        --right join-right --output join-output --application-id bench-join-<unique> \
        --state-dir DIR [--commit-interval-ms 1000] [--kind stream-stream|stream-table]
    python -m bench.streams_join_flowlog_app driver --records 100000 [--profile FILE]

stream(left, str keys, bytes values).join(stream(right), left + b"+" + right,
JoinWindows.of_time_difference_with_no_grace(60 s)) -> to(output): two RocksDB window
stores with changelogs; ``--kind stream-table`` joins with ``table(right)`` instead (a
RocksDB store whose changelog is its topic). ``app`` runs until SIGTERM/SIGINT (what ``bench.streams_join_bench``
measures), then prints ``METRICS {json}``. ``driver`` pipes the benchmark's records through
the same topology with ``TopologyTestDriver`` (RocksDB stores, no broker) and prints
``RESULT {json}``; ``--profile FILE`` writes cProfile stats of that run.
flowlog_streams is imported lazily, so ``--help`` works without it.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

from bench.loopback import is_loopback
from bench.streams_state_flowlog_app import _configure_logging

WINDOW_MS = 60_000  # records join when their times are at most a minute apart
RIGHT_DELAY_MS = 5_000  # each right record comes 5 s after its left partner


def joiner(left: bytes, right: bytes) -> bytes:
    return left + b"+" + right


STREAM_STREAM = "stream-stream"
# The right side is a table (builder.table: a RocksDB store whose changelog is its topic).
STREAM_TABLE = "stream-table"
KINDS = (STREAM_STREAM, STREAM_TABLE)


def build_topology(left: str, right: str, output: str, kind: str = STREAM_STREAM) -> Any:
    from flowlog_streams import JoinWindows, Serdes, StreamsBuilder

    builder = StreamsBuilder()
    stream = builder.stream(left, key_serde=Serdes.str(), value_serde=Serdes.bytes())
    if kind == STREAM_TABLE:
        table = builder.table(right, key_serde=Serdes.str(), value_serde=Serdes.bytes())
        stream.join(table, joiner).to(output, value_serde=Serdes.bytes())
        return builder.build()
    clicks = builder.stream(right, key_serde=Serdes.str(), value_serde=Serdes.bytes())
    stream.join(clicks, joiner, JoinWindows.of_time_difference_with_no_grace(WINDOW_MS)) \
        .to(output, value_serde=Serdes.bytes())
    return builder.build()


def make_table_records(n: int, rows: int, base_ms: int, span_ms: int,
                       ) -> tuple[list[tuple[bytes, bytes, int]], list[tuple[bytes, bytes, int]]]:
    """(stream, table): `rows` table rows ``u<k> -> T<k>`` stamped before every stream record,
    and n stream records ``u<i % rows> -> S<i>`` over ``span_ms``: each joins its row."""
    table = [(b"u%d" % k, b"T%06d" % k, base_ms) for k in range(rows)]
    stream = [(b"u%d" % (i % rows), b"S%08d" % i, base_ms + 1 + i * span_ms // n)
              for i in range(n)]
    return stream, table


def expected_table_values(n: int, rows: int) -> set[bytes]:
    return {b"S%08d+T%06d" % (i, i % rows) for i in range(n)}


def make_records(n: int, keys: int, base_ms: int, span_ms: int,
                 ) -> tuple[list[tuple[bytes, bytes, int]], list[tuple[bytes, bytes, int]]]:
    """(left, right) records: record i of each side has key ``u<i % keys>``; left times
    rise evenly over ``span_ms``, each right record is RIGHT_DELAY_MS after its left one.

    A key comes back every keys * span / n ms; when that is more than 2 minutes, record i
    joins exactly its partner i, so the join writes n records (the harness checks it).
    """
    left, right = [], []
    names = [f"u{k}".encode() for k in range(min(keys, n))]
    for i in range(n):
        key = names[i % keys]
        ts = base_ms + i * span_ms // n
        left.append((key, b"L%08d" % i, ts))
        right.append((key, b"R%08d" % i, ts + RIGHT_DELAY_MS))
    return left, right


def expected_values(n: int) -> set[bytes]:
    return {b"L%08d+R%08d" % (i, i) for i in range(n)}


def run_app(args: argparse.Namespace) -> int:
    if not is_loopback(args.bootstrap):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2
    _configure_logging()
    import trio

    from flowlog_streams import StreamsApp

    app = StreamsApp(
        build_topology(args.left, args.right, args.output, args.kind),
        application_id=args.application_id, bootstrap=args.bootstrap,
        state_dir=args.state_dir, commit_interval_ms=args.commit_interval_ms,
    )
    print("flowlog_streams join app running", flush=True)
    if args.profile:
        import cProfile

        cProfile.runctx("trio.run(app.run)", globals(), {"trio": trio, "app": app},
                        args.profile)
    else:
        trio.run(app.run)
    try:
        metrics = app.metrics()
    except Exception as exc:  # the figures are a diagnostic, never the result
        metrics = {"error": repr(exc)}
    print("METRICS " + json.dumps(metrics, default=str), flush=True)
    return 0


def run_driver(args: argparse.Namespace) -> int:
    """Both sides interleaved in time order through TopologyTestDriver (RocksDB stores)."""
    from flowlog_streams import Serdes
    from flowlog_streams.testing import TopologyTestDriver

    left, right = make_records(args.records, args.keys, 0, args.span_minutes * 60_000)
    # In time order, as a task takes them (a left record is 5 s before its partner).
    records = sorted([("L", *r) for r in left] + [("R", *r) for r in right],
                     key=lambda r: r[3])
    del left, right
    topology = build_topology("left", "right", "out")
    with TopologyTestDriver(topology) as driver:
        raw = Serdes.bytes()
        inputs = {"L": driver.create_input_topic("left", raw, raw),
                  "R": driver.create_input_topic("right", raw, raw)}
        out = driver.create_output_topic("out", raw, raw)
        gc.collect()
        gc.freeze()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        for side, key, value, ts in records:
            inputs[side].pipe_input(key, value, timestamp=ts)
        seconds = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        outputs = out.get_queue_size()
    doc = {"records": len(records), "seconds": round(seconds, 3),
           "records_per_s": round(len(records) / seconds, 1), "outputs": outputs}
    print("RESULT " + json.dumps(doc), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_join_flowlog_app",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    app = sub.add_parser("app", help="run against a broker until stopped")
    app.add_argument("--bootstrap", required=True)
    app.add_argument("--left", required=True)
    app.add_argument("--right", required=True)
    app.add_argument("--output", required=True)
    app.add_argument("--application-id", required=True)
    app.add_argument("--state-dir", required=True)
    app.add_argument("--commit-interval-ms", type=int, default=1000)
    app.add_argument("--kind", choices=KINDS, default=STREAM_STREAM)
    app.add_argument("--profile", metavar="FILE", help="write cProfile stats here on exit")
    driver = sub.add_parser("driver", help="the same topology through TopologyTestDriver")
    driver.add_argument("--records", type=int, default=100_000, help="per side")
    driver.add_argument("--keys", type=int, default=20_000)
    driver.add_argument("--span-minutes", type=int, default=10)
    driver.add_argument("--profile", metavar="FILE", help="write cProfile stats here")
    args = parser.parse_args(argv)
    return run_app(args) if args.mode == "app" else run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
