"""Stateful streams benchmark (issue 11): windowed count, restore and memory, on one flowlog broker.

    .venv/bin/python -m bench.streams_state_bench [--records N] [--keys K] [--mem-keys M]

One run, one flowlog broker (``bench.brokers``: a subprocess on a free 127.0.0.1 port, the
default flush policy unless ``--flush``, ``group.initial.rebalance.delay.ms=0``):

1. **windowed count**: topic ``state-input`` (3 partitions) is preloaded with N records
   (key ``k<i>``, i uniformly random in [0, K), seeded; value ``b"1"``; timestamps rising
   evenly over ``--span-minutes`` minutes, aligned to a minute, ending about now, so
   several 1-minute windows exist and no record is late). Quix Streams
   (``bench/streams_state_quix_app.py``, in ``.venv-quix``) and then flowlog_streams
   (``bench.streams_state_flowlog_app``) each count per key per 1-minute tumbling window,
   on RocksDB with a changelog, commit interval 1 s, writing to their own output topic.
   Each is timed from its process start until its consumer group's committed offsets on
   the input add up to the input's end offsets (``Admin.list_group_offsets`` every 100 ms):
   all input processed and committed. Then it is stopped and its output topic is read to
   its end; the last value per (key, window) must add up to N ("counted") and match the
   count the harness computed from the records it sent.
2. **memory**: topic ``state-input-distinct`` gets N records over ``--mem-keys`` keys, every
   key once per pass (a seeded permutation: with N = M = 1,000,000, 1,000,000 distinct keys
   and 1,000,000 distinct (key, window) pairs). The flowlog_streams app counts it as in 1
   (its own application id); VmRSS of ``/proc/<pid>/status`` is sampled every 100 ms, the
   maximum is the figure.
3. **restore**: that app's changelog ``<app>-counts-changelog`` then holds one record per
   distinct (key, window) pair (the record cache logs each pair once per flush, and each
   pair is updated once), so 1,000,000 records. The app is started again with the same
   application id and a FRESH state dir, so every task restores its store from the
   changelog's start. The app reports (restore listener) each task's start and end;
   records/s = records restored over all tasks / (last task's end - first task's start).

Prints a table against the targets (flowlog_streams >= 50,000 records/s, >= 3x Quix, 100%
counted; restore >= 200,000 records/s; max RSS < 250 MB with 1,000,000 keys) and writes
``bench/results/streams-state-<stamp>.json``. A failed part is reported and the others
still run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio

from bench import brokers, run, streams_bench
from bench.streams_bench import _fmt, _start, _stop, log
from flowlog.client import Admin, KafkaError, TopicPartition

REPO_ROOT = run.REPO_ROOT
RESULTS_DIR = run.RESULTS_DIR
QUIX_SCRIPT = REPO_ROOT / "bench" / "streams_state_quix_app.py"
INPUT_TOPIC = "state-input"
DISTINCT_INPUT_TOPIC = "state-input-distinct"
QUIX_OUTPUT = "state-output-quix"
FLOWLOG_OUTPUT = "state-output-flowlog"
DISTINCT_OUTPUT = "state-output-flowlog-distinct"
STORE = "counts"  # the flowlog app's Materialized.as_() name
WINDOW_MS = 60_000
SEED = 11  # issue 11
VALUE = b"1"

TARGET_FLOWLOG_RPS = 50_000.0
TARGET_RATIO = 3.0
TARGET_COUNTED_PCT = 100.0
TARGET_RESTORE_RPS = 200_000.0
TARGET_RSS_MB = 250.0  # 10^6 bytes

POLL_S = 0.1
READ_TIMEOUT_S = 120.0
PARTS = ("quix", "flowlog", "memory", "restore")


# ------------------------------------------------------------------ input


def make_records(n: int, keys: int, *, distinct: bool, base_ms: int,
                 span_ms: int) -> list[tuple[bytes, bytes, int]]:
    """``n`` (key, value, timestamp) records; timestamps rise evenly from ``base_ms``.

    ``distinct``: keys follow a seeded permutation of the ``keys`` ids (each key once per
    pass), else each key id is drawn uniformly at random (seeded).
    """
    rng = random.Random(SEED + (1 if distinct else 0))
    if distinct:
        perm = list(range(keys))
        rng.shuffle(perm)
        ids = [perm[i % keys] for i in range(n)]
    else:
        ids = [rng.randrange(keys) for _ in range(n)]
    names: dict[int, bytes] = {}
    records = []
    for i, key_id in enumerate(ids):
        name = names.get(key_id)
        if name is None:
            name = names[key_id] = f"k{key_id}".encode()
        records.append((name, VALUE, base_ms + i * span_ms // n))
    return records


def expected_counts(records: list[tuple[bytes, bytes, int]]) -> Counter[tuple[bytes, int]]:
    """The count per (key, window start) the apps must end with."""
    return Counter((key, ts - ts % WINDOW_MS) for key, _, ts in records)


@contextlib.contextmanager
def _preload_topic(name: str) -> Iterator[None]:
    # streams_bench.preload_confluent writes to its module's INPUT_TOPIC: point it at ours.
    saved = streams_bench.INPUT_TOPIC
    streams_bench.INPUT_TOPIC = name
    try:
        yield
    finally:
        streams_bench.INPUT_TOPIC = saved


async def load_input(admin: Admin, bootstrap: str, topic: str, records: list[Any],
                     partitions: int) -> dict[str, Any]:
    with _preload_topic(topic):
        seconds = await trio.to_thread.run_sync(streams_bench.preload_confluent, bootstrap,
                                                records)
    landed = await streams_bench.end_offsets(admin, topic, partitions)
    if landed != len(records):
        raise RuntimeError(f"preload: {topic} holds {landed} records, expected {len(records)}")
    return {"seconds": round(seconds, 2), "records_per_s": round(len(records) / seconds, 1),
            "end_offsets": landed}


# ------------------------------------------------------------------ running an app


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


async def committed(admin: Admin, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 while it has none)."""
    try:
        offsets = await admin.list_group_offsets(group)
    except KafkaError:
        return 0
    return sum(om.offset for tp, om in offsets.items() if tp.topic == topic)


