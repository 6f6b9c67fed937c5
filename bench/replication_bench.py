"""Replication benchmark (issue 14): replication factor 3 against 1 on the same three brokers.

    .venv/bin/python -m bench.replication_bench [--count-100 N] [--count-1k N] [--repeat R]
        [--latency-seconds S] [--skip throughput|latency|failover] [--flush POLICY]

One run, on one local cluster of three real ``flowlog broker`` processes (each a broker and a
controller voter; ``flowlog.cli.cluster.node_commands`` / ``start_nodes``, free 127.0.0.1
ports, data in a temp dir removed at the end), **default broker timeouts** and the default
flush policy unless told otherwise (both printed):

1. topics, created up front: per load an RF 1 and an RF 3 topic of 3
   partitions (leaders spread over the brokers), ``min.insync.replicas=2`` on every RF 3 one;
2. throughput: ``bench.client_load produce`` (the ``make bench`` producer, in its own process
   so its CPU is not in the brokers' figures): N values of 100 B, then of 1 KiB, acks=all,
   ``linger.ms=5``, round-robin over the partitions, to the RF 1 topic, then the RF 3 one,
   ``--repeat`` times alternately (median reported); each bounded by count and ``--time-cap``.
   A size's two topics are deleted once it is measured: with RF 3 every byte is written
   three times to the one disk, and left in place they pushed the dirty page cache past the
   VM's background-writeback threshold (10% of RAM), which slowed every later part;
3. latency: a worker process (``python -m bench.replication_bench latency-load``) sends
   100-byte records at a paced 1,000 msg/s for ``--latency-seconds`` with the send time
   (``perf_counter_ns``) in the payload, acks=all, ``linger.ms=5``, keyless with
   librdkafka's default partitioner (sticky for 10 ms, as in ``make bench``; ``--round-robin``
   sends record n to partition n % 3: three times the produce requests, and about 1.6x the
   brokers' CPU at RF 3); a consumer thread in it (assigned
   partitions, ``fetch.wait.max.ms=10``) takes receive time minus send time (end-to-end);
   the delivery report gives the produce (ack) latency. RF 1 then RF 3;
4. failover: an idempotent acks=all producer at 200 msg/s to one partition of an RF 3 topic
   whose leader is not the active controller; that leader is killed -9; measured: kill ->
   the first delivery report of a record *sent after* the kill (the issue's figure), kill ->
   the metadata (asked of the surviving brokers every 100 ms) shows another leader, and kill
   -> the ack of one record from a fresh producer started at that moment (when the cluster
   itself could take the write, without the running client's reconnect and retry backoffs).
   The killed broker is restarted and rejoins the ISR; then the same with a partition led by
   the controller leader itself (controller election + leader election).

Targets (issue 14): RF 3 throughput >= 40% of RF 1; RF 3 end-to-end p99 < 20 ms; failover
< 3 s with default timeouts. Results: ``bench/results/replication-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import (
    KafkaException,
    Producer,
)
from confluent_kafka.admin import AdminClient, NewTopic

from bench import brokers, client_load, run
from flowlog.cli.cluster import node_commands, start_node, start_nodes, stop_nodes
from flowlog.cli.output import format_table

TARGET_RATIO = 0.40
TARGET_P99_MS = 20.0
TARGET_FAILOVER_S = 3.0
NODES = 3
PARTITIONS = 3
SIZES = (100, 1024)
LOAD_GRACE_S = 30.0
START_TIMEOUT_S = 60.0
# Payload header of the latency and failover records: kind (0 warm-up, 1 measured),
# sequence number, send time (perf_counter_ns in the latency worker).
HEADER = client_load.LATENCY_HEADER
FLUSH_DEFAULT_TEXT = (
    "default: log.flush.interval.messages and log.flush.interval.ms unset (Long.MAX_VALUE), "
    "so no fsync on the produce path; acknowledged data is in the OS page cache, as with "
    "Kafka's default"
)


def log(line: str = "") -> None:
    print(line, flush=True)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


# ------------------------------------------------------------------------------ the cluster


class Cluster:
    """Three broker processes; every node in its own process group, logs in data_dir."""

    def __init__(self, data_dir: Path, configs: list[str]) -> None:
        self.data_dir = data_dir
        self.commands, self.addresses = node_commands(NODES, data_dir, configs)
        self.processes: list[subprocess.Popen[str]] = []

    @property
    def bootstrap(self) -> str:
        return ",".join(self.addresses)

    def start(self) -> None:
        self.processes = start_nodes(self.commands, self.data_dir)

    def kill(self, node: int) -> None:
        process = self.processes[node - 1]
        process.kill()
        process.wait(10)

    def restart(self, node: int) -> None:
        process, ready = start_node(self.commands[node - 1], self.data_dir / f"node-{node}.log")
        self.processes[node - 1] = process
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.2) and process.poll() is None and time.monotonic() < deadline:
            pass
        if not ready.is_set():
            raise RuntimeError(f"node {node} did not come back; see its log")

    def survivors(self, dead: int) -> str:
        return ",".join(a for i, a in enumerate(self.addresses) if i + 1 != dead)

    def cpu_seconds(self) -> float:
        """User+system CPU of the live broker processes so far (Linux /proc)."""
        total = 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        for process in self.processes:
            try:
                stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(stat[11]) + int(stat[12])) / ticks
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self) -> None:
        stop_nodes(self.processes)


def wait_for_brokers(admin: AdminClient, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = len(admin.list_topics(timeout=2).brokers)
        except KafkaException:
            seen = 0
        if seen >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {seen} of {count} brokers in the metadata after {timeout:.0f} s")


def create_topics(admin: AdminClient, specs: list[NewTopic]) -> None:
    """Create every topic, once."""
    for future in admin.create_topics(specs, request_timeout=15).values():
        future.result(20)


def partitions_of(admin: AdminClient, topic: str, timeout: float = 2.0) -> dict[int, Any]:
    metadata = admin.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return {}
    return dict(metadata.partitions)


def wait_for_isr(admin: AdminClient, topics: dict[str, int], timeout: float) -> None:
    """Until every partition has a leader and an ISR of the topic's replication factor."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = all(
                len(parts) == PARTITIONS
                and all(p.leader >= 0 and len(p.isrs) >= rf for p in parts.values())
                for topic, rf in topics.items()
                for parts in [partitions_of(admin, topic)]
            )
        except KafkaException:
            ready = False
        if ready:
            return
        time.sleep(0.2)
    raise RuntimeError(f"partitions without a leader or a full ISR after {timeout:.0f} s")


