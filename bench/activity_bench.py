"""Activity-tracking benchmark (issue 13): the app's four outputs against Quix Streams.

    .venv/bin/python -m bench.activity_bench [--events N] [--rate R] [--no-quix]

One run, one flowlog broker (``bench.brokers``, the default flush policy unless
``--flush``, ``group.initial.rebalance.delay.ms=0``):

1. ``page-views`` (3 partitions) is preloaded with N page views from the app's own seeded
   generator (``apps.activity_tracking.generator``; event time R views/s, so the whole
   input spans N/R s), and ``users`` with its users table. The density is what keeps
   every view on time: a preloaded backlog is read partition by partition a chunk at a
   time, so the tasks feeding a repartition topic run apart by thousands of records; at
   2,000 views/s that is more than the 5 s grace and a third of the views arrive late
   at the per-page and per-region counts (dropped, in Quix Streams too); at 20,000/s the
   skew stays under a second;
2. ``python -m apps.activity_tracking run`` (the app as shipped: all four outputs) runs as
   one instance, then as two (a fresh application id), each timed from the processes'
   start until the group has committed the whole input and every repartition topic up to
   its end (the app flushes its outputs before it commits, so every output is written by
   then);
3. Quix Streams runs the same four outputs (``bench/activity_quix_app.py``, its own venv)
   on the same broker, timed the same way;
4. page and region counts per minute (last value per key) are checked against counts
   computed here from the generated views.

events/s = N / seconds from process start (start-up included: the headline); "from first
output" runs from the first committed offset to the last. Writes
``bench/results/activity-<stamp>.json``; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import trio

from bench import brokers, run, streams_bench, streams_state_bench
from bench.streams_bench import _fmt, log
from flowlog.client import Admin, NewTopic
from flowlog.client.errors import KafkaError

TARGET_EVENTS_PER_S = 5_000.0
PARTITIONS = 3
MINUTE_MS = 60_000
INPUT = "page-views"
OUTPUTS = ("page-views-per-minute", "region-views-per-minute", "user-sessions",
           "top-pages-per-minute")
QUIX_SUFFIX = "-quix"


def generated(events: int, rate: float, seed: int, start_ms: int,
              users: int) -> tuple[list[Any], list[Any]]:
    """(users table, page views) from the app's generator, as (key, value, ts) bytes."""
    from apps.activity_tracking.generator import ActivityGenerator
    from apps.shared.cli import GeneratorOptions

    generator = ActivityGenerator(GeneratorOptions(seed, events, rate, start_ms), users)

    def raw(records: Any) -> list[tuple[bytes, bytes | None, int]]:
        return [(r.key.encode(), r.value_bytes(), r.timestamp_ms) for r in records]

    return raw(generator.table_records()), raw(generator.views())


def expected_counts(users: list[Any], views: list[Any]) -> dict[str, Counter[str]]:
    """What page-views-per-minute and region-views-per-minute must end with."""
    region_of = {key.decode(): orjson.loads(value)["region"] for key, value, _ in users}
    pages: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    for key, value, ts in views:
        start = ts // MINUTE_MS * MINUTE_MS
        pages[f"{orjson.loads(value)['page']}@{start}"] += 1
        regions[f"{region_of.get(key.decode(), 'unknown')}@{start}"] += 1
    return {OUTPUTS[0]: pages, OUTPUTS[1]: regions}


def read_last_counts(bootstrap: str, topic: str) -> dict[str, int]:
    """The last count per key of a windowed-count output (confluent-kafka, blocking)."""
    import confluent_kafka

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-activity-read-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
    })
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                                  timeout=30)[1] for p in metadata.partitions}
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in ends if ends[p]])
        last: dict[str, int] = {}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.perf_counter() + 120
        while len(done) < len(ends) and time.perf_counter() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    continue
                key = (msg.key() or b"").decode()
                value = msg.value()
                if value is None:
                    last.pop(key, None)
                else:
                    last[key] = orjson.loads(value)["count"]
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return last
    finally:
        consumer.close()


