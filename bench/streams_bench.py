"""Streams benchmark (issue 10): flowlog_streams against Quix Streams on the flowlog broker.

    .venv/bin/python -m bench.streams_bench [--records N] [--flush POLICY] [--skip quix ...]

One run:

1. starts one flowlog broker (``bench.brokers``: a subprocess on a free 127.0.0.1 port),
   creates ``bench-input`` (3 partitions) and preloads N records (``bench.streams_data``:
   keys ``u0``..``u999``, ~100-byte JSON values, ~10% with page ``/health``) with
   confluent-kafka (about 1.7x faster here than flowlog's own Producer, ``--preloader``);
2. runs the Quix Streams app (``bench/streams_quix_app.py``, in ``.venv-quix``) in its own
   subprocess, then the flowlog_streams app (``bench.streams_flowlog_app app``) in another:
   both do filter(page != /health) -> map to the page string -> write to their own output
   topic (3 partitions, created up front). The harness times each from subprocess start
   until the output topic's end offsets add up to the number of records that pass the
   filter (polled every 100 ms with flowlog's Admin.list_offsets, bounded by
   ``--app-timeout``), then stops the app (SIGTERM, SIGKILL after 10 s);
3. stops the broker and runs ``bench.streams_flowlog_app driver`` (TopologyTestDriver, no
   broker) in a subprocess;
4. prints a table against the targets (flowlog_streams >= 100,000 records/s, >= 1.5x Quix,
   test driver >= 200,000 records/s) and writes ``bench/results/streams-<stamp>.json``.

records/s = N input records / seconds from the app's process start (start-up included: the
headline). The "excl. start-up" figure is the input records after the first output was
seen, over the time from that first output to the last. A failed part is reported and the
others still run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from bench import brokers, run, streams_data
from flowlog.client import Admin, NewTopic, Producer, TopicPartition

REPO_ROOT = run.REPO_ROOT
RESULTS_DIR = run.RESULTS_DIR
QUIX_VENV = REPO_ROOT / ".venv-quix"
QUIX_REQUIREMENTS = REPO_ROOT / "bench" / "requirements-quix.txt"
QUIX_SCRIPT = REPO_ROOT / "bench" / "streams_quix_app.py"
INPUT_TOPIC = "bench-input"
QUIX_OUTPUT = "bench-output-quix"
FLOWLOG_OUTPUT = "bench-output-flowlog"

TARGET_FLOWLOG_RPS = 100_000.0
TARGET_RATIO = 1.5
TARGET_DRIVER_RPS = 200_000.0

POLL_S = 0.1
STOP_TIMEOUT_S = 10.0
PRELOAD_TIMEOUT_S = 120.0
PARTS = ("quix", "flowlog", "driver")


def with_one_broker(name: str, broker_config: list[str], keep_logs: bool,
                    results: dict[str, Any],
                    phase: Callable[[brokers.BrokerProcess, Path], Awaitable[None]]) -> None:
    """Start one flowlog broker in a scratch dir and run `phase(broker, workdir)` under trio;
    a broker that cannot start or a failed phase is logged and kept as results["broker_error"]."""
    workdir = brokers.scratch_dir(name)
    try:
        broker = brokers.flowlog_broker(workdir, broker_config)
        log(f"[broker] starting: {' '.join(broker.command)}")
        with broker:
            log(f"[broker] ready at {broker.bootstrap}")
            trio.run(phase, broker, workdir)
    except brokers.BrokerStartError as exc:
        results["broker_error"] = str(exc)
        log(f"[broker] could not be started: {exc}\n{exc.log_tail}")
    except Exception as exc:
        results["broker_error"] = f"{type(exc).__name__}: {exc}"
        log(f"[broker] phase failed: {type(exc).__name__}: {exc}")
    finally:
        if keep_logs:
            log(f"[broker] scratch dir kept (broker and app logs): {workdir}")
        else:
            brokers.remove_dir(workdir)


def save_results(name: str, stamp: str, doc: dict[str, Any]) -> None:
    """Write `doc` to bench/results/<name>-<stamp>.json and say where."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps({"timestamp": stamp, **doc}, indent=2, default=str) + "\n")
    log(f"results written to {path.relative_to(run.REPO_ROOT)}")