def controller_leader(bootstrap: str) -> int | None:
    """The active controller, from DescribeQuorum (`flowlog cluster describe --json`)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "flowlog", "cluster", "describe", "--bootstrap", bootstrap,
             "--json"], capture_output=True, text=True, timeout=30, check=False,
            cwd=run.REPO_ROOT, env=run._child_env(),
        )
        return int(json.loads(out.stdout)["controller"]["leader"])
    except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None


# ------------------------------------------------------------------------------ throughput


def run_worker(module_args: list[str], cap_s: float) -> dict[str, Any]:
    """One worker process (``python -m <module> ...``) and its ``RESULT`` line, or an error."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", *module_args], capture_output=True, text=True,
            timeout=cap_s + LOAD_GRACE_S, cwd=run.REPO_ROOT, env=run._child_env(), check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker overran its cap ({cap_s:.0f} s + grace) and was killed"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT "):])
            return result
    tail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-3:]
    return {"error": f"exit {out.returncode}: " + " | ".join(tail)}


def measure_throughput(cluster: Cluster, admin: AdminClient, args: argparse.Namespace
                       ) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for size in SIZES:
        count = args.count_100 if size == 100 else args.count_1k
        runs: dict[int, list[dict[str, Any]]] = {1: [], 3: []}
        for repeat in range(args.repeat):
            for rf in (1, 3):
                cpu_before = cluster.cpu_seconds()
                result = run_worker([
                    "bench.client_load", "produce", "--bootstrap", cluster.addresses[0],
                    "--topic", f"tput-rf{rf}-{size}", "--count", str(count),
                    "--size", str(size), "--time-cap", str(args.time_cap),
                ], args.time_cap)
                result["broker_cpu_s"] = round(cluster.cpu_seconds() - cpu_before, 2)
                runs[rf].append(result)
                if "error" in result:
                    log(f"  {size} B RF {rf} run {repeat + 1}: {result['error']}")
                else:
                    capped = " (hit its cap)" if result.get("capped") else ""
                    log(f"  {size} B RF {rf} run {repeat + 1}: {result['msgs_per_s']:,.0f} msg/s, "
                        f"{result['mb_per_s']:.1f} MB/s, {result['seconds']:.2f} s, broker CPU "
                        f"{result['broker_cpu_s']:.2f} s, client CPU "
                        f"{result.get('client_cpu_s', 0):.2f} s{capped}")
        delete_topics(admin, [f"tput-rf{rf}-{size}" for rf in (1, 3)])
        results[str(size)] = {
            "count": count,
            "runs": {f"rf{rf}": rs for rf, rs in runs.items()},
            "median": {f"rf{rf}": median_run(rs) for rf, rs in runs.items()},
        }
    return results


