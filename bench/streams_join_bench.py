"""Stream-stream join benchmark (issue 12): a windowed inner join on one flowlog broker.

    .venv/bin/python -m bench.streams_join_bench [--records N] [--keys K] [--span-minutes M]

One run, one flowlog broker (``bench.brokers``, the default flush policy unless ``--flush``,
``group.initial.rebalance.delay.ms=0``):

1. topics ``join-left`` and ``join-right`` (3 partitions each) are preloaded with N records
   each (``bench.streams_join_flowlog_app.make_records``: record i of each side has key
   ``u<i % K>``, left times rise evenly over M minutes ending about now, each right record
   5 s after its left partner; with the defaults a key comes back every 2 minutes, so
   record i meets exactly its partner i within the 1-minute window);
2. the flowlog_streams app (``bench.streams_join_flowlog_app app``: left.join(right,
   JoinWindows.of_time_difference_with_no_grace(1 min)), RocksDB window stores with
   changelogs, commit interval 1 s) runs in its own process, timed from process start until
   ``join-output`` holds N records (``bench.streams_bench.run_app``);
3. the output is read back: every value must be ``L<i>+R<i>`` for each i, once.

records/s = 2N input records (both sides) / seconds from the app's process start (start-up
included: the headline); "excl. start-up" runs from the first output seen to the last.
Prints the figures against the target (>= 25,000 records/s) and writes
``bench/results/streams-join-<stamp>.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from bench import brokers, run, streams_bench, streams_state_bench
from bench.streams_bench import _fmt, log
from bench.streams_join_flowlog_app import (
    STREAM_TABLE,
    expected_table_values,
    expected_values,
    make_records,
    make_table_records,
)
from flowlog.client import Admin, TopicPartition

LEFT_TOPIC = "join-left"
RIGHT_TOPIC = "join-right"
OUTPUT_TOPIC = "join-output"
TARGET_RPS = 25_000.0
# Stream-table: stream records per second (the table's rows are loaded in the same run).
TABLE_TARGET_RPS = 60_000.0
READ_TIMEOUT_S = 120.0


def read_values(bootstrap: str, topic: str, ends: dict[int, int]) -> list[bytes]:
    """Every value of ``topic`` up to ``ends`` (confluent-kafka, blocking)."""
    import confluent_kafka

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-join-read-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "fetch.queue.backoff.ms": 10,
    })
    try:
        wanted = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in wanted])
        values: list[bytes] = []
        reached: set[int] = set()
        deadline = time.perf_counter() + READ_TIMEOUT_S
        while len(reached) < len(wanted):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"reading {topic}: {len(values)} records after "
                                   f"{READ_TIMEOUT_S:.0f}s")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    continue
                values.append(msg.value() or b"")
                partition: int = msg.partition()  # type: ignore[assignment]
                offset: int = msg.offset()  # type: ignore[assignment]
                if offset + 1 >= wanted[partition]:
                    reached.add(partition)
        return values
    finally:
        consumer.close()


async def verify(admin: Admin, bootstrap: str, expected: set[bytes],
                 partitions: int) -> dict[str, Any]:
    specs: dict[TopicPartition, str | int] = {
        TopicPartition(OUTPUT_TOPIC, p): "latest" for p in range(partitions)}
    ends = {tp.partition: off for tp, (off, _) in (await admin.list_offsets(specs)).items()}
    values = await trio.to_thread.run_sync(read_values, bootstrap, OUTPUT_TOPIC, ends)
    found = set(values)
    return {"output_records": len(values), "distinct": len(found),
            "expected": len(expected), "missing": len(expected - found),
            "unexpected": len(found - expected), "exact": found == expected
            and len(values) == len(expected)}


async def broker_phase(bootstrap: str, broker: brokers.BrokerProcess, args: argparse.Namespace,
                       workdir: Path, out: dict[str, Any]) -> None:
    n, parts = args.records, args.partitions
    span_ms = args.span_minutes * 60_000
    # Ending about now: far older timestamps would meet the topics' time retention.
    base_ms = int(time.time() * 1000) - span_ms - 60_000
    async with Admin(bootstrap) as admin:
        await streams_bench.create_topics(admin, [LEFT_TOPIC, RIGHT_TOPIC, OUTPUT_TOPIC], parts)
        table = args.kind == STREAM_TABLE
        left, right = (
            make_table_records(n, args.keys, base_ms, span_ms) if table
            else make_records(n, args.keys, base_ms, span_ms)
        )
        out["input"] = {"kind": args.kind, "records_per_side": n, "keys": args.keys,
                        "span_ms": span_ms, "table_rows": len(right) if table else None}
        for topic, records in ((LEFT_TOPIC, left), (RIGHT_TOPIC, right)):
            out["input"][topic] = await streams_state_bench.load_input(
                admin, bootstrap, topic, records, parts)
        del left, right
        log(f"  input: {n:,} {'stream records' if table else 'records per side'}"
            f"{f', {args.keys:,} table rows' if table else ''}, keys u0..u{args.keys - 1}, times over "
            f"{args.span_minutes} min; preloaded in "
            f"{out['input'][LEFT_TOPIC]['seconds'] + out['input'][RIGHT_TOPIC]['seconds']:.1f}s")
        app_id = f"bench-join-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, "-m", "bench.streams_join_flowlog_app", "app",
                   "--bootstrap", bootstrap, "--left", LEFT_TOPIC, "--right", RIGHT_TOPIC,
                   "--output", OUTPUT_TOPIC, "--application-id", app_id,
                   "--state-dir", str(workdir / "join-state"),
                   "--commit-interval-ms", str(args.commit_interval_ms), "--kind", args.kind]
        if args.app_profile:
            command += ["--profile", args.app_profile]
        res = await streams_bench.run_app(
            "flowlog", command, run._child_env(), admin, broker, OUTPUT_TOPIC, parts,
            n if table else 2 * n, n, args.app_timeout, workdir)
        out["flowlog"] = res
        log(f"  flowlog  {streams_bench._summary(res)}")
        if "log_tail" in res:
            log(res["log_tail"])
        if "outputs" in res and broker.alive():
            try:
                expected = (expected_table_values(n, args.keys) if table
                            else expected_values(n))
                res["verify"] = await verify(admin, bootstrap, expected, parts)
            except Exception as exc:
                res["verify"] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  verify   {res['verify']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_join_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("stream-stream", STREAM_TABLE), default="stream-stream")
    parser.add_argument("--records", type=int, default=None,
                        help="per side (500,000); stream-table: stream records (1,000,000)")
    parser.add_argument("--keys", type=int, default=100_000,
                        help="distinct keys (100,000); stream-table: the table's rows")
    parser.add_argument("--span-minutes", type=int, default=10,
                        help="record times spread over this many minutes (10)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--commit-interval-ms", type=int, default=1000)
    parser.add_argument("--flush", metavar="POLICY", default="default",
                        help=f"flowlog broker flush policy: {brokers.FLUSH_HELP}")
    parser.add_argument("--group-delay-ms", type=int, default=0,
                        help="broker group.initial.rebalance.delay.ms (0; -1 = broker default)")
    parser.add_argument("--app-timeout", type=float, default=None,
                        help="seconds the app may take (default 60 + 2N/10,000)")
    parser.add_argument("--app-profile", metavar="FILE",
                        help="diagnostic: run the app under cProfile, stats to FILE")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the scratch dir (broker and app logs) and print its path")
    args = parser.parse_args(argv)
    if args.records is None:
        args.records = 1_000_000 if args.kind == STREAM_TABLE else 500_000
    if min(args.records, args.keys, args.span_minutes) < 1:
        parser.error("--records, --keys and --span-minutes must be positive")
    if args.app_timeout is None:
        args.app_timeout = 60 + 2 * args.records / 10_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    flush_desc, broker_config = streams_bench.broker_settings(args.flush, args.group_delay_ms)
    command = "python -m bench.streams_join_bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    log("stream-stream join benchmark (issue 12): windowed inner join, one flowlog broker")
    log(f"  command: {command.strip()}")
    log(f"  flowlog broker flush policy: {flush_desc}; broker config: {' '.join(broker_config)}")
    results: dict[str, Any] = {}
    streams_bench.with_one_broker(
        "streams-join", broker_config, args.keep_logs, results,
        lambda broker, workdir: broker_phase(broker.bootstrap, broker, args, workdir, results),
    )
    flow = results.get("flowlog") or {"error": results.get("broker_error", "not run")}
    rps = flow.get("records_per_s")
    target = TABLE_TARGET_RPS if args.kind == STREAM_TABLE else TARGET_RPS
    met = None if rps is None else rps >= target
    log("")
    if args.kind == STREAM_TABLE:
        log(f"== stream-table join: {args.records:,} stream records, {args.keys:,}-row table, "
            f"{args.partitions} partitions (records/s counts stream records; the table's "
            f"load is inside the time)")
    else:
        log(f"== stream-stream join: {args.records:,} records per side, 1-minute window, "
            f"{args.partitions} partitions (records/s counts both sides' input)")
    log(f"   command: {command.strip()}")
    log(f"   flowlog_streams records/s {_fmt(rps):>10} (excl. start-up "
        f"{_fmt(flow.get('records_per_s_excl_startup'))}); target >= {target:,.0f}: "
        f"{'n/a' if met is None else 'yes' if met else 'NO'}")
    if "error" in flow:
        log(f"   ! {flow['error']}")
    verdict = flow.get("verify", {})
    log(f"   output exact: {verdict.get('exact')}")
    elapsed = time.perf_counter() - started
    log(f"total time {elapsed:.0f}s")
    if not args.no_json:
        streams_bench.save_results(f"streams-{args.kind}-join", stamp, {
            "command": command.strip(), "flush_policy": flush_desc,
            "broker_config": broker_config, "params": vars(args), "results": results,
            "versions": {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "git_rev": run._versions(None).get("git_rev")},
            "target": {"records_per_s": f">= {target}", "met": met},
            "elapsed_s": round(elapsed, 1)})
    return 0 if rps is not None and verdict.get("exact") else 1


if __name__ == "__main__":
    sys.exit(main())