async def verify(bootstrap: str, suffix: str, expected: dict[str, Counter[str]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for topic, want in expected.items():
        found = await trio.to_thread.run_sync(read_last_counts, bootstrap, topic + suffix)
        wrong = sum(1 for k, n in want.items() if found.get(k) != n)
        result[topic] = {"keys": len(want), "wrong_or_missing": wrong,
                         "extra": len(set(found) - set(want)),
                         "counted": sum(found.values()), "views": sum(want.values())}
    result["exact"] = all(v["wrong_or_missing"] == 0 and v["extra"] == 0
                          for v in result.values() if isinstance(v, dict))
    return result


async def caught_up(admin: Admin, group: str, total: int) -> int:
    """Views the group has committed, held below `total` while any topic it reads (its
    repartition topics too) still has records past its committed offset."""
    try:
        committed = await admin.list_group_offsets(group)
    except KafkaError:
        return 0
    done = sum(om.offset for tp, om in committed.items() if tp.topic == INPUT)
    if done < total:
        return done
    ends = await admin.list_offsets(dict.fromkeys(committed, "latest"))
    behind = any(committed[tp].offset < ends[tp][0] for tp in committed)
    return total - 1 if behind else total


async def timed_app(name: str, commands: list[list[str]], env: dict[str, str], admin: Admin,
                    broker: brokers.BrokerProcess, group: str, total: int,
                    args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    timed = await streams_bench.timed_run(
        commands[0], env, workdir / f"{name}.log", broker,
        lambda: caught_up(admin, group, total), total, "views committed (and repartitions)",
        args.app_timeout, more=commands[1:],
    )
    res: dict[str, Any] = {"command": " ".join(commands[0]), "instances": len(commands),
                           "committed": timed.value, **streams_bench.timing_fields(timed)}
    if timed.error is not None:
        res["log_tail"] = brokers._log_tail(workdir / f"{name}.log", 15)
        return res
    res["events_per_s"] = round(total / (timed.ended - timed.started), 1)
    if timed.first_seen is not None and timed.ended - timed.first_seen > 0.5:
        res["events_per_s_from_first_output"] = round(
            (total - timed.first_value) / (timed.ended - timed.first_seen), 1)
    return res


async def broker_phase(bootstrap: str, broker: brokers.BrokerProcess, args: argparse.Namespace,
                       workdir: Path, out: dict[str, Any]) -> None:
    start_ms = int(time.time() * 1000) - int(args.events / args.rate * 1000) - 120_000
    users, views = generated(args.events, args.rate, args.seed, start_ms, args.users)
    expected = expected_counts(users, views)
    async with Admin(bootstrap) as admin:
        topics = [INPUT, "users", *OUTPUTS, *(t + QUIX_SUFFIX for t in OUTPUTS)]
        await admin.create_topics([
            NewTopic(t, PARTITIONS, configs={"cleanup.policy": "compact"} if t == "users" else {})
            for t in topics
        ])
        out["input"] = {"views": len(views), "users": len(users), "rate_per_s": args.rate,
                        "span_s": round((views[-1][2] - views[0][2]) / 1000, 1)}
        out["input"]["users_load"] = await streams_state_bench.load_input(
            admin, bootstrap, "users", users, PARTITIONS)
        out["input"]["views_load"] = await streams_state_bench.load_input(
            admin, bootstrap, INPUT, views, PARTITIONS)
        log(f"  input: {len(views):,} page views over {out['input']['span_s']} s of event time, "
            f"{len(users):,} users; preloaded in {out['input']['views_load']['seconds']}s")
        env = run._child_env()
        runs: list[tuple[str, int]] = [("flowlog-1", 1)] + ([] if args.profile else [("flowlog-2", 2)])
        for name, instances in runs:
            app_id = f"bench-activity-{name}-{uuid.uuid4().hex[:6]}"
            # Each instance its own state dir, as separate machines would have.
            commands = [[sys.executable, "-m", "apps.activity_tracking", "run", "--bootstrap",
                         bootstrap, "--application-id", app_id, "--state-dir",
                         str(workdir / f"state-{name}-{n}")] for n in range(instances)]
            if args.profile:  # diagnostic: the single instance under cProfile
                commands[0][1:1] = ["-m", "cProfile", "-o", args.profile]
            res = await timed_app(name, commands, env, admin, broker, app_id, len(views), args,
                                  workdir)
            if "error" not in res:
                res["verify"] = await verify(bootstrap, "", expected)
            out[name] = res
            log(f"  {name:10} {_summary(res)}")
        if args.no_quix or args.profile:
            return
        python, why = streams_bench.quix_python(args.quix_python, not args.no_install)
        if python is None:
            out["quix"] = {"error": why}
            log(f"  quix       skipped: {why}")
            return
        group = f"bench-activity-quix-{uuid.uuid4().hex[:6]}"
        command = [str(python), "bench/activity_quix_app.py", "--bootstrap", bootstrap,
                   "--group", group, "--state-dir", str(workdir / "state-quix"),
                   f"--output-suffix={QUIX_SUFFIX}"]
        quix_env = {**os.environ, "PYTHONPATH": str(run.REPO_ROOT / "bench")}
        res = await timed_app("quix", [command], quix_env, admin, broker, group, len(views),
                              args, workdir)
        if "error" not in res:
            res["verify"] = await verify(bootstrap, QUIX_SUFFIX, expected)
        out["quix"] = res
        log(f"  {'quix':10} {_summary(res)}")


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return f"ERROR {res['error']}\n{res.get('log_tail', '')}"
    verdict = res.get("verify", {})
    return (f"{_fmt(res.get('events_per_s'))} events/s ({_fmt(res.get('events_per_s_from_first_output'))}"
            f"/s from the first commit), wall {res['wall_s']}s, app CPU {res.get('app_cpu_s')}s, "
            f"counts exact: {verdict.get('exact')}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.activity_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=20_000.0,
                        help="page views per second of event time (20,000; see the docstring)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=5_000,
                        help="distinct users (5,000: a few sessions each at the default rate)")
    parser.add_argument("--flush", metavar="POLICY", default="default",
                        help=f"flowlog broker flush policy: {brokers.FLUSH_HELP}")
    parser.add_argument("--no-quix", action="store_true", help="skip the Quix Streams run")
    parser.add_argument("--quix-python", help="python of a venv with quixstreams")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create .venv-quix when it is missing")
    parser.add_argument("--app-timeout", type=float, default=None,
                        help="seconds an app may take (default 120 + N/1,000)")
    parser.add_argument("--profile", metavar="FILE",
                        help="diagnostic: one instance only, under cProfile (stats to FILE)")
    parser.add_argument("--no-json", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    if args.events < 1 or args.rate <= 0:
        parser.error("--events and --rate must be positive")
    if args.app_timeout is None:
        args.app_timeout = 120 + args.events / 1_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    flush_desc, broker_config = streams_bench.broker_settings(args.flush, 0)
    command = "python -m bench.activity_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    log("activity-tracking benchmark (issue 13): four outputs, flowlog_streams vs Quix Streams")
    log(f"  command: {command.strip()}")
    log(f"  flowlog broker flush policy: {flush_desc}")
    results: dict[str, Any] = {}
    streams_bench.with_one_broker(
        "activity", broker_config, args.keep_logs, results,
        lambda broker, workdir: broker_phase(broker.bootstrap, broker, args, workdir, results),
    )
    one = results.get("flowlog-1", {}).get("events_per_s")
    two = results.get("flowlog-2", {}).get("events_per_s")
    quix = results.get("quix", {}).get("events_per_s")
    log("")
    log(f"== activity tracking, {args.events:,} page views, {PARTITIONS} partitions, all four outputs")
    log(f"   flowlog_streams, 1 instance  {_fmt(one):>10} events/s; target >= "
        f"{TARGET_EVENTS_PER_S:,.0f}: {'n/a' if one is None else 'yes' if one >= TARGET_EVENTS_PER_S else 'NO'}")
    log(f"   flowlog_streams, 2 instances {_fmt(two):>10} events/s")
    log(f"   Quix Streams, 1 instance     {_fmt(quix):>10} events/s")
    if one and quix:
        log(f"   ratio flowlog (1) / Quix: {one / quix:.2f}x")
    elapsed = time.perf_counter() - started
    if not args.no_json:
        streams_bench.save_results("activity", stamp, {
            "command": command.strip(), "flush_policy": flush_desc,
            "params": vars(args), "results": results,
            "versions": {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "git_rev": run._versions(None).get("git_rev")},
            "elapsed_s": round(elapsed, 1)})
    ok = one is not None and results.get("flowlog-1", {}).get("verify", {}).get("exact")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