class _RssSampler:
    """VmRSS of the app, read on every poll: the maximum, the last, how many reads."""

    def __init__(self) -> None:
        self.max_kib = 0
        self.last_kib = 0
        self.samples = 0

    def sample(self, pid: int) -> None:
        kib = _rss_kib(pid)
        if kib is not None:
            self.max_kib = max(self.max_kib, kib)
            self.last_kib = kib
            self.samples += 1


async def run_counting_app(
    name: str, command: list[str], admin: Admin, broker: brokers.BrokerProcess, group: str,
    input_topic: str, n_input: int, timeout_s: float, workdir: Path,
) -> dict[str, Any]:
    """Start one app; time it until ``group`` has committed all of ``input_topic``; stop it."""
    log_path = workdir / f"{name}-app.log"
    rss = _RssSampler()
    timed = await streams_bench.timed_run(
        command, run._child_env(), log_path, broker,
        lambda: committed(admin, group, input_topic), n_input, "committed", timeout_s,
        sample=rss.sample,
    )
    res: dict[str, Any] = {"command": " ".join(command), "group": group,
                           "committed": timed.value, **streams_bench.timing_fields(timed),
                           "rss_max_mib": round(rss.max_kib / 1024, 1),
                           "rss_samples": rss.samples}
    if timed.error is None and rss.last_kib:
        res["rss_mib_at_end"] = round(rss.last_kib / 1024, 1)
    if timed.first_seen is not None:
        res["first_commit_s"] = round(timed.first_seen - timed.started, 3)
        res["committed_at_first_commit"] = timed.first_value
    metrics = _last_json_line(log_path, "METRICS ")
    if metrics:
        res["app_metrics"] = {k: metrics.get(k) for k in (
            "records_processed", "records_produced", "commits", "commit_latency_ms_avg",
            "commit_latency_ms_max", "records_restored")}
    if "error" in res:
        res["log_tail"] = brokers._log_tail(log_path, 12)
        return res
    seconds = timed.ended - timed.started
    res["records_per_s"] = round(n_input / seconds, 1)
    # Between the first commit seen and the last: the rate once started (commit-to-commit).
    if timed.first_seen is not None and timed.ended - timed.first_seen >= 0.5:
        res["records_per_s_excl_startup"] = round(
            (n_input - timed.first_value) / (timed.ended - timed.first_seen), 1)
    return res