def delete_topics(admin: AdminClient, topics: list[str]) -> None:
    """Drop a load's topics once measured: their files go (and their dirty pages with them,
    unwritten), so later parts neither write them back nor replicate them."""
    for topic, future in admin.delete_topics(topics, request_timeout=15).items():
        try:
            future.result(20)
        except (KafkaException, TimeoutError) as error:
            log(f"  could not delete {topic}: {error}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            listed = set(admin.list_topics(timeout=2).topics)
        except KafkaException:
            listed = set(topics)
        if not listed & set(topics):
            return
        time.sleep(0.2)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = sorted((r for r in runs if "error" not in r), key=lambda r: float(r["msgs_per_s"]))
    return ok[(len(ok) - 1) // 2] if ok else None


# ------------------------------------------------------------------------------ latency


def latency_worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replication_bench latency-load")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--linger-ms", type=float, default=5.0)
    parser.add_argument("--fetch-wait-ms", type=int, default=10)
    parser.add_argument("--round-robin", action="store_true",
                        help="record n to partition n %% P (default: librdkafka's partitioner)")
    parser.add_argument("--warmup-cap", type=float, default=15.0)
    parser.add_argument("--drain-cap", type=float, default=10.0)
    args = parser.parse_args(argv)
    code = 0
    try:
        result = measure_latency(args)
    except Exception as exc:  # the harness gets the reason as a RESULT
        result = {"error": f"{type(exc).__name__}: {exc}"}
        code = 1
    client_load._emit(result)
    sys.stdout.flush()
    os._exit(code)  # no librdkafka destructors waiting on a broker


def measure_latency(args: argparse.Namespace) -> dict[str, Any]:
    size = max(args.size, HEADER.size)
    pad = os.urandom(size - HEADER.size)
    ack_ms: list[float] = []
    slow: dict[int, int] = {}  # send second -> records acked later than TARGET_P99_MS
    failed = [0]
    reader = client_load.LatencyConsumer(args.bootstrap, args.topic,
                                         {"fetch.wait.max.ms": args.fetch_wait_ms})
    e2e_ms, parts, warm_seen = reader.latencies_ms, reader.partitions, reader.warm_seen
    errors = reader.errors

    def delivered(error: Any, message: Any) -> None:
        now = time.perf_counter_ns()
        if error is not None:
            failed[0] += 1
            if len(errors) < 5:
                errors.append(str(error))
            return
        kind, seq, sent_ns = HEADER.unpack_from(message.value())
        if kind == 1:
            ack_ms.append((now - sent_ns) / 1e6)
            if ack_ms[-1] > TARGET_P99_MS:
                second = int(seq // args.rate)
                slow[second] = slow.get(second, 0) + 1

    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all",
                         "linger.ms": args.linger_ms, "on_delivery": delivered})
    # Warm-up: one record every 50 ms until the consumer has seen one end to end.
    warm_start = time.perf_counter()
    sent = 0
    while not warm_seen.is_set() and time.perf_counter() - warm_start < args.warmup_cap:
        producer.produce(args.topic, HEADER.pack(0, sent, time.perf_counter_ns()) + pad,
                         partition=parts[sent % len(parts)])
        sent += 1
        producer.poll(0)
        warm_seen.wait(0.05)
    if not warm_seen.is_set():
        reader.stop()
        raise RuntimeError(f"warm-up: no record came back within {args.warmup_cap} s")
    warmup_s = time.perf_counter() - warm_start
    # Paced: record n is due at t0 + n / rate; the wait serves delivery reports (poll), so
    # ack times are taken when they arrive, not at the next send.
    interval_ns = int(1e9 / args.rate)
    total = int(args.rate * args.seconds)
    t0 = time.perf_counter_ns()
    sent = 0
    for seq in range(total):
        due = t0 + seq * interval_ns
        while True:
            wait = (due - time.perf_counter_ns()) / 1e9
            if wait <= 0:
                break
            if wait >= 0.002:
                producer.poll(wait - 0.001)
            else:
                time.sleep(wait)
                break
        try:
            if args.round_robin:
                producer.produce(args.topic, HEADER.pack(1, seq, time.perf_counter_ns()) + pad,
                                 partition=parts[seq % len(parts)])
            else:
                producer.produce(args.topic, HEADER.pack(1, seq, time.perf_counter_ns()) + pad)
            sent += 1
        except BufferError:
            pass
        producer.poll(0)
    send_s = (time.perf_counter_ns() - t0) / 1e9
    producer.flush(args.drain_cap)
    deadline = time.perf_counter() + args.drain_cap
    while len(e2e_ms) < sent and time.perf_counter() < deadline:
        time.sleep(0.02)
    reader.stop()
    e2e = sorted(e2e_ms)
    acks = sorted(ack_ms)
    return {
        "rate": args.rate, "seconds": args.seconds, "size": size, "linger_ms": args.linger_ms,
        "fetch_wait_max_ms": args.fetch_wait_ms, "sent": sent, "received": len(e2e),
        "acked": len(acks), "failed": failed[0], "send_seconds": send_s,
        "warmup_seconds": warmup_s,
        "e2e_p50_ms": percentile(e2e, 0.50), "e2e_p99_ms": percentile(e2e, 0.99),
        "e2e_max_ms": e2e[-1] if e2e else None,
        "ack_p50_ms": percentile(acks, 0.50), "ack_p99_ms": percentile(acks, 0.99),
        "ack_max_ms": acks[-1] if acks else None, "errors": errors,
        "acks_over_target_by_send_second": dict(sorted(slow.items())),
    }