def log(line: str = "") -> None:
    print(line, flush=True)


# ------------------------------------------------------------------ Quix venv


def quix_python(explicit: str | None, install: bool) -> tuple[Path | None, str]:
    """The interpreter of the Quix venv (creating it if asked), or None and why not."""
    if explicit:
        path = Path(explicit)
        return (path, "given") if path.exists() else (None, f"--quix-python {path} not found")
    python = QUIX_VENV / "bin" / "python"
    if python.exists() and _quix_version(python):
        return python, "existing"
    if not install:
        return None, f"{QUIX_VENV.name} has no quixstreams (run `make quix-venv`)"
    log(f"  creating {QUIX_VENV.name} (pip install -r {QUIX_REQUIREMENTS.relative_to(REPO_ROOT)})")
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(QUIX_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(QUIX_REQUIREMENTS)],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"`{' '.join(step)}` failed: {exc}"
        if QUIX_VENV.is_dir():
            (QUIX_VENV / ".gitignore").write_text("*\n")  # keep git status clean
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return None, f"`{' '.join(step)}` exited {done.returncode}: {tail}"
    (QUIX_VENV / ".installed").touch()  # the Makefile's stamp
    return python, "installed now"


def _quix_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('quixstreams'), "
             "m.version('confluent-kafka'))"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def flowlog_streams_missing() -> str | None:
    """None if flowlog_streams has the API the bench uses, else what is missing."""
    try:
        import flowlog_streams
    except ImportError as exc:
        return f"flowlog_streams cannot be imported: {exc}"
    missing = [n for n in ("StreamsBuilder", "StreamsApp", "Serdes") if not hasattr(flowlog_streams, n)]
    if missing:
        return f"flowlog_streams has no {', '.join(missing)} yet"
    return None


def flowlog_driver_missing() -> str | None:
    reason = flowlog_streams_missing()
    if reason and "StreamsApp" not in reason:
        return reason
    try:
        from flowlog_streams.testing import TopologyTestDriver  # noqa: F401
    except ImportError as exc:
        return f"flowlog_streams.testing.TopologyTestDriver cannot be imported: {exc}"
    return None


# ------------------------------------------------------------------ broker phase


async def create_topics(admin: Admin, names: list[str], partitions: int) -> None:
    await admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])


async def end_offsets(admin: Admin, topic: str, partitions: int) -> int:
    specs: dict[TopicPartition, str | int] = {
        TopicPartition(topic, p): "latest" for p in range(partitions)
    }
    offsets = await admin.list_offsets(specs)
    return sum(offset for offset, _ in offsets.values())


async def preload(bootstrap: str, records: list[tuple[bytes, bytes, int]]) -> float:
    """Produce every record (keyed, with its timestamp); seconds from first send to flushed."""
    async with Producer(bootstrap, linger_ms=5, batch_size_bytes=256 * 1024) as producer:
        await producer.partitions_for(INPUT_TOPIC)  # metadata, so send_nowait can append
        start = time.perf_counter()
        with trio.fail_after(PRELOAD_TIMEOUT_S):
            send_nowait = producer.send_nowait
            for i, (key, value, ts) in enumerate(records):
                try:
                    send_nowait(INPUT_TOPIC, value, key, timestamp_ms=ts)
                except trio.WouldBlock:
                    await producer.send(INPUT_TOPIC, value, key, timestamp_ms=ts)
                else:
                    if i % 1000 == 0:
                        await trio.lowlevel.checkpoint()  # let the sender run
            await producer.flush()
        return time.perf_counter() - start