def _last_json_line(path: Path, prefix: str) -> dict[str, Any] | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        if line.startswith(prefix):
            with contextlib.suppress(ValueError):
                found = json.loads(line[len(prefix):])
    return found


# ------------------------------------------------------------------ verification


def read_counts(bootstrap: str, topic: str, ends: dict[int, int],
                kind: str) -> tuple[dict[tuple[bytes, int], int | None], int]:
    """Every record of ``topic`` up to ``ends`` -> ({(key, window start): last count}, read).

    flowlog_streams: key ``Serdes.windowed(Serdes.str())`` (the key's bytes, then window start
    and end as 8-byte big-endian numbers), value ``Serdes.long()`` (8 bytes). Quix: the message
    key is the input key, the value JSON ``{"start": ms, "end": ms, "value": count}``.
    """
    import confluent_kafka
    import orjson

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-state-read-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "fetch.queue.backoff.ms": 10,
    })
    try:
        wanted = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in wanted])
        last: dict[tuple[bytes, int], int | None] = {}
        read = 0
        reached: set[int] = set()
        deadline = time.perf_counter() + READ_TIMEOUT_S
        loads, from_bytes = orjson.loads, int.from_bytes
        while len(reached) < len(wanted):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"reading {topic}: {read} records after {READ_TIMEOUT_S:.0f}s")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    continue
                key: bytes = msg.key() or b""
                value = msg.value()
                if kind == "quix":
                    doc = loads(value) if value is not None else None
                    if doc is not None:
                        last[(key, doc["start"])] = doc["value"]
                else:
                    window = from_bytes(key[-16:-8], "big", signed=True)
                    last[(key[:-16], window)] = (
                        None if value is None else from_bytes(value, "big", signed=True))
                read += 1
                partition: int = msg.partition()  # type: ignore[assignment]
                offset: int = msg.offset()  # type: ignore[assignment]
                if offset + 1 >= wanted[partition]:
                    reached.add(partition)
        return last, read
    finally:
        consumer.close()


async def verify(admin: Admin, bootstrap: str, topic: str, kind: str, partitions: int,
                 expected: Counter[tuple[bytes, int]], n: int) -> dict[str, Any]:
    """Read ``topic`` to its end; the last count per (key, window) against ``expected``."""
    specs: dict[TopicPartition, str | int] = {
        TopicPartition(topic, p): "latest" for p in range(partitions)}
    ends = {tp.partition: off for tp, (off, _) in (await admin.list_offsets(specs)).items()}
    t = time.perf_counter()
    counts, read = await trio.to_thread.run_sync(read_counts, bootstrap, topic, ends, kind)
    total = sum(v for v in counts.values() if v is not None)
    exact = sum(1 for pair, c in expected.items() if counts.get(pair) == c)
    missing = sum(1 for pair in expected if pair not in counts)
    extra = sum(1 for pair in counts if pair not in expected)
    return {
        "output_records": read,
        "pairs_in_output": len(counts),
        "pairs_expected": len(expected),
        "pairs_exact": exact,
        "pairs_missing": missing,
        "pairs_unexpected": extra,
        "null_values": sum(1 for v in counts.values() if v is None),
        "sum_of_last_counts": total,
        "counted_pct": round(100.0 * total / n, 4),
        "read_s": round(time.perf_counter() - t, 2),
    }


# ------------------------------------------------------------------ restore