def measure_latencies(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for rf in (1, 3):
        cpu_before = cluster.cpu_seconds()
        result = run_worker([
            "bench.replication_bench", "latency-load", "--bootstrap", cluster.addresses[0],
            "--topic", f"lat-rf{rf}", "--seconds", str(args.latency_seconds),
            "--linger-ms", str(args.linger_ms), *(["--round-robin"] if args.round_robin else []),
        ], args.latency_seconds + 40)
        result["broker_cpu_s"] = round(cluster.cpu_seconds() - cpu_before, 2)
        results[f"rf{rf}"] = result
        if "error" in result:
            log(f"  RF {rf}: {result['error']}")
        else:
            log(f"  RF {rf}: e2e p50 {result['e2e_p50_ms']:.2f} ms, p99 "
                f"{result['e2e_p99_ms']:.2f} ms, max {result['e2e_max_ms']:.1f} ms; ack p50 "
                f"{result['ack_p50_ms']:.2f} ms, p99 {result['ack_p99_ms']:.2f} ms "
                f"({result['received']}/{result['sent']} received)")
    return results


# ------------------------------------------------------------------------------ failover


class FailoverTraffic:
    """A paced idempotent acks=all producer to one partition, in a thread."""

    def __init__(self, bootstrap: str, topic: str, partition: int, rate: float) -> None:
        self.sent_at: list[float] = []  # by sequence number, time.monotonic()
        self.acked_at: dict[int, float] = {}
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": 120_000, "log_level": 2,
        })
        self.thread = threading.Thread(target=self._run, args=(topic, partition, rate),
                                       name="failover-producer", daemon=True)

    def _delivered(self, error: Any, message: Any) -> None:
        now = time.monotonic()
        if error is not None:
            self.errors += 1
            return
        _kind, seq, _ = HEADER.unpack_from(message.value())
        with self.lock:
            self.acked_at[seq] = now

    def _run(self, topic: str, partition: int, rate: float) -> None:
        t0 = time.monotonic()
        seq = 0
        while not self.stop.is_set() and seq < rate * 600:
            wait = t0 + seq / rate - time.monotonic()
            if wait > 0.001:
                self.producer.poll(wait)
                continue
            self.sent_at.append(time.monotonic())
            self.producer.produce(topic, HEADER.pack(1, seq, 0) + bytes(83),
                                  partition=partition, on_delivery=self._delivered)
            seq += 1
            self.producer.poll(0)
        self.producer.flush(10)

    def first_ack_after(self, since: float) -> float | None:
        """When the first record sent at or after `since` was acknowledged."""
        with self.lock:
            times = [at for seq, at in self.acked_at.items() if self.sent_at[seq] >= since]
        return min(times) if times else None

    def first_ack_any_after(self, since: float) -> float | None:
        with self.lock:
            times = [at for at in self.acked_at.values() if at >= since]
        return min(times) if times else None


