"""The end-to-end test's streams app, run as its own OS process (tests/streams/app_process.py).

    python -m tests.streams.e2e_app --bootstrap B --application-id A --state-dir D
        [--input e2e-in] [--output e2e-out] [--dlq e2e-dlq]

Topology "repartition" (default): input (key str, value JSON {"id", "user"}) ->
select_key(user) -> repartition "by-user" -> map_values(+ "seen": True) ->
output; values that are not JSON go to the dead-letter topic. Sub-topology 0
reads the input, sub-topology 1 the repartition topic. Topology
"windowed-count": one-minute counts per key in the window store "counts".

Output on stdout, one line each, flushed at once:
- the runtime's log lines (INFO), e.g. "... flowlog_streams.runtime INFO task 0_3 started on e2e-in-3"
- "STATE <old> -> <new>" on every state change, and "RUNNING" on entering RUNNING
- "TASKS 0_0,1_3" whenever the tasks in `app.metrics()` change (checked every 50 ms)
- "STANDBYS {task: {changelog-partition: position}}" whenever standby positions change
- "METRICS {json}" and "EXIT <state>" when `run()` has returned (after SIGTERM/SIGINT)
An exception from `run()` is not caught: it is printed and the process exits 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import trio

from flowlog_streams import DeadLetterQueue, Serdes, State, StreamsApp, StreamsBuilder
from flowlog_streams.materialized import Materialized
from flowlog_streams.windows import TimeWindows

# How often the tasks in app.metrics() are compared with the last ones printed.
TASKS_CHECK_S = 0.05


def say(line: str) -> None:
    print(line, flush=True)


def build_app(args: argparse.Namespace) -> StreamsApp:
    builder = StreamsBuilder()
    if args.topology == "windowed-count":
        # One-minute counts per key in a RocksDB window store "counts", changelogged.
        (builder.stream(args.input, key_serde=Serdes.str())
            .group_by_key()
            .windowed_by(TimeWindows.of_size_with_no_grace(60_000))
            .count(Materialized.as_("counts"))
            .to_stream()
            .to(args.output, key_serde=Serdes.windowed(Serdes.str()), value_serde=Serdes.long()))
    elif args.topology == "enrich":
        # Orders keyed by customer, joined with the customers table (its topic = args.table).
        customers = builder.table(args.table, key_serde=Serdes.str(), value_serde=Serdes.str(),
                                  materialized=Materialized.as_("customers"))
        (builder.stream(args.input, key_serde=Serdes.str(), value_serde=Serdes.str())
            .left_join(customers, lambda order, region: f"{order}@{region}")
            .to(args.output, key_serde=Serdes.str(), value_serde=Serdes.str()))
    elif args.topology == "table-join":
        # Two tables joined on their key; the output's last value per key is the join.
        left = builder.table(args.input, key_serde=Serdes.str(), value_serde=Serdes.str())
        right = builder.table(args.table, key_serde=Serdes.str(), value_serde=Serdes.str())
        (left.join(right, lambda a, b: f"{a}+{b}").to_stream()
            .to(args.output, key_serde=Serdes.str(), value_serde=Serdes.str()))
    elif args.topology == "global-enrich":
        regions = builder.global_table(args.table, key_serde=Serdes.str(), value_serde=Serdes.str())
        (builder.stream(args.input, key_serde=Serdes.str(), value_serde=Serdes.str())
            .join(regions, lambda key, value: value, lambda value, region: f"{value}@{region}")
            .to(args.output, key_serde=Serdes.str(), value_serde=Serdes.str()))
    else:
        (builder.stream(args.input, key_serde=Serdes.str(), value_serde=Serdes.json())
            .select_key(lambda k, v: v["user"])
            .repartition(name="by-user", key_serde=Serdes.str(), value_serde=Serdes.json())
            .map_values(lambda v: {"id": v["id"], "user": v["user"], "seen": True})
            .to(args.output, key_serde=Serdes.str(), value_serde=Serdes.json()))

    def on_state(new: State, old: State) -> None:
        say(f"STATE {old.value} -> {new.value}")
        if new is State.RUNNING:
            say("RUNNING")

    return StreamsApp(
        builder.build(),
        application_id=args.application_id,
        bootstrap=args.bootstrap,
        state_dir=args.state_dir,
        state_listener=on_state,
        commit_interval_ms=args.commit_interval_ms,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        deserialization_exception_handler=DeadLetterQueue(args.dlq),
        num_standby_replicas=args.num_standby_replicas,
        acceptable_recovery_lag=args.acceptable_recovery_lag,
        max_warmup_replicas=args.max_warmup_replicas,
        probing_rebalance_interval_ms=args.probing_rebalance_interval_ms,
    )


async def report_tasks(app: StreamsApp) -> None:
    last: list[str] | None = None
    last_standbys: Any = None
    while True:
        metrics = app.metrics()
        tasks = sorted(metrics["tasks"])
        if tasks != last:
            say("TASKS " + ",".join(tasks))
            last = tasks
        standbys = metrics.get("standbys")
        if standbys and standbys != last_standbys:
            say("STANDBYS " + json.dumps(standbys, sort_keys=True))
            last_standbys = standbys
        await trio.sleep(TASKS_CHECK_S)


async def main(args: argparse.Namespace) -> None:
    app = build_app(args)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(report_tasks, app)
        await app.run()
        nursery.cancel_scope.cancel()
    metrics: dict[str, Any] = app.metrics()
    say("METRICS " + json.dumps(metrics, sort_keys=True, default=str))
    say(f"EXIT {app.state.value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--input", default="e2e-in")
    parser.add_argument("--output", default="e2e-out")
    parser.add_argument("--dlq", default="e2e-dlq")
    parser.add_argument("--commit-interval-ms", type=int, default=100)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--heartbeat-interval-ms", type=int, default=500)
    parser.add_argument("--num-standby-replicas", type=int, default=0)
    parser.add_argument("--acceptable-recovery-lag", type=int, default=10_000)
    parser.add_argument("--max-warmup-replicas", type=int, default=2)
    parser.add_argument("--probing-rebalance-interval-ms", type=int, default=600_000)
    parser.add_argument("--table", default="e2e-table")
    parser.add_argument("--topology", choices=("repartition", "windowed-count", "enrich",
                                               "table-join", "global-enrich"),
                        default="repartition")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    trio.run(main, arguments)