async def run_restore(
    command: list[str], admin: Admin, changelog: str, partitions: int, timeout_s: float,
    workdir: Path,
) -> dict[str, Any]:
    """Start the app on a fresh state dir; wait for its RESTORED line; stop it."""
    log_path = workdir / "restore-app.log"
    specs: dict[TopicPartition, str | int] = {}
    for p in range(partitions):
        specs[TopicPartition(changelog, p)] = "latest"
    latest = await admin.list_offsets(specs)
    earliest = await admin.list_offsets({tp: "earliest" for tp in specs})
    res: dict[str, Any] = {
        "command": " ".join(command), "changelog": changelog,
        "changelog_records": sum(latest[tp][0] - earliest[tp][0] for tp in specs),
    }
    wall0 = time.time()
    t0 = time.perf_counter()
    proc = _start(command, run._child_env(), log_path)
    doc: dict[str, Any] | None = None
    rss_max = 0
    try:
        deadline = t0 + timeout_s
        while True:
            rss_max = max(rss_max, _rss_kib(proc.pid) or 0)
            doc = _last_json_line(log_path, "RESTORED ")
            if doc is not None:
                break
            if proc.poll() is not None:
                res["error"] = f"app exited with code {proc.returncode} before restoring"
                break
            if time.perf_counter() > deadline:
                res["error"] = f"timeout: no restore end after {timeout_s:.0f}s"
                break
            await trio.sleep(0.05)
    finally:
        res["stop"] = await trio.to_thread.run_sync(_stop, proc)
    res["rss_max_mib"] = round(rss_max / 1024, 1)
    res["log_lines"] = [line for line in log_path.read_text(errors="replace").splitlines()
                        if "flowlog_streams.restore" in line][-12:]
    if doc is None:
        res["log_tail"] = brokers._log_tail(log_path, 12)
        return res
    tasks = doc["tasks"]
    total = sum(t["records"] for t in tasks.values())
    span = doc["last_end"] - doc["first_start"]
    res.update({
        "records_restored": total,
        "records_restored_metric": doc.get("records_restored_metric"),
        "tasks": {tid: {"records": t["records"], "seconds": round(t["seconds"], 3),
                        "records_per_s": round(t["records"] / t["seconds"], 1)
                        if t["seconds"] > 0 else None}
                  for tid, t in sorted(tasks.items())},
        "span_s": round(span, 3),
        "records_per_s": round(total / span, 1) if span > 0 else None,
        "sum_task_seconds": round(sum(t["seconds"] for t in tasks.values()), 3),
        "first_restore_start_s": round(doc["first_start"] - wall0, 3),
        "process_start_to_restored_s": round(doc["last_end"] - wall0, 3),
    })
    # The restorer's own log lines ("task X: restored N records in S s"), as a cross-check.
    logged = [re.search(r"task (\S+): restored (\d+) records in ([\d.]+)s", line)
              for line in res["log_lines"]]
    res["logged"] = {m.group(1): {"records": int(m.group(2)), "seconds": float(m.group(3))}
                     for m in logged if m}
    if res["records_restored_metric"] not in (None, total):
        res["warning"] = (f"app.metrics()['records_restored'] = {res['records_restored_metric']}, "
                          f"the restore listener counted {total}")
    if total != res["changelog_records"]:
        res["warning"] = (f"restored {total} records, the changelog holds "
                          f"{res['changelog_records']}")
    return res


# ------------------------------------------------------------------ the run


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + str(res["error"])
    if "skipped" in res:
        return "skipped: " + str(res["skipped"])
    parts = [f"{res['records_per_s']:>10,.0f} records/s"]
    if "records_per_s_excl_startup" in res:
        parts.append(f"({res['records_per_s_excl_startup']:,.0f}/s after the first commit at "
                     f"{res.get('first_commit_s', 0):.2f}s)")
    parts.append(f"wall {res['wall_s']:.2f}s")
    if "app_cpu_s" in res:
        parts.append(f"app CPU {res['app_cpu_s']:.1f}s")
    if "broker_cpu_s" in res:
        parts.append(f"broker CPU {res['broker_cpu_s']:.1f}s")
    parts.append(f"max RSS {res['rss_max_mib']:.0f} MiB")
    return "  ".join(parts)


def _verify_summary(v: dict[str, Any]) -> str:
    if "error" in v:
        return "verify ERROR " + str(v["error"])
    return (f"counted {v['counted_pct']:.4f}% (sum of last counts {v['sum_of_last_counts']:,}); "
            f"{v['pairs_exact']:,}/{v['pairs_expected']:,} (key, window) pairs exact, "
            f"{v['pairs_missing']:,} missing, {v['pairs_unexpected']:,} unexpected; "
            f"{v['output_records']:,} output records read in {v['read_s']:.1f}s")