def probe_produce(bootstrap: str, topic: str, partition: int, acked_at: list[float],
                  cap_s: float) -> None:
    """A fresh acks=all producer (no stale connection or backoff) sends one record once
    the metadata shows the new leader: when the cluster itself could take the write."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                         "log_level": 2})

    def delivered(error: Any, _message: Any) -> None:
        if error is None:
            acked_at.append(time.monotonic())

    producer.produce(topic, HEADER.pack(0, 0, 0), partition=partition, on_delivery=delivered)
    producer.flush(cap_s)


def failover_case(cluster: Cluster, topic: str, partition: int, victim: int,
                  cap_s: float) -> dict[str, Any]:
    traffic = FailoverTraffic(cluster.bootstrap, topic, partition, 200.0)
    traffic.thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(traffic.acked_at) < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(traffic.acked_at) < 200:
            return {"error": f"only {len(traffic.acked_at)} records acknowledged before the kill"}
        killed_at = time.monotonic()
        cluster.kill(victim)
        admin = AdminClient({"bootstrap.servers": cluster.survivors(victim), "log_level": 2})
        probe_at: list[float] = []
        probe = threading.Thread(target=probe_produce, daemon=True, args=(
            cluster.survivors(victim), topic, partition, probe_at, cap_s))
        new_leader: int | None = None
        leader_s = ack_s = None
        end = killed_at + cap_s
        while time.monotonic() < end:
            if leader_s is None:
                try:
                    leader = partitions_of(admin, topic, 1.0)[partition].leader
                    if leader not in (victim, -1):
                        new_leader, leader_s = leader, time.monotonic() - killed_at
                        probe.start()
                except (KafkaException, KeyError):
                    pass
            if ack_s is None:
                first = traffic.first_ack_after(killed_at)
                if first is not None:
                    ack_s = first - killed_at
            if leader_s is not None and ack_s is not None:
                break
            time.sleep(0.1)
        any_ack = traffic.first_ack_any_after(killed_at)
        time.sleep(1.0)
        if probe.ident is not None:
            probe.join(cap_s)
    finally:
        traffic.stop.set()
        traffic.thread.join(20)
    return {
        "topic": topic, "partition": partition, "victim": victim, "new_leader": new_leader,
        "kill_to_metadata_leader_s": leader_s, "kill_to_first_ack_s": ack_s,
        "kill_to_first_ack_any_record_s": None if any_ack is None else any_ack - killed_at,
        "kill_to_probe_ack_s": probe_at[0] - killed_at if probe_at else None,
        "sent": len(traffic.sent_at), "acked": len(traffic.acked_at),
        "delivery_errors": traffic.errors, "cap_s": cap_s,
    }


def measure_failover(cluster: Cluster, admin: AdminClient, args: argparse.Namespace
                     ) -> dict[str, Any]:
    results: dict[str, Any] = {}
    topic = "failover-rf3"
    cases = ("leader-not-controller", "leader-is-controller")
    for case in cases:
        controller = controller_leader(cluster.bootstrap)
        leaders = {p: m.leader for p, m in partitions_of(admin, topic, 5.0).items()}
        wanted = [p for p, leader in sorted(leaders.items())
                  if leader >= 0 and (leader == controller) == (case == "leader-is-controller")]
        log(f"  {case}: controller leader {controller}, partition leaders {leaders}")
        if controller is None or not wanted:
            results[case] = {"error": f"no partition fits (controller {controller}, "
                                      f"leaders {leaders})"}
            log(f"  {case}: skipped, {results[case]['error']}")
            continue
        partition = wanted[0]
        victim = leaders[partition]
        result = failover_case(cluster, topic, partition, victim, args.failover_cap)
        result["controller_before"] = controller
        results[case] = result
        log(f"  {case}: killed broker {victim} (leader of partition {partition}); "
            f"{describe_failover(result)}")
        cluster.restart(victim)
        survivors_admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 2})
        wait_for_isr(survivors_admin, {topic: 3}, 90)
        result["controller_after"] = controller_leader(cluster.bootstrap)
        log(f"  broker {victim} restarted and back in the ISR; controller leader now "
            f"{result['controller_after']}")
    return results


def describe_failover(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"])

    def seconds(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else f"none within {result['cap_s']:.0f} s"

    return (f"new leader {result['new_leader']} in the metadata after "
            f"{seconds(result['kill_to_metadata_leader_s'])}, first ack of a record sent after "
            f"the kill after {seconds(result['kill_to_first_ack_s'])}, a fresh producer's "
            f"record (sent when the metadata showed the new leader) acknowledged after "
            f"{seconds(result['kill_to_probe_ack_s'])}")


# ------------------------------------------------------------------------------ report


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def report(results: dict[str, Any]) -> dict[str, bool | None]:
    verdicts: dict[str, bool | None] = {}
    throughput = results.get("throughput")
    if throughput:
        log()
        log("throughput, acks=all, producer in its own process (median of "
            f"{results['parameters']['repeat']} run(s) each)")
        rows = []
        for size, part in throughput.items():
            rf1, rf3 = part["median"]["rf1"], part["median"]["rf3"]
            label = "100 B" if size == "100" else "1 KiB"
            ratio = rf3["msgs_per_s"] / rf1["msgs_per_s"] if rf1 and rf3 else None
            verdicts[f"throughput_{size}"] = None if ratio is None else ratio >= TARGET_RATIO
            part["ratio"] = ratio
            rows.append([f"{label} msg/s ({part['count']:,})", fmt(rf1 and rf1["msgs_per_s"]),
                         fmt(rf3 and rf3["msgs_per_s"]), fmt(ratio, 2),
                         f">= {TARGET_RATIO:.2f} {verdict(verdicts[f'throughput_{size}'])}"])
            rows.append([f"{label} MB/s", fmt(rf1 and rf1["mb_per_s"], 1),
                         fmt(rf3 and rf3["mb_per_s"], 1), fmt(ratio, 2), ""])
            rows.append([f"{label} broker CPU s (3 brokers)", fmt(rf1 and rf1["broker_cpu_s"], 2),
                         fmt(rf3 and rf3["broker_cpu_s"], 2), "", ""])
            rows.append([f"{label} client CPU s", fmt(rf1 and rf1.get("client_cpu_s"), 2),
                         fmt(rf3 and rf3.get("client_cpu_s"), 2), "", ""])
        log(format_table(["", "RF 1", "RF 3", "RF3/RF1", "target"], rows))
    latency = results.get("latency")
    if latency:
        log()
        p = results["parameters"]
        log(f"latency, 100 B records at a paced 1,000 msg/s for {p['latency_seconds']:.0f} s, "
            f"acks=all, linger.ms={p['linger_ms']:g}, "
            f"{'round-robin' if p['round_robin'] else 'default (sticky)'} partitioner, "
            "consumer fetch.wait.max.ms=10")
        rf1, rf3 = latency["rf1"], latency["rf3"]
        rows = []
        for key, label in (("e2e_p50_ms", "end-to-end p50 ms"), ("e2e_p99_ms", "end-to-end p99 ms"),
                           ("e2e_max_ms", "end-to-end max ms"), ("ack_p50_ms", "produce ack p50 ms"),
                           ("ack_p99_ms", "produce ack p99 ms")):
            a, b = rf1.get(key), rf3.get(key)
            target = ""
            if key == "e2e_p99_ms":
                verdicts["p99"] = None if b is None else b < TARGET_P99_MS
                target = f"RF 3 < {TARGET_P99_MS:.0f} {verdict(verdicts['p99'])}"
            rows.append([label, fmt(a, 2), fmt(b, 2), fmt(b / a if a and b else None, 2), target])
        rows.append(["broker CPU s (3 brokers)", fmt(rf1.get("broker_cpu_s"), 2),
                     fmt(rf3.get("broker_cpu_s"), 2), "", ""])
        log(format_table(["", "RF 1", "RF 3", "RF3/RF1", "target"], rows))
    failover = results.get("failover")
    if failover:
        log()
        configs = results["parameters"]["config"]
        log("failover, RF 3 partition, idempotent acks=all producer at 200 msg/s, kill -9 of "
            "the partition leader, "
            + (f"broker configs {configs}" if configs else "default timeouts"))
        rows = []
        for case, result in failover.items():
            ack = result.get("kill_to_first_ack_s")
            ok = None if "error" in result else (ack is not None and ack < TARGET_FAILOVER_S)
            if case == "leader-not-controller":
                verdicts["failover"] = ok
            rows.append([case, result.get("victim", "-"),
                         fmt(result.get("kill_to_metadata_leader_s"), 2),
                         fmt(result.get("kill_to_probe_ack_s"), 2), fmt(ack, 2),
                         fmt(result.get("kill_to_first_ack_any_record_s"), 2),
                         f"< {TARGET_FAILOVER_S:.0f} s {verdict(ok)}"
                         + ("" if case == "leader-not-controller" else " (reported)")])
        log(format_table(["case", "killed", "-> new leader in metadata s",
                          "-> fresh producer's ack s", "-> first ack (sent after kill) s", "-> first ack (any) s",
                          "target"], rows))
    return verdicts


# ------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.replication_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--count-100", type=int, default=1_000_000,
                        help="100 B values (1,000,000)")
    parser.add_argument("--count-1k", type=int, default=150_000, help="1 KiB values (150,000)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per RF (3)")
    parser.add_argument("--time-cap", type=float, default=30.0, help="per throughput run (30 s)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="paced phase (10 s)")
    parser.add_argument("--linger-ms", type=float, default=5.0,
                        help="latency producer's linger.ms (5, as in make bench)")
    parser.add_argument("--round-robin", action="store_true",
                        help="latency: record n to partition n %% 3, not librdkafka's partitioner")
    parser.add_argument("--failover-cap", type=float, default=45.0,
                        help="longest wait after a kill (45 s)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["throughput", "latency", "failover"])
    parser.add_argument("--flush", default="default", help=brokers.FLUSH_HELP)
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra broker config for every node (repeatable)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--no-json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["latency-load"]:
        return latency_worker(argv[1:])
    args = build_parser().parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    configs = brokers.flush_configs(args.flush) + args.config
    flush_text = FLUSH_DEFAULT_TEXT if args.flush == "default" else f"{args.flush} ({configs})"
    load_start = os.getloadavg()
    log("flowlog replication benchmark (issue 14): 3 brokers on 127.0.0.1, each a controller "
        "voter")
    log(f"flush policy: {flush_text}")
    log("broker timeouts: defaults (broker.session.timeout.ms=9000, "
        "broker.heartbeat.interval.ms=2000, controller.quorum.election.timeout.ms=1000)"
        + (f"; extra configs {args.config}" if args.config else ""))
    log(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} "
        f"on {os.cpu_count()} CPUs")
    data_dir = Path(tempfile.mkdtemp(prefix="flowlog-bench-replication-"))
    cluster = Cluster(data_dir, configs)
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.replication_bench", *argv]),
        "flush_policy": args.flush, "flush_text": flush_text, "broker_configs": configs,
        "versions": run._versions(None), "load_average_start": load_start,
        "parameters": {k: v for k, v in vars(args).items()},
    }
    failed = False
    try:
        log(f"starting three brokers (data and logs in {data_dir}) ...")
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 2})
        wait_for_brokers(admin, NODES, START_TIMEOUT_S)
        specs = [NewTopic("failover-rf3", PARTITIONS, 3, config={"min.insync.replicas": "2"})]
        rf_topics = {"failover-rf3": 3}
        for base in [f"tput-rf{{}}-{size}" for size in SIZES] + ["lat-rf{}"]:
            for rf in (1, 3):
                config = {"min.insync.replicas": "2"} if rf == 3 else {}
                specs.append(NewTopic(base.format(rf), PARTITIONS, rf, config=config))
                rf_topics[base.format(rf)] = rf
        create_topics(admin, specs)
        wait_for_isr(admin, rf_topics, 60)
        leaders = {t: sorted(m.leader for m in partitions_of(admin, t).values())
                   for t in rf_topics}
        results["leaders"] = leaders
        log(f"topics created; partition leaders: {leaders}")
        if "throughput" not in args.skip:
            log(f"throughput ... (load average {os.getloadavg()[0]:.2f})")
            results["load_average_before_throughput"] = os.getloadavg()
            results["throughput"] = measure_throughput(cluster, admin, args)
        if "latency" not in args.skip:
            log(f"latency ... (load average {os.getloadavg()[0]:.2f})")
            results["load_average_before_latency"] = os.getloadavg()
            results["latency"] = measure_latencies(cluster, args)
        if "failover" not in args.skip:
            log(f"failover ... (load average {os.getloadavg()[0]:.2f})")
            results["load_average_before_failover"] = os.getloadavg()
            results["failover"] = measure_failover(cluster, admin, args)
    except Exception as exc:
        failed = True
        results["error"] = f"{type(exc).__name__}: {exc}"
        log(f"benchmark failed: {results['error']}")
    finally:
        for process in cluster.processes:  # a failed run may leave a node hanging: no grace
            if failed and process.poll() is None:
                process.kill()
        cluster.stop()
        if args.keep_logs:
            log(f"data dir and logs kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["load_average_end"] = os.getloadavg()
    results["verdicts"] = report(results)
    log()
    log(f"load average at end: {' '.join(f'{x:.2f}' for x in results['load_average_end'])}"
        " (the brokers and the client share the machine's cores with whatever else runs)")
    if not args.no_json:
        run.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = run.RESULTS_DIR / f"replication-{stamp}.json"
        path.write_text(json.dumps({"timestamp": stamp, **results}, indent=2, default=str) + "\n")
        log(f"results written to {path.relative_to(run.REPO_ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
