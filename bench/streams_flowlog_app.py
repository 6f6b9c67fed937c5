"""The streams benchmark's pipeline written with flowlog_streams, and its test-driver bench.

    python -m bench.streams_flowlog_app app --bootstrap 127.0.0.1:PORT --input bench-input \
        --output bench-output-flowlog --application-id bench-flowlog-<unique> --state-dir DIR
    python -m bench.streams_flowlog_app driver --records 500000

``app`` runs the topology against a broker until SIGTERM/SIGINT (what the harness
``bench.streams_bench`` measures). ``driver`` pipes N pre-built records through the same
topology with ``TopologyTestDriver`` (no broker) and prints ``RESULT {json}``.

stream(str keys, JSON values) -> filter(page != "/health") -> map_values(page) -> to(str).
flowlog_streams is imported lazily, so ``--help`` works before it exists.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from typing import Any

from bench import streams_data
from bench.loopback import is_loopback


def build_topology(input_topic: str, output_topic: str) -> Any:
    from flowlog_streams import Serdes, StreamsBuilder

    builder = StreamsBuilder()
    builder.stream(input_topic, key_serde=Serdes.str(), value_serde=Serdes.json()) \
        .filter(lambda k, v: v["page"] != "/health") \
        .map_values(lambda v: v["page"]) \
        .to(output_topic, value_serde=Serdes.str())
    return builder.build()




def cmd_app(args: argparse.Namespace) -> int:
    if not is_loopback(args.bootstrap):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2
    import trio

    from flowlog_streams import StreamsApp

    app = StreamsApp(
        build_topology(args.input, args.output),
        application_id=args.application_id,
        bootstrap=args.bootstrap,
        state_dir=args.state_dir,
        commit_interval_ms=args.commit_interval_ms,
    )
    print("flowlog_streams app running", flush=True)
    trio.run(app.run)
    return 0


def _count_outputs(out: Any) -> int:
    """How many records the driver's output topic holds, whatever its reader is called."""
    for name in ("get_queue_size", "queue_size"):
        attr = getattr(out, name, None)
        if attr is not None:
            return int(attr() if callable(attr) else attr)
    for name in ("read_values_to_list", "read_key_values_to_list", "read_records_to_list"):
        reader = getattr(out, name, None)
        if reader is not None:
            return len(reader())
    raise RuntimeError(f"cannot read {type(out).__name__}: no known reader method")


def cmd_driver(args: argparse.Namespace) -> int:
    from flowlog_streams import Serdes
    from flowlog_streams.testing import TopologyTestDriver

    values = streams_data.make_values(args.records)
    expected = streams_data.expected_outputs(values)
    topology = build_topology("bench-input", "bench-output-flowlog")
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    with TopologyTestDriver(topology, start_time_ms=0) as driver:
        inp = driver.create_input_topic("bench-input", Serdes.str(), Serdes.json())
        out = driver.create_output_topic("bench-output-flowlog", Serdes.str(), Serdes.str())
        gc.collect()
        # The pre-built inputs are not the driver's work: keep full collections from
        # walking them again and again (the outputs the driver keeps are still collected).
        gc.freeze()
        pipe_input = inp.pipe_input
        t0 = time.perf_counter()
        for key, value, ts in values:
            pipe_input(key, value, timestamp=ts)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        produced = _count_outputs(out)
        read_s = time.perf_counter() - t1
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "records": len(values),
        "seconds": round(seconds, 4),
        "records_per_s": round(len(values) / seconds, 1) if seconds > 0 else None,
        "outputs": produced,
        "expected_outputs": expected,
        "read_outputs_s": round(read_s, 4),
        "cpu_s": round(
            usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime, 3
        ),
    }
    if produced != expected:
        result["error"] = f"driver output held {produced} records, expected {expected}"
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if "error" not in result else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_flowlog_app")
    sub = parser.add_subparsers(dest="cmd", required=True)
    app = sub.add_parser("app", help="run the topology against a broker until SIGTERM")
    app.add_argument("--bootstrap", required=True)
    app.add_argument("--input", default="bench-input")
    app.add_argument("--output", default="bench-output-flowlog")
    app.add_argument("--application-id", required=True)
    app.add_argument("--state-dir", required=True)
    app.add_argument("--commit-interval-ms", type=int, default=1000)
    drv = sub.add_parser("driver", help="time TopologyTestDriver over N records")
    drv.add_argument("--records", type=int, default=500_000)
    args = parser.parse_args(argv)
    if args.cmd == "app":
        return cmd_app(args)
    return cmd_driver(args)


if __name__ == "__main__":
    sys.exit(main())