async def broker_phase(bootstrap: str, broker: brokers.BrokerProcess, args: argparse.Namespace,
                       quix_py: Path | None, quix_reason: str, workdir: Path,
                       out: dict[str, Any]) -> None:
    n, parts_n = args.records, args.partitions
    tag = uuid.uuid4().hex[:8]
    span_ms = args.span_minutes * WINDOW_MS
    # Aligned to a minute, ending about now (record timestamps far in the past would be
    # subject to the topics' time retention).
    base_ms = (int(time.time() * 1000) // WINDOW_MS - args.span_minutes) * WINDOW_MS
    want_count = any(p not in args.skip for p in ("quix", "flowlog"))
    want_mem = any(p not in args.skip for p in ("memory", "restore"))
    async with Admin(bootstrap) as admin:
        topics = [INPUT_TOPIC, QUIX_OUTPUT, FLOWLOG_OUTPUT, DISTINCT_INPUT_TOPIC, DISTINCT_OUTPUT]
        await streams_bench.create_topics(admin, topics, parts_n)

        # -------------------------------------------------------- 1. windowed count
        if want_count:
            t = time.perf_counter()
            records = make_records(n, args.keys, distinct=False, base_ms=base_ms, span_ms=span_ms)
            expected = expected_counts(records)
            out["input"] = {
                "topic": INPUT_TOPIC, "records": n, "keys": args.keys,
                "distinct_keys": len({k for k, _, _ in records}),
                "windows": len({w for _, w in expected}), "pairs": len(expected),
                "value_bytes": len(VALUE), "span_ms": span_ms, "base_ms": base_ms,
                "build_s": round(time.perf_counter() - t, 2),
            }
            out["input"]["preload"] = await load_input(admin, bootstrap, INPUT_TOPIC, records,
                                                       parts_n)
            del records
            inp = out["input"]
            log(f"  input {INPUT_TOPIC}: {n:,} records, {inp['distinct_keys']:,} distinct keys, "
                f"{inp['windows']} windows, {inp['pairs']:,} (key, window) pairs; preloaded in "
                f"{inp['preload']['seconds']:.1f}s")
            for part in ("quix", "flowlog"):
                if part in args.skip:
                    continue
                if part == "quix" and quix_py is None:
                    out[part] = {"error": f"Quix Streams not available: {quix_reason}"}
                    log(f"  quix     {_summary(out[part])}")
                    continue
                if part == "quix":
                    group = f"bench-state-quix-{tag}"
                    cmd = [str(quix_py), str(QUIX_SCRIPT), "--bootstrap", bootstrap,
                           "--input", INPUT_TOPIC, "--output", QUIX_OUTPUT, "--group", group,
                           "--state-dir", str(workdir / "quix-state"),
                           "--commit-interval", str(args.commit_interval_ms / 1000)]
                    output = QUIX_OUTPUT
                else:
                    group = f"bench-state-flowlog-{tag}"
                    cmd = _flowlog_cmd(bootstrap, INPUT_TOPIC, FLOWLOG_OUTPUT, group,
                                       workdir / "flowlog-state", args)
                    output = FLOWLOG_OUTPUT
                out[part] = await _run_and_verify(part, cmd, admin, broker, group, INPUT_TOPIC,
                                                  output, expected, args, workdir, bootstrap)
            del expected

        # -------------------------------------------------------- 2. memory (1M keys)
        if want_mem:
            t = time.perf_counter()
            records = make_records(n, args.mem_keys, distinct=True, base_ms=base_ms,
                                   span_ms=span_ms)
            expected = expected_counts(records)
            out["input_distinct"] = {
                "topic": DISTINCT_INPUT_TOPIC, "records": n, "keys": args.mem_keys,
                "distinct_keys": len({k for k, _, _ in records}),
                "windows": len({w for _, w in expected}), "pairs": len(expected),
                "build_s": round(time.perf_counter() - t, 2),
            }
            out["input_distinct"]["preload"] = await load_input(
                admin, bootstrap, DISTINCT_INPUT_TOPIC, records, parts_n)
            del records
            inp = out["input_distinct"]
            log(f"  input {DISTINCT_INPUT_TOPIC}: {n:,} records, {inp['distinct_keys']:,} "
                f"distinct keys, {inp['pairs']:,} (key, window) pairs; preloaded in "
                f"{inp['preload']['seconds']:.1f}s")
            app_id = f"bench-state-mem-{tag}"
            cmd = _flowlog_cmd(bootstrap, DISTINCT_INPUT_TOPIC, DISTINCT_OUTPUT, app_id,
                               workdir / "mem-state", args)
            out["memory"] = await _run_and_verify("memory", cmd, admin, broker, app_id,
                                                  DISTINCT_INPUT_TOPIC, DISTINCT_OUTPUT,
                                                  expected, args, workdir, bootstrap)
            del expected

            # ---------------------------------------------------- 3. restore
            if "restore" in args.skip:
                pass
            elif "error" in out["memory"]:
                out["restore"] = {"error": "the run whose changelog it restores failed"}
            else:
                changelog = f"{app_id}-{STORE}-changelog"
                cmd = _flowlog_cmd(bootstrap, DISTINCT_INPUT_TOPIC, DISTINCT_OUTPUT, app_id,
                                   workdir / "restore-state", args)
                cmd += ["--report-restore-tasks", str(parts_n)]
                try:
                    out["restore"] = await run_restore(cmd, admin, changelog, parts_n,
                                                       args.app_timeout, workdir)
                except Exception as exc:
                    out["restore"] = {"error": f"{type(exc).__name__}: {exc}"}
                r = out["restore"]
                if "error" in r:
                    log(f"  restore  ERROR {r['error']}")
                    if "log_tail" in r:
                        log(r["log_tail"])
                else:
                    log(f"  restore  {r['records_per_s']:>10,.0f} records/s  "
                        f"({r['records_restored']:,} records of a {r['changelog_records']:,}-"
                        f"record changelog, {len(r['tasks'])} tasks, first start to last end "
                        f"{r['span_s']:.2f}s; restored {r['process_start_to_restored_s']:.2f}s "
                        f"after process start)")


def _flowlog_cmd(bootstrap: str, topic: str, output: str, app_id: str, state_dir: Path,
                 args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "bench.streams_state_flowlog_app", "--bootstrap", bootstrap,
           "--input", topic, "--output", output, "--application-id", app_id,
           "--state-dir", str(state_dir), "--commit-interval-ms", str(args.commit_interval_ms)]
    for item in args.consumer_config:
        cmd += ["--consumer-config", item]
    return cmd


async def _run_and_verify(part: str, cmd: list[str], admin: Admin, broker: brokers.BrokerProcess,
                          group: str, topic: str, output: str, expected: Counter[Any],
                          args: argparse.Namespace, workdir: Path,
                          bootstrap: str) -> dict[str, Any]:
    n = args.records
    if not broker.alive():
        res: dict[str, Any] = {"error": "the broker is no longer running"}
    else:
        try:
            res = await run_counting_app(part, cmd, admin, broker, group, topic, n,
                                         args.app_timeout, workdir)
        except Exception as exc:  # one app's failure must not hide the others
            res = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"  {part:8s} {_summary(res)}")
    if "log_tail" in res:
        log(f"  {part}: end of its output:\n{res['log_tail']}")
    if "committed" in res and broker.alive():
        try:
            res["verify"] = await verify(admin, bootstrap, output,
                                         "quix" if part == "quix" else "flowlog",
                                         args.partitions, expected, n)
        except Exception as exc:
            res["verify"] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  {'':8s} {_verify_summary(res['verify'])}")
    return res