def preload_confluent(bootstrap: str, records: list[tuple[bytes, bytes, int]]) -> float:
    """Same as preload() with confluent-kafka (librdkafka, murmur2 like Java); blocking."""
    import confluent_kafka

    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
        "partitioner": "murmur2_random", "delivery.report.only.error": True,
    })
    failed: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    producer.list_topics(INPUT_TOPIC, timeout=10)  # metadata warm
    start = time.perf_counter()
    deadline = start + PRELOAD_TIMEOUT_S
    produce, poll = producer.produce, producer.poll
    for key, value, ts in records:
        while True:
            try:
                produce(INPUT_TOPIC, value, key, timestamp=ts, on_delivery=on_delivery)
                break
            except BufferError:
                poll(0.01)
                if time.perf_counter() > deadline:
                    raise RuntimeError("preload: producer queue stayed full") from None
    if producer.flush(max(1.0, deadline - time.perf_counter())) != 0 or failed:
        raise RuntimeError(f"preload: not every record was delivered ({failed[:3]})")
    return time.perf_counter() - start


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The app as a subprocess in its own session, its output to a log file (not a pipe)."""
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            cwd=REPO_ROOT, env=env, start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is not None:
        return f"had exited ({proc.returncode})"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        return f"stopped by SIGTERM ({proc.returncode})"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
        return "killed (SIGKILL) after SIGTERM timed out"


@dataclass
class TimedRun:
    """One app process timed until its progress reached a target (see timed_run)."""

    started: float
    ended: float
    first_seen: float | None  # when progress was first above 0
    first_value: int  # the progress then
    value: int  # the last progress read
    app_cpu_s: float | None
    broker_cpu_s: float | None
    stop: str
    error: str | None


async def timed_run(
    command: list[str], env: dict[str, str], log_path: Path, broker: brokers.BrokerProcess,
    progress: Callable[[], Awaitable[int]], target: int, what: str, timeout_s: float,
    sample: Callable[[int], None] | None = None, more: Sequence[list[str]] = (),
) -> TimedRun:
    """Start `command` and the `more` commands beside it (other instances; logs
    `log_path`, `log_path.2`, ...), poll
    `progress()` every POLL_S until it reaches `target` (or an app exits, or timeout_s
    passes), then stop them. `sample(pid)` runs on every poll (first instance)."""
    cpu_broker0 = broker.cpu_seconds()
    t0 = time.perf_counter()
    procs = [_start(c, env, log_path if n == 0 else log_path.with_suffix(f".{n + 1}"))
             for n, c in enumerate([command, *more])]
    first_seen: float | None = None
    first_value = value = 0
    app_cpu: float | None = None
    error: str | None = None

    def cpu() -> float | None:
        seconds = [_proc_cpu_s(p.pid) for p in procs]
        return None if any(s is None for s in seconds) else sum(s or 0.0 for s in seconds)

    try:
        deadline = t0 + timeout_s
        while True:
            if sample is not None:
                sample(procs[0].pid)
            value = await progress()
            now = time.perf_counter()
            if value and first_seen is None:
                first_seen, first_value = now, value
            if value >= target:
                app_cpu = cpu()
                break
            exited = [p for p in procs if p.poll() is not None]
            if exited:
                error = f"app exited with code {exited[0].returncode} after {value}/{target}"
                break
            if now > deadline:
                error = f"timeout: {value}/{target} {what} after {timeout_s:.0f}s"
                app_cpu = cpu()
                break
            await trio.sleep(POLL_S)
        ended = now
    finally:
        stops = [await trio.to_thread.run_sync(_stop, p) for p in procs]
    cpu_broker1 = broker.cpu_seconds()
    broker_cpu = (None if cpu_broker0 is None or cpu_broker1 is None
                  else cpu_broker1 - cpu_broker0)
    return TimedRun(t0, ended, first_seen, first_value, value, app_cpu, broker_cpu,
                    "; ".join(stops), error)


def timing_fields(run_: TimedRun) -> dict[str, Any]:
    """The fields every timed run reports (wall time, CPU, how it stopped, any error)."""
    res: dict[str, Any] = {"stop": run_.stop, "wall_s": round(run_.ended - run_.started, 3)}
    if run_.app_cpu_s is not None:
        res["app_cpu_s"] = round(run_.app_cpu_s, 2)
    if run_.broker_cpu_s is not None:
        res["broker_cpu_s"] = round(run_.broker_cpu_s, 2)
    if run_.error is not None:
        res["error"] = run_.error
    return res


async def run_app(
    name: str,
    command: list[str],
    env: dict[str, str],
    admin: Admin,
    broker: brokers.BrokerProcess,
    output: str,
    partitions: int,
    n_input: int,
    expected: int,
    timeout_s: float,
    workdir: Path,
) -> dict[str, Any]:
    """Start one app; time it until ``output`` holds ``expected`` records; stop it."""
    log_path = workdir / f"{name}-app.log"
    timed = await timed_run(
        command, env, log_path, broker, lambda: end_offsets(admin, output, partitions),
        expected, "outputs", timeout_s,
    )
    res: dict[str, Any] = {"command": " ".join(command), "expected_outputs": expected,
                           "outputs": timed.value, **timing_fields(timed)}
    if timed.first_seen is not None:
        res["first_output_s"] = round(timed.first_seen - timed.started, 3)
        res["outputs_at_first_poll"] = timed.first_value
    if "error" in res:
        res["log_tail"] = brokers._log_tail(log_path, 12)
        return res
    if timed.value > expected:
        res["warning"] = f"output holds {timed.value} records, more than the {expected} expected"
    res["records_per_s"] = round(n_input / (timed.ended - timed.started), 1)
    # Only meaningful over several polls: below 0.5 s it is mostly poll-resolution noise.
    if timed.first_seen is not None and timed.ended - timed.first_seen >= 0.5:
        # Input records behind the outputs that appeared after the first poll that saw one.
        after_first = n_input * (expected - timed.first_value) / expected
        res["records_per_s_excl_startup"] = round(after_first / (timed.ended - timed.first_seen), 1)
    return res


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + str(res["error"])
    if "skipped" in res:
        return "skipped: " + str(res["skipped"])
    parts = [f"{res['records_per_s']:>10,.0f} records/s"]
    if "records_per_s_excl_startup" in res:
        parts.append(f"({res['records_per_s_excl_startup']:,.0f}/s excl. start-up")
        parts[-1] += f" of {res.get('first_output_s', 0):.2f}s)"
    parts.append(f"wall {res['wall_s']:.2f}s")
    if "app_cpu_s" in res:
        parts.append(f"app CPU {res['app_cpu_s']:.1f}s")
    if "broker_cpu_s" in res:
        parts.append(f"broker CPU {res['broker_cpu_s']:.1f}s")
    return "  ".join(parts)


async def broker_phase(
    bootstrap: str,
    broker: brokers.BrokerProcess,
    args: argparse.Namespace,
    quix_py: Path | None,
    quix_reason: str,
    flowlog_reason: str | None,
    workdir: Path,
    out: dict[str, Any],
) -> None:
    n = args.records
    t = time.perf_counter()
    records, expected, value_bytes = streams_data.make_records(n)
    out["input"] = {
        "records": n,
        "expected_outputs": expected,
        "mean_value_bytes": round(value_bytes / n, 1),
        "build_s": round(time.perf_counter() - t, 2),
    }
    log(f"  input: {n:,} records, {expected:,} pass the filter, values {value_bytes / n:.0f} B "
        "on average")
    run_tag = uuid.uuid4().hex[:8]
    async with Admin(bootstrap) as admin:
        await create_topics(admin, [INPUT_TOPIC, QUIX_OUTPUT, FLOWLOG_OUTPUT], args.partitions)
        if args.preloader == "confluent":
            seconds = await trio.to_thread.run_sync(preload_confluent, bootstrap, records)
        else:
            seconds = await preload(bootstrap, records)
        del records
        landed = await end_offsets(admin, INPUT_TOPIC, args.partitions)
        out["preload"] = {"seconds": round(seconds, 2), "records_per_s": round(n / seconds, 1),
                          "end_offsets": landed}
        log(f"  preload: {n:,} records in {seconds:.2f}s ({n / seconds:,.0f}/s, "
            f"{args.preloader} producer);"
            f" input end offsets {landed:,}")
        if landed != n:
            raise RuntimeError(f"preload: {INPUT_TOPIC} holds {landed} records, expected {n}")

        parts = [p for p in ("quix", "flowlog") if p not in args.skip]
        for part in parts:
            if part == "quix":
                if quix_py is None:
                    out["quix"] = {"error": f"Quix Streams not available: {quix_reason}"}
                    log(f"  quix     {_summary(out['quix'])}")
                    continue
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
                cmd = [str(quix_py), str(QUIX_SCRIPT), "--bootstrap", bootstrap,
                       "--input", INPUT_TOPIC, "--output", QUIX_OUTPUT,
                       "--group", f"bench-quix-{run_tag}",
                       "--state-dir", str(workdir / "quix-state")]
                output = QUIX_OUTPUT
            else:
                if flowlog_reason:
                    out["flowlog"] = {"error": f"flowlog_streams app not available: "
                                      f"{flowlog_reason}"}
                    log(f"  flowlog  {_summary(out['flowlog'])}")
                    continue
                env = run._child_env()
                state_dir = workdir / "flowlog-state"
                cmd = [sys.executable, "-m", "bench.streams_flowlog_app", "app",
                       "--bootstrap", bootstrap, "--input", INPUT_TOPIC, "--output",
                       FLOWLOG_OUTPUT, "--application-id", f"bench-flowlog-{run_tag}",
                       "--state-dir", str(state_dir), "--commit-interval-ms", "1000"]
                output = FLOWLOG_OUTPUT
            if not broker.alive():
                out[part] = {"error": "the broker is no longer running"}
            else:
                try:
                    out[part] = await run_app(
                        part, cmd, env, admin, broker, output, args.partitions, n, expected,
                        args.app_timeout, workdir,
                    )
                except Exception as exc:  # one app's failure must not hide the other
                    out[part] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  {part:8s} {_summary(out[part])}")
            if "log_tail" in out[part]:
                log(f"  {part}: end of its output:\n{out[part]['log_tail']}")


# ------------------------------------------------------------------ test driver


def run_driver(records: int, timeout_s: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.streams_flowlog_app", "driver", "--records", str(records)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              cwd=REPO_ROOT, env=run._child_env(), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"test-driver bench did not finish within {timeout_s:.0f}s: killed"}
    result: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if not result:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        result = {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    return result


# ------------------------------------------------------------------ report


def _rate(res: dict[str, Any] | None, key: str = "records_per_s") -> float | None:
    if not res or "error" in res:
        return None
    value = res.get(key)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{suffix}" if value >= 100 else f"{value:.2f}{suffix}"


def report(results: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    flow, quix, drv = results.get("flowlog"), results.get("quix"), results.get("driver")
    rows: list[tuple[str, float | None, float | None, str, float, str]] = []
    f_rps, q_rps = _rate(flow), _rate(quix)
    f_ex, q_ex = _rate(flow, "records_per_s_excl_startup"), _rate(quix, "records_per_s_excl_startup")
    ratio = f_rps / q_rps if f_rps is not None and q_rps else None
    ratio_ex = f_ex / q_ex if f_ex is not None and q_ex else None
    d_rps = _rate(drv)
    rows.append(("flowlog_streams records/s", f_rps, f_ex, ">= 100,000", TARGET_FLOWLOG_RPS, ""))
    rows.append(("Quix Streams records/s", q_rps, q_ex, "(reference)", 0.0, ""))
    rows.append(("ratio flowlog_streams/Quix", ratio, ratio_ex, ">= 1.5x", TARGET_RATIO, "x"))
    rows.append(("test driver records/s", d_rps, None, ">= 200,000", TARGET_DRIVER_RPS, ""))
    lines = [
        f"   {'metric':<28}{'headline':>12}{'excl. start-up':>16}{'target':>13}  met",
    ]
    verdicts: dict[str, Any] = {}
    for label, value, excl, target_s, target, suffix in rows:
        if target == 0.0:
            met = ""
        elif value is None:
            met = "n/a"
        else:
            met = "yes" if value >= target else "NO"
        if target:
            verdicts[label] = {"value": value, "excl_startup": excl, "target": target,
                               "met": None if value is None else value >= target}
        val_s = f"{value:.2f}x" if suffix and value is not None else _fmt(value)
        ex_s = f"{excl:.2f}x" if suffix and excl is not None else _fmt(excl)
        lines.append(f"   {label:<28}{val_s:>12}{ex_s:>16}{target_s:>13}  {met}")
    for part in PARTS:
        res = results.get(part)
        if res and "error" in res:
            lines.append(f"   ! {part}: {res['error']}")
        elif res and "skipped" in res:
            lines.append(f"   ({part}: skipped: {res['skipped']})")
        elif res and "warning" in res:
            lines.append(f"   ! {part}: {res['warning']}")
    return lines, verdicts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000, help="input records (500,000)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--flush", metavar="POLICY", default="default",
                        help=f"flowlog broker flush policy: {brokers.FLUSH_HELP}")
    parser.add_argument("--group-delay-ms", type=int, default=0,
                        help="broker group.initial.rebalance.delay.ms (default 0 here; the "
                        "broker's own default is 3000, a fixed wait before a new group's first "
                        "assignment that both apps would pay); -1 = the broker default")
    parser.add_argument("--preloader", choices=("confluent", "flowlog"), default="confluent",
                        help="client that preloads the input (not timed against any target)")
    parser.add_argument("--app-timeout", type=float, default=None,
                        help="seconds each app may take (default 60 + N/5,000)")
    parser.add_argument("--driver-timeout", type=float, default=None,
                        help="seconds the test-driver bench may take (default 60 + N/5,000)")
    parser.add_argument("--skip", action="append", default=[], choices=PARTS,
                        help="leave out a part (repeatable)")
    parser.add_argument("--quix-python", metavar="PATH",
                        help="interpreter with quixstreams (default .venv-quix/bin/python)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create .venv-quix when it is missing")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the scratch dir (broker and app logs) and print its path")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be positive")
    try:
        brokers.flush_configs(args.flush)
    except ValueError as exc:
        parser.error(str(exc))
    if args.app_timeout is None:
        args.app_timeout = 60 + args.records / 5_000
    if args.driver_timeout is None:
        args.driver_timeout = 60 + args.records / 5_000
    return args


def broker_settings(flush: str, group_delay_ms: int) -> tuple[str, list[str]]:
    """(flush policy as printed, broker --config items) for --flush and --group-delay-ms."""
    flush_items = brokers.flush_configs(flush)
    flush_desc = (f"{flush} ({' '.join(flush_items)})" if flush_items
                  else "default (broker default; no flush --config passed)")
    broker_config = list(flush_items)
    if group_delay_ms >= 0:
        broker_config.append(f"group.initial.rebalance.delay.ms={group_delay_ms}")
    return flush_desc, broker_config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    flush_desc, broker_config = broker_settings(args.flush, args.group_delay_ms)
    group_desc = (f"group.initial.rebalance.delay.ms={args.group_delay_ms}"
                  if args.group_delay_ms >= 0 else "group.initial.rebalance.delay.ms=broker "
                  "default (3000)")
    command = "python -m bench.streams_bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    log("streams benchmark (issue 10): filter -> map_values -> to, on one flowlog broker")
    log(f"  command: {command.strip()}")
    log(f"  flowlog broker flush policy: {flush_desc}")
    log(f"  flowlog broker group delay: {group_desc}")
    log(f"  records: {args.records:,} on {args.partitions} partitions; app timeout "
        f"{args.app_timeout:.0f}s")

    results: dict[str, Any] = {}
    versions: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    quix_py: Path | None = None
    quix_reason = "skipped"
    if "quix" not in args.skip:
        quix_py, quix_reason = quix_python(args.quix_python, not args.no_install)
        if quix_py is not None:
            versions["quixstreams_confluent_kafka"] = _quix_version(quix_py)
            log(f"  Quix Streams: {quix_py} (quixstreams, confluent-kafka = "
                f"{versions['quixstreams_confluent_kafka']}; {quix_reason})")
        else:
            log(f"  Quix Streams: not available: {quix_reason}")
    flowlog_reason = flowlog_streams_missing() if "flowlog" not in args.skip else "skipped"
    if flowlog_reason and "flowlog" not in args.skip:
        log(f"  flowlog_streams: {flowlog_reason}")
    rev = run._versions(None).get("git_rev")
    versions["git_rev"] = rev
    log("")

    if set(args.skip) >= {"quix", "flowlog"}:
        log("[broker] not started: both broker apps skipped")
    else:
        workdir = brokers.scratch_dir("streams")
        try:
            broker = brokers.flowlog_broker(workdir, broker_config)
            log(f"[broker] starting: {' '.join(broker.command)}")
            with broker:
                log(f"[broker] ready at {broker.bootstrap}")
                trio.run(broker_phase, broker.bootstrap, broker, args, quix_py, quix_reason,
                         flowlog_reason, workdir, results)
                results["broker_rss_mib"] = broker.rss_mib()
        except brokers.BrokerStartError as exc:
            results["broker_error"] = str(exc)
            log(f"[broker] could not be started: {exc}\n{exc.log_tail}")
        except Exception as exc:  # the driver part still runs
            results["broker_error"] = f"{type(exc).__name__}: {exc}"
            log(f"[broker] phase failed: {type(exc).__name__}: {exc}")
        finally:
            if args.keep_logs:
                log(f"[broker] scratch dir kept (broker and app logs): {workdir}")
            else:
                brokers.remove_dir(workdir)
        for part in ("quix", "flowlog"):
            if part not in results and part not in args.skip:
                results[part] = {"error": results.get("broker_error", "not run")}
    for part in ("quix", "flowlog"):
        if part in args.skip:
            results[part] = {"skipped": "--skip"}

    if "driver" in args.skip:
        results["driver"] = {"skipped": "--skip"}
    else:
        reason = flowlog_driver_missing()
        if reason:
            results["driver"] = {"error": f"test driver not available: {reason}"}
        else:
            results["driver"] = run_driver(args.records, args.driver_timeout)
        log("  driver   " + (
            "ERROR " + results["driver"]["error"] if "error" in results["driver"] else
            f"{results['driver']['records_per_s']:>10,.0f} records/s  "
            f"({results['driver']['records']:,} piped in {results['driver']['seconds']:.2f}s, "
            f"{results['driver']['outputs']:,} outputs)"))

    lines, verdicts = report(results)
    log("")
    log(f"== streams benchmark: {args.records:,} records, {args.partitions} partitions "
        "(records/s = input records per second; higher is better)")
    log(f"   command: {command.strip()}")
    log(f"   flowlog broker flush policy: {flush_desc}; {group_desc}")
    log("   headline = from app process start to the last output (start-up included);")
    log("   excl. start-up = from the first output seen to the last")
    for line in lines:
        log(line)
    elapsed = time.perf_counter() - started
    log(f"total time {elapsed:.0f}s")
    if not args.no_json:
        save_results("streams", stamp, {
            "command": command.strip(), "flush_policy": flush_desc,
            "broker_config": broker_config, "versions": versions, "params": vars(args),
            "results": results, "targets": verdicts, "elapsed_s": round(elapsed, 1)})
    measured = any(_rate(results.get(p)) is not None for p in PARTS)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
