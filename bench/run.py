"""``make bench``: the same confluent-kafka load against flowlog and against Tansu.

Usage: ``python -m bench.run [--only flowlog|tansu] [--bootstrap HOST:PORT] [--flush POLICY]
[--flowlog-config KEY=VALUE ...] [--scale F] [--skip-storage]``. See bench/README.md.

Every broker is a subprocess bound to 127.0.0.1; every load is a subprocess
(``bench.client_load``) bounded in count and wall time. Results go to the terminal as one
table per scenario (flowlog, Tansu, flowlog/Tansu) and to ``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import brokers, tansu

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
BROKER_NAMES = ("flowlog", "tansu")
# Seconds a load subprocess may overrun its own cap before the harness kills it.
SUBPROCESS_GRACE_S = 30.0
# A throughput run (produce and its read-back) shorter than this is repeated, up to
# MAX_REPEATS times, and the median run is reported.
REPEAT_BELOW_S = 2.0
MAX_REPEATS = 3
# A pause this long between two fetched batches of a read-back is called out under the table.
STALL_NOTE_S = 0.3


@dataclass(frozen=True)
class Params:
    """Load parameters; identical for every broker in a run."""

    partitions: int = 3
    small_size: int = 100
    small_count: int = 500_000
    large_size: int = 1024
    large_count: int = 100_000
    produce_cap_s: float = 20.0
    consume_cap_s: float = 20.0
    latency_rate: float = 1000.0
    latency_duration_s: float = 5.0
    latency_size: int = 100

    def scaled(self, factor: float) -> Params:
        return Params(
            partitions=self.partitions,
            small_size=self.small_size,
            small_count=max(1, int(self.small_count * factor)),
            large_size=self.large_size,
            large_count=max(1, int(self.large_count * factor)),
            produce_cap_s=self.produce_cap_s,
            consume_cap_s=self.consume_cap_s,
            latency_rate=self.latency_rate,
            latency_duration_s=max(1.0, self.latency_duration_s * min(1.0, factor)),
            latency_size=self.latency_size,
        )


# (scenario key, table title, [(metric key, unit label, higher_is_better)])
METRICS: list[tuple[str, str, list[tuple[str, str, bool]]]] = [
    (
        "produce_small",
        "produce {small} B values",
        [("msgs_per_s", "msg/s", True), ("mb_per_s", "MB/s", True)],
    ),
    (
        "consume_small",
        "consume {small} B values",
        [("msgs_per_s", "msg/s", True), ("mb_per_s", "MB/s", True)],
    ),
    (
        "produce_large",
        "produce {large} B values",
        [("msgs_per_s", "msg/s", True), ("mb_per_s", "MB/s", True)],
    ),
    (
        "consume_large",
        "consume {large} B values",
        [("msgs_per_s", "msg/s", True), ("mb_per_s", "MB/s", True)],
    ),
    (
        "latency",
        "end-to-end latency at {rate:.0f} msg/s",
        [("p50_ms", "p50 ms", False), ("p99_ms", "p99 ms", False)],
    ),
]


def log(line: str = "") -> None:
    print(line, flush=True)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_load(args: list[str], cap_s: float) -> dict[str, Any]:
    """Run one ``bench.client_load`` subprocess and return its RESULT (or an error)."""
    cmd = [sys.executable, "-m", "bench.client_load", *args]
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=cap_s + SUBPROCESS_GRACE_S,
            cwd=REPO_ROOT,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"load process overran its cap ({cap_s:.0f}s + grace) and was killed"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-3:]
    return {"error": f"exit {out.returncode}: " + " | ".join(tail)}


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key`` among the successful ones (or the last failure)."""
    ok = [r for r in runs if "error" not in r and isinstance(r.get(key), int | float)]
    if not ok:
        return runs[-1]
    chosen = dict(sorted(ok, key=lambda r: float(r[key]))[(len(ok) - 1) // 2])
    chosen["runs"] = len(runs)
    chosen["all_runs_" + key] = [r.get(key) for r in runs]
    return chosen


def run_suite(
    name: str, bootstrap: str, proc: brokers.BrokerProcess | None, p: Params, run_id: str
) -> dict[str, Any]:
    """All scenarios against one broker, in order; a failed step is recorded, not raised."""
    results: dict[str, Any] = {}
    topics = {
        (kind, rep): f"bench-{run_id}-{kind}-{rep}"
        for kind in ("small", "large")
        for rep in range(MAX_REPEATS)
    }
    t_lat = f"bench-{run_id}-latency"
    boot = ["--bootstrap", bootstrap]

    def step(label: str, args: list[str], cap: float) -> dict[str, Any]:
        if proc is not None and not proc.alive():
            res: dict[str, Any] = {"error": "broker process is no longer running"}
        else:
            cpu0 = proc.cpu_seconds() if proc else None
            t0 = time.perf_counter()
            res = run_load(args, cap)
            res["wall_s"] = round(time.perf_counter() - t0, 2)
            cpu1 = proc.cpu_seconds() if proc else None
            if cpu0 is not None and cpu1 is not None:
                res["broker_cpu_s"] = round(cpu1 - cpu0, 3)
            if proc is not None:
                res["broker_rss_mib"] = proc.rss_mib()
        log(f"  {name:8s} {label:30s} {_summary(res)}")
        return res

    all_topics = ",".join([*topics.values(), t_lat])
    setup_args = ["setup", *boot, "--topics", all_topics, "--partitions", str(p.partitions)]
    results["setup"] = step("create topics", setup_args, 30.0)
    if "error" in results["setup"]:
        return results
    for kind, size, count in (
        ("small", p.small_size, p.small_count),
        ("large", p.large_size, p.large_count),
    ):
        produced: list[dict[str, Any]] = []
        consumed: list[dict[str, Any]] = []
        for rep in range(MAX_REPEATS):
            topic = topics[(kind, rep)]
            prod = step(
                f"produce {count} x {size} B #{rep + 1}",
                ["produce", *boot, "--topic", topic, "--count", str(count), "--size", str(size)]
                + ["--time-cap", str(p.produce_cap_s)],
                p.produce_cap_s,
            )
            produced.append(prod)
            delivered = int(prod.get("messages", 0))
            if delivered <= 0:
                consumed.append({"error": "nothing was produced to read back"})
                break
            cons = step(
                f"consume {delivered} x {size} B #{rep + 1}",
                ["consume", *boot, "--topic", topic, "--count", str(delivered)]
                + ["--time-cap", str(p.consume_cap_s)],
                p.consume_cap_s,
            )
            consumed.append(cons)
            # Short runs are noisy: repeat (same rule for every broker) while both halves
            # finished quickly, and report the median run.
            quick = all(
                "error" not in r and float(r.get("seconds", 1e9)) < REPEAT_BELOW_S
                for r in (prod, cons)
            )
            if not quick:
                break
        results[f"produce_{kind}"] = _median_run(produced, "msgs_per_s")
        results[f"consume_{kind}"] = _median_run(consumed, "msgs_per_s")
    lat_args = ["latency", *boot, "--topic", t_lat, "--rate", str(p.latency_rate)]
    lat_args += ["--duration", str(p.latency_duration_s), "--size", str(p.latency_size)]
    results["latency"] = step(
        f"latency {p.latency_rate:.0f}/s x {p.latency_duration_s:g}s",
        lat_args,
        p.latency_duration_s + 25.0,
    )
    return results


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + str(res["error"])
    if "p50_ms" in res:
        return (
            f"p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  "
            f"({res['received']}/{res['sent']} received)"
        )
    if "msgs_per_s" in res:
        flag = "  CAPPED" if res.get("capped") else ""
        return (
            f"{res['msgs_per_s']:>10,.0f} msg/s {res['mb_per_s']:7.1f} MB/s  "
            f"({res['messages']} in {res['seconds']:.2f}s, "
            f"client CPU {res.get('client_cpu_s', 0):.2f}s){flag}"
        )
    if "partitions" in res:
        return f"partitions {res['partitions']} advertised {res['advertised']}"
    return "ok"


def _metric(res: dict[str, Any] | None, key: str) -> float | None:
    if not res or "error" in res:
        return None
    value = res.get(key)
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def build_tables(
    suites: dict[str, dict[str, Any]], p: Params
) -> tuple[list[str], dict[str, dict[str, float | None]]]:
    """Render one table per scenario; return its lines and the ratios flowlog/Tansu."""
    lines: list[str] = []
    ratios: dict[str, dict[str, float | None]] = {}
    flow = suites.get("flowlog", {})
    tan = suites.get("tansu", {})
    for key, title, metrics in METRICS:
        title_s = title.format(small=p.small_size, large=p.large_size, rate=p.latency_rate)
        lines.append("")
        lines.append(f"== {title_s}")
        lines.append(f"   {'metric':<14}{'flowlog':>14}{'tansu':>14}{'flowlog/tansu':>16}  better")
        extra: list[tuple[str, str, bool]] = [("broker_cpu_s", "broker CPU s", False)]
        for mkey, unit, higher in metrics + extra:
            f = _metric(flow.get(key), mkey)
            t = _metric(tan.get(key), mkey)
            ratio = f / t if f is not None and t not in (None, 0.0) else None
            ratios.setdefault(key, {})[mkey] = ratio
            ratio_s = f"{ratio:.3f}x" if ratio is not None else "n/a"
            hint = "higher" if higher else "lower"
            lines.append(f"   {unit:<14}{_fmt(f):>14}{_fmt(t):>14}{ratio_s:>16}  {hint}")
        for broker, suite in (("flowlog", flow), ("tansu", tan)):
            res = suite.get(key)
            if res and "error" in res:
                lines.append(f"   ! {broker}: {res['error']}")
            elif res and res.get("runs", 1) > 1:
                runs = ", ".join(_fmt(v) for v in res.get("all_runs_msgs_per_s", []))
                lines.append(f"   ({broker}: median of {res['runs']} runs, msg/s {runs})")
            if res and float(res.get("max_gap_s") or 0.0) >= STALL_NOTE_S:
                lines.append(
                    f"   ! {broker}: a fetch stalled {res['max_gap_s']:.2f}s mid-read "
                    "(consumer fetch.wait.max.ms is 500)"
                )
            if res and res.get("capped"):
                lines.append(
                    f"   ! {broker}: hit its cap, {res['messages']}/{res['target']} messages"
                )
    return lines, ratios


def run_storage_bench(timeout_s: float) -> dict[str, Any]:
    """``python -m bench.storage_bench`` as a subprocess; tolerated if absent."""
    log("")
    log("== storage micro-benchmark (python -m bench.storage_bench)")
    if importlib.util.find_spec("bench.storage_bench") is None:
        log("   bench/storage_bench.py is not present: storage micro-benchmark skipped.")
        return {"status": "absent"}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.storage_bench"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO_ROOT,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        log(f"   storage micro-benchmark did not finish within {timeout_s:.0f}s: killed.")
        return {"status": "timeout"}
    text = out.stdout.rstrip()
    for line in text.splitlines():
        log("   " + line)
    if out.returncode != 0:
        log(f"   storage micro-benchmark exited {out.returncode}:")
        for line in out.stderr.strip().splitlines()[-5:]:
            log("   | " + line)
    return {
        "status": "ok" if out.returncode == 0 else "failed",
        "exit": out.returncode,
        "stdout": text,
        "stderr_tail": out.stderr.strip().splitlines()[-20:],
    }


def _versions(tansu_bin: Path | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        import confluent_kafka

        info["confluent_kafka"] = getattr(confluent_kafka, "__version__", None)
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        info["confluent_kafka"] = None
    if tansu_bin is not None:
        info["tansu"] = tansu.tansu_version(tansu_bin)
        info["tansu_binary"] = str(tansu_bin)
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=5,
            check=False,
        ).stdout.strip()
        info["git_rev"] = rev or None
    except (OSError, subprocess.TimeoutExpired):
        info["git_rev"] = None
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark flowlog's broker against Tansu with the same confluent-kafka load.",
    )
    parser.add_argument("--only", choices=BROKER_NAMES, help="run one broker only")
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="use an already running loopback broker instead of starting one; it stands for "
        "flowlog (or for tansu with --only tansu); the other side still runs unless --only",
    )
    parser.add_argument(
        "--flush",
        metavar="POLICY",
        default="default",
        help=f"flowlog flush policy: {brokers.FLUSH_HELP} (default: the broker's default; "
        "always = log.flush.interval.messages=1, messages=N / ms=N set "
        "log.flush.interval.messages / log.flush.interval.ms)",
    )
    parser.add_argument(
        "--flowlog-config",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="extra --config KEY=VALUE for the flowlog broker (repeatable)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply message counts (and shorten latency if < 1)",
    )
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument(
        "--skip-storage", action="store_true", help="do not run bench.storage_bench"
    )
    parser.add_argument("--storage-timeout", type=float, default=60.0)
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.bootstrap:
        host = args.bootstrap.rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
            parser.error("--bootstrap must be a loopback address (127.0.0.0/8, localhost, ::1)")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    try:
        brokers.flush_configs(args.flush)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{os.getpid()}"
    p = Params(partitions=args.partitions).scaled(args.scale)

    flush_items = brokers.flush_configs(args.flush)
    flowlog_config = flush_items + list(args.flowlog_config)
    flush_desc = (
        f"{args.flush} ({' '.join(flush_items)})"
        if flush_items
        else ("default (broker default; no flush --config passed)")
    )
    selected = [args.only] if args.only else list(BROKER_NAMES)
    external = (args.only or "flowlog") if args.bootstrap else None
    if external == "flowlog":
        flush_desc = f"unknown: flowlog is the already running broker at {args.bootstrap}"
        if flowlog_config:
            log(f"warning: --flush/--flowlog-config ignored for {args.bootstrap}")

    log("flowlog broker benchmark: same confluent-kafka load against each broker")
    log(
        f"  brokers: {', '.join(selected)}"
        + (f"  ({external} = already running broker at {args.bootstrap})" if external else "")
    )
    log(f"  flowlog flush policy: {flush_desc}")
    if args.flowlog_config:
        log(f"  flowlog extra config: {' '.join(args.flowlog_config)}")
    log(
        f"  load: {p.partitions} partitions; produce {p.small_count} x {p.small_size} B and "
        f"{p.large_count} x {p.large_size} B (acks=all, linger.ms=5, cap {p.produce_cap_s:.0f}s);"
        f" consume back (cap {p.consume_cap_s:.0f}s); latency {p.latency_rate:.0f} msg/s x "
        f"{p.latency_duration_s:g}s"
    )
    log("")

    suites: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    tansu_bin: Path | None = None
    for name in selected:
        if name == external:
            log(f"[{name}] using already running broker at {args.bootstrap}")
            suites[name] = run_suite(name, args.bootstrap, None, p, run_id)
            notes[name] = f"external broker at {args.bootstrap}"
            continue
        workdir = brokers.scratch_dir(name)
        try:
            if name == "tansu":
                tansu_bin = tansu.find_tansu_binary()
                proc = brokers.tansu_broker(workdir)
            else:
                proc = brokers.flowlog_broker(workdir, flowlog_config)
            log(f"[{name}] starting: {' '.join(proc.command)}")
            with proc:
                log(f"[{name}] ready at {proc.bootstrap}")
                suites[name] = run_suite(name, proc.bootstrap, proc, p, run_id)
                notes[name] = f"started by the harness at {proc.bootstrap}"
        except (brokers.BrokerStartError, tansu.TansuNotFound) as exc:
            tail = getattr(exc, "log_tail", "")
            last = tail.strip().splitlines()[-1].strip(" |") if tail.strip() else ""
            msg = f"{name} broker could not be started: {exc}" + (f" ({last})" if last else "")
            notes[name] = msg
            log(f"[{name}] {name} broker could not be started: {exc}")
            if tail:
                log(f"[{name}] end of its output:\n{tail}")
            log(f"[{name}] no {name} figures in this run.")
        finally:
            brokers.remove_dir(workdir)
        log("")

    table, ratios = build_tables(suites, p)
    log(
        "Results (ratio = flowlog / tansu; throughput: higher is better, "
        "latency and CPU: lower is better)"
    )
    log(f"flowlog flush policy: {flush_desc}")
    for name in BROKER_NAMES:
        if name in notes and name not in suites:
            log(f"!! {notes[name]}")
    for line in table:
        log(line)

    storage: dict[str, Any] = {"status": "skipped"}
    if not args.skip_storage:
        storage = run_storage_bench(args.storage_timeout)

    elapsed = time.perf_counter() - started
    log("")
    log(f"total time {elapsed:.0f}s")
    if not args.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{stamp}.json"
        doc = {
            "timestamp": stamp,
            "versions": _versions(tansu_bin),
            "params": asdict(p),
            "flowlog_flush_policy": flush_desc,
            "flowlog_config": flowlog_config,
            "brokers": notes,
            "results": suites,
            "ratios_flowlog_over_tansu": ratios,
            "storage_bench": storage,
            "elapsed_s": round(elapsed, 1),
        }
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"results written to {path.relative_to(REPO_ROOT)}")

    measured = any(
        any("error" not in r for k, r in suite.items() if k != "setup") for suite in suites.values()
    )
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