# ------------------------------------------------------------------ report


def _get(res: dict[str, Any] | None, *path: str) -> float | None:
    cur: Any = res
    if not cur or "error" in cur:
        return None
    for key in path:
        if not isinstance(cur, dict) or key not in cur or (isinstance(cur[key], dict)
                                                           and "error" in cur[key]):
            return None
        cur = cur[key]
    return float(cur) if isinstance(cur, int | float) else None


def report(results: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    flow, quix = results.get("flowlog"), results.get("quix")
    mem, rest = results.get("memory"), results.get("restore")
    f_rps, q_rps = _get(flow, "records_per_s"), _get(quix, "records_per_s")
    f_ex = _get(flow, "records_per_s_excl_startup")
    q_ex = _get(quix, "records_per_s_excl_startup")
    ratio = f_rps / q_rps if f_rps is not None and q_rps else None
    ratio_ex = f_ex / q_ex if f_ex is not None and q_ex else None
    rss_mib = _get(mem, "rss_max_mib")
    rss_mb = rss_mib * 1024 * 1024 / 1e6 if rss_mib is not None else None
    # (label, value, excl. start-up, target text, compare, target, format)
    rows: list[tuple[str, float | None, float | None, str, str, float, str]] = [
        ("flowlog_streams records/s", f_rps, f_ex, ">= 50,000", ">=", TARGET_FLOWLOG_RPS, "n"),
        ("Quix Streams records/s", q_rps, q_ex, "(reference)", "", 0.0, "n"),
        ("ratio flowlog/Quix", ratio, ratio_ex, ">= 3x", ">=", TARGET_RATIO, "x"),
        ("flowlog_streams counted", _get(flow, "verify", "counted_pct"), None, "100%", "==",
         TARGET_COUNTED_PCT, "%"),
        ("Quix Streams counted", _get(quix, "verify", "counted_pct"), None, "100%", "==",
         TARGET_COUNTED_PCT, "%"),
        ("restore records/s", _get(rest, "records_per_s"), None, ">= 200,000", ">=",
         TARGET_RESTORE_RPS, "n"),
        ("max RSS, 1M keys (MB)", rss_mb, None, "< 250 MB", "<", TARGET_RSS_MB, "mb"),
        ("1M-key run counted", _get(mem, "verify", "counted_pct"), None, "100%", "==",
         TARGET_COUNTED_PCT, "%"),
    ]
    lines = [f"   {'metric':<27}{'headline':>12}{'excl. start-up':>16}{'target':>13}  met"]
    verdicts: dict[str, Any] = {}
    for label, value, excl, target_s, cmp, target, kind in rows:
        if not cmp:
            met = ""
        elif value is None:
            met = "n/a"
        else:
            ok = (value >= target if cmp == ">=" else value < target if cmp == "<"
                  else abs(value - target) < 1e-9)
            met = "yes" if ok else "NO"
            verdicts[label] = {"value": value, "excl_startup": excl, "target": f"{cmp} {target}",
                               "met": ok}
        if cmp and value is None:
            verdicts[label] = {"value": None, "target": f"{cmp} {target}", "met": None}

        def show(v: float | None, kind: str = kind) -> str:
            if v is None:
                return "-"
            if kind == "x":
                return f"{v:.2f}x"
            if kind == "%":
                return f"{v:.4f}%"
            if kind == "mb":
                return f"{v:.1f}"
            return _fmt(v)
        lines.append(f"   {label:<27}{show(value):>12}{show(excl) if excl is not None else '':>16}"
                     f"{target_s:>13}  {met}")
    if rss_mib is not None:
        lines.append(f"   (max RSS {rss_mib:.1f} MiB = {rss_mb:.1f} MB, VmRSS sampled every "
                     f"{POLL_S * 1000:.0f} ms over {mem.get('rss_samples') if mem else 0} samples)")
    if rest and "records_restored" in rest:
        lines.append(f"   (restore: {rest['records_restored']:,} records over all tasks / "
                     f"{rest['span_s']:.2f}s from the first task's restore start to the last's "
                     f"end; per task: " + ", ".join(
                         f"{tid} {t['records']:,} in {t['seconds']:.2f}s"
                         for tid, t in rest["tasks"].items()) + ")")
    for part in PARTS:
        res = results.get(part)
        if res and "error" in res:
            lines.append(f"   ! {part}: {res['error']}")
        elif res and "skipped" in res:
            lines.append(f"   ({part}: skipped: {res['skipped']})")
        elif res and "warning" in res:
            lines.append(f"   ! {part}: {res['warning']}")
        if res and isinstance(res.get("verify"), dict) and "error" in res["verify"]:
            lines.append(f"   ! {part}: verification failed: {res['verify']['error']}")
    return lines, verdicts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_state_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="input records of each count run (1,000,000)")
    parser.add_argument("--keys", type=int, default=100_000,
                        help="distinct keys of the windowed count, drawn at random (100,000)")
    parser.add_argument("--mem-keys", type=int, default=1_000_000,
                        help="distinct keys of the memory run, each key once per pass "
                        "(1,000,000); its changelog is what the restore part restores")
    parser.add_argument("--span-minutes", type=int, default=4,
                        help="record timestamps spread evenly over this many minutes (4)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--commit-interval-ms", type=int, default=1000,
                        help="both apps' commit interval (1000)")
    parser.add_argument("--flush", metavar="POLICY", default="default",
                        help=f"flowlog broker flush policy: {brokers.FLUSH_HELP}")
    parser.add_argument("--group-delay-ms", type=int, default=0,
                        help="broker group.initial.rebalance.delay.ms (0; -1 = broker default)")
    parser.add_argument("--app-timeout", type=float, default=None,
                        help="seconds each app run may take (default 60 + N/5,000)")
    parser.add_argument("--consumer-config", action="append", default=[], metavar="KEY=INT",
                        help="a flowlog.client consumer option for every flowlog_streams app "
                        "run (diagnostics, e.g. fetch_buffer_max_chunks=4); repeatable; none by "
                        "default, and the targets are judged without it")
    parser.add_argument("--skip", action="append", default=[], choices=PARTS,
                        help="leave out a part (repeatable; restore needs memory's run)")
    parser.add_argument("--quix-python", metavar="PATH",
                        help="interpreter with quixstreams (default .venv-quix/bin/python)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create .venv-quix when it is missing")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the scratch dir (broker and app logs) and print its path")
    args = parser.parse_args(argv)
    if args.records < 1 or args.keys < 1 or args.mem_keys < 1 or args.span_minutes < 1:
        parser.error("--records, --keys, --mem-keys and --span-minutes must be positive")
    if "memory" in args.skip and "restore" not in args.skip:
        args.skip.append("restore")  # it restores the memory run's changelog
    try:
        brokers.flush_configs(args.flush)
    except ValueError as exc:
        parser.error(str(exc))
    if args.app_timeout is None:
        args.app_timeout = 60 + args.records / 5_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    flush_desc, broker_config = streams_bench.broker_settings(args.flush, args.group_delay_ms)
    command = "python -m bench.streams_state_bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    log("stateful streams benchmark (issue 11): windowed count, restore, memory; one flowlog broker")
    log(f"  command: {command.strip()}")
    log(f"  flowlog broker flush policy: {flush_desc}; broker config: {' '.join(broker_config)}")
    log(f"  records: {args.records:,} per count run on {args.partitions} partitions; keys "
        f"{args.keys:,} (count), {args.mem_keys:,} (memory/restore); timestamps over "
        f"{args.span_minutes} min; commit interval {args.commit_interval_ms} ms; app timeout "
        f"{args.app_timeout:.0f}s")
    if args.consumer_config:
        log(f"  flowlog_streams consumer_config: {' '.join(args.consumer_config)} (NOT the "
            "default: a diagnostic run)")

    results: dict[str, Any] = {}
    versions: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "git_rev": run._versions(None).get("git_rev")}
    quix_py: Path | None = None
    quix_reason = "skipped"
    if "quix" not in args.skip:
        quix_py, quix_reason = streams_bench.quix_python(args.quix_python, not args.no_install)
        if quix_py is not None:
            versions["quixstreams_confluent_kafka"] = streams_bench._quix_version(quix_py)
            log(f"  Quix Streams: {quix_py} (quixstreams, confluent-kafka = "
                f"{versions['quixstreams_confluent_kafka']}; {quix_reason})")
        else:
            log(f"  Quix Streams: not available: {quix_reason}")
    log("")

    async def phase(broker: brokers.BrokerProcess, workdir: Path) -> None:
        await broker_phase(broker.bootstrap, broker, args, quix_py, quix_reason, workdir, results)
        results["broker_rss_mib"] = broker.rss_mib()

    streams_bench.with_one_broker("streams-state", broker_config, args.keep_logs, results, phase)
    for part in PARTS:
        if part in args.skip:
            results[part] = {"skipped": "--skip"}
        elif part not in results:
            results[part] = {"error": results.get("broker_error", "not run")}

    lines, verdicts = report(results)
    log("")
    log(f"== stateful streams benchmark: {args.records:,} records, {args.keys:,} keys, 1-minute "
        f"tumbling windows, {args.partitions} partitions (higher records/s is better)")
    log(f"   command: {command.strip()}")
    log(f"   flowlog broker flush policy: {flush_desc}; {' '.join(broker_config)}")
    if args.consumer_config:
        log(f"   flowlog_streams consumer_config: {' '.join(args.consumer_config)} (not default)")
    log("   headline = from app process start until its group committed every input offset;")
    log("   excl. start-up = from the first commit seen to the last")
    for line in lines:
        log(line)
    elapsed = time.perf_counter() - started
    log(f"total time {elapsed:.0f}s")
    if not args.no_json:
        streams_bench.save_results("streams-state", stamp, {
            "command": command.strip(), "flush_policy": flush_desc,
            "broker_config": broker_config, "versions": versions, "params": vars(args),
            "results": results, "targets": verdicts, "elapsed_s": round(elapsed, 1)})
    measured = any(_get(results.get(p), "records_per_s") is not None for p in PARTS)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
