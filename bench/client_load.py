"""One bounded confluent-kafka load, run in its own process: ``python -m bench.client_load``.

Subcommands (each stops itself by count and by wall time, and prints one line
``RESULT {json}`` on stdout for the harness to parse):

- ``setup``: check every advertised broker is on loopback, create the topics.
- ``produce``: N values of S bytes, acks=all, linger.ms=5, librdkafka batching defaults.
- ``consume``: read N messages back from offset 0 of every partition.
- ``latency``: produce at a fixed rate; a consumer thread in the same process measures
  receive time minus the send timestamp carried in the payload.

The client settings are the same for every broker; they are defined here and nowhere else.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import struct
import sys
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Producer settings: acks=all and linger.ms=5 are explicit; every batching knob stays at the
# librdkafka 2.x default (batch.num.messages=10000, batch.size=1000000,
# queue.buffering.max.messages=100000, queue.buffering.max.kbytes=1048576,
# max.in.flight.requests.per.connection=1000000, compression.type=none,
# enable.idempotence=false). Delivery reports are delivered for failures only, so the
# per-message Python callback cost does not cap the measurement.
PRODUCER_CONF: dict[str, Any] = {
    "acks": "all",
    "linger.ms": 5,
    "delivery.report.only.error": True,
}
# Consumer settings: librdkafka defaults (fetch.wait.max.ms=500, fetch.min.bytes=1,
# fetch.max.bytes=52428800, max.partition.fetch.bytes=1048576) except one:
# fetch.queue.backoff.ms=10 (default 1000). With the default, once the Python loop falls
# behind the prefetch queue (queued.min.messages=100000) librdkafka idles the partition's
# fetches for up to fetch.wait.max.ms, which put 0.5 s client-side stalls into the read-back
# of either broker, at random. confluent-kafka insists on a group.id even with assign();
# no offsets are committed.
CONSUMER_CONF: dict[str, Any] = {
    "fetch.queue.backoff.ms": 10,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
}


class LoadError(RuntimeError):
    """The load cannot run (non-loopback broker, no round trip, ...)."""


# Latency payload header: kind (0 warm-up, 1 measured), sequence number, send time in ns.
LATENCY_HEADER = struct.Struct("<BqQ")


def _emit(result: dict[str, Any]) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    print("RESULT " + json.dumps(result), flush=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of(hostport: str) -> str:
    return hostport.rsplit(":", 1)[0]


def _partitions(admin_or_client: Any, topic: str, timeout: float = 10.0) -> list[int]:
    md = admin_or_client.list_topics(topic=topic, timeout=timeout)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        raise RuntimeError(f"topic {topic!r} has no partitions in metadata: {tmd and tmd.error}")
    return sorted(tmd.partitions)


def cmd_setup(args: argparse.Namespace) -> dict[str, Any]:
    if not _is_loopback(_host_of(args.bootstrap)):
        raise LoadError(f"refusing non-loopback bootstrap {args.bootstrap}")
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    md = admin.list_topics(timeout=10)
    advertised = [f"{b.host}:{b.port}" for b in md.brokers.values()]
    bad = [a for a in advertised if not _is_loopback(_host_of(a))]
    if bad:
        raise LoadError(f"broker advertises non-loopback listener(s) {bad}; refusing to load it")
    topics = [t for t in args.topics.split(",") if t]
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=args.partitions, replication_factor=1) for t in topics],
        request_timeout=15,
    )
    created: dict[str, str] = {}
    for topic, fut in futures.items():
        try:
            fut.result(timeout=20)
            created[topic] = "created"
        except Exception as exc:  # reported, then checked just below
            created[topic] = f"error: {exc}"
    # Whatever CreateTopics said, the topics must now be visible with partitions.
    partitions = {t: len(_partitions(admin, t)) for t in topics}
    return {"advertised": advertised, "created": created, "partitions": partitions}


def cmd_produce(args: argparse.Namespace) -> dict[str, Any]:
    errors: list[str] = []
    failed = [0]

    def on_error(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            if len(errors) < 5:
                errors.append(str(err))
            failed[0] += 1

    conf = {"bootstrap.servers": args.bootstrap, "on_delivery": on_error, **PRODUCER_CONF}
    producer = Producer(conf)
    # Connect and fetch metadata before the clock starts. Values go round-robin over the
    # partitions (not the sticky partitioner) so that no partition is left empty: a consumer's
    # first fetch can name only an empty partition and then legitimately waits
    # fetch.wait.max.ms (500 ms) on any broker, which swamped short read-backs.
    parts = _partitions(producer, args.topic)
    nparts = len(parts)
    value = os.urandom(args.size)
    topic = args.topic
    produce = producer.produce
    poll = producer.poll
    start = time.perf_counter()
    deadline = start + args.time_cap
    sent = 0
    capped = False
    while sent < args.count:
        if (sent & 1023) == 0 and time.perf_counter() > deadline:
            capped = True
            break
        try:
            produce(topic, value, partition=parts[sent % nparts])
            sent += 1
        except BufferError:
            poll(0.01)  # local queue full: serve delivery reports, then retry
            if time.perf_counter() > deadline:
                capped = True
                break
    remaining = producer.flush(max(0.5, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - start
    if remaining:
        capped = True
    delivered = sent - remaining - failed[0]
    result = {
        "messages": delivered,
        "target": args.count,
        "size": args.size,
        "seconds": elapsed,
        "msgs_per_s": delivered / elapsed if elapsed > 0 else 0.0,
        "mb_per_s": delivered * args.size / elapsed / 1e6 if elapsed > 0 else 0.0,
        "failed": failed[0],
        "undelivered_at_cap": remaining,
        "capped": capped,
        "errors": list(errors),
    }
    if remaining:
        # Drop what the cap left queued so the process exits now, not after message.timeout.ms.
        producer.purge()
        producer.flush(1.0)
    return result


def cmd_consume(args: argparse.Namespace) -> dict[str, Any]:
    conf = {"bootstrap.servers": args.bootstrap, "group.id": f"bench-{os.getpid()}"}
    consumer = Consumer({**conf, **CONSUMER_CONF})
    parts = _partitions(consumer, args.topic)
    t_assign = time.perf_counter()
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
    deadline = t_assign + args.time_cap
    count = 0
    nbytes = 0
    errors: list[str] = []
    t_first: float | None = None
    t_last = t_assign
    max_gap = 0.0  # longest wait between two batches after the first: a stalled fetch
    while count < args.count:
        now = time.perf_counter()
        if now > deadline:
            break
        batch = consumer.consume(num_messages=10000, timeout=min(0.5, deadline - now))
        if not batch:
            continue
        for msg in batch:
            err = msg.error()
            if err is not None:
                if len(errors) < 5:
                    errors.append(str(err))
                continue
            count += 1
            nbytes += len(msg)
        now = time.perf_counter()
        if t_first is None:
            if count:
                t_first = now
        else:
            max_gap = max(max_gap, now - t_last)
        t_last = now
    consumer.close()
    # The rate is taken from assign() to the last message: it includes the first fetch
    # round trip but not process start-up or metadata.
    elapsed = t_last - t_assign
    return {
        "messages": count,
        "target": args.count,
        "bytes": nbytes,
        "seconds": elapsed,
        "first_message_s": (t_first - t_assign) if t_first is not None else None,
        "max_gap_s": max_gap,
        "msgs_per_s": count / elapsed if elapsed > 0 else 0.0,
        "mb_per_s": nbytes / elapsed / 1e6 if elapsed > 0 else 0.0,
        "capped": count < args.count,
        "errors": errors,
    }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


class LatencyConsumer:
    """A consumer thread reading every partition of `topic` from the start: the warm-up
    record seen (warm_seen) and each measured record's end-to-end latency (receive time
    minus the send time in its header)."""

    def __init__(self, bootstrap: str, topic: str, extra_conf: dict[str, Any] | None = None) -> None:
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.warm_seen = threading.Event()
        self._stop = threading.Event()
        self._consumer = Consumer({"bootstrap.servers": bootstrap,
                                   "group.id": f"bench-lat-{os.getpid()}",
                                   **CONSUMER_CONF, **(extra_conf or {})})
        self.partitions = _partitions(self._consumer, topic)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in self.partitions])
        self._thread = threading.Thread(target=self._run, name="latency-consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # poll(), one message at a time: consume(num_messages=N, timeout=T) waits until it
        # has N messages or T has passed, which would add up to T to every latency.
        while not self._stop.is_set():
            msg = self._consumer.poll(0.05)
            if msg is None:
                continue
            now = time.perf_counter_ns()
            if msg.error() is not None:
                if len(self.errors) < 5:
                    self.errors.append(str(msg.error()))
                continue
            kind, _seq, sent_ns = LATENCY_HEADER.unpack_from(msg.value() or b"")
            if kind == 0:
                self.warm_seen.set()
            else:
                self.latencies_ms.append((now - sent_ns) / 1e6)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def cmd_latency(args: argparse.Namespace) -> dict[str, Any]:
    size = max(args.size, LATENCY_HEADER.size)
    pad = os.urandom(size - LATENCY_HEADER.size)
    reader = LatencyConsumer(args.bootstrap, args.topic)
    latencies_ms, errors, warm_seen = reader.latencies_ms, reader.errors, reader.warm_seen
    producer = Producer({"bootstrap.servers": args.bootstrap, **PRODUCER_CONF})

    # Warm-up: one message every 50 ms until the consumer has seen one end to end.
    warm_start = time.perf_counter()
    warm_deadline = warm_start + args.warmup_cap
    warm_sent = 0
    while not warm_seen.is_set() and time.perf_counter() < warm_deadline:
        producer.produce(args.topic, LATENCY_HEADER.pack(0, warm_sent, time.perf_counter_ns()) + pad)
        warm_sent += 1
        producer.poll(0)
        warm_seen.wait(0.05)
    if not warm_seen.is_set():
        reader.stop()
        raise LoadError(f"latency warm-up: no message came back within {args.warmup_cap}s")
    warmup_s = time.perf_counter() - warm_start

    # Measured phase: a fixed schedule; a late send goes out at once (no catch-up burst
    # beyond what the schedule says), so the offered rate stays args.rate.
    interval_ns = int(1e9 / args.rate)
    total = int(args.rate * args.duration)
    t0 = time.perf_counter_ns()
    sent = 0
    for seq in range(total):
        due = t0 + seq * interval_ns
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        try:
            producer.produce(args.topic, LATENCY_HEADER.pack(1, seq, time.perf_counter_ns()) + pad)
            sent += 1
        except BufferError:
            pass
        producer.poll(0)
    send_s = (time.perf_counter_ns() - t0) / 1e9
    producer.flush(args.drain_cap)
    drain_deadline = time.perf_counter() + args.drain_cap
    while len(latencies_ms) < sent and time.perf_counter() < drain_deadline:
        time.sleep(0.02)
    reader.stop()
    values = sorted(latencies_ms)
    return {
        "rate": args.rate,
        "duration_s": args.duration,
        "size": size,
        "sent": sent,
        "received": len(values),
        "send_seconds": send_s,
        "warmup_seconds": warmup_s,
        "p50_ms": _percentile(values, 0.50),
        "p99_ms": _percentile(values, 0.99),
        "max_ms": values[-1] if values else float("nan"),
        "mean_ms": sum(values) / len(values) if values else float("nan"),
        "errors": errors,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.client_load", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap", required=True, help="HOST:PORT on loopback")

    p = sub.add_parser("setup", help="check loopback listeners, create topics")
    common(p)
    p.add_argument("--topics", required=True, help="comma-separated topic names")
    p.add_argument("--partitions", type=int, default=3)

    p = sub.add_parser("produce", help="produce throughput")
    common(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--time-cap", type=float, default=20.0)

    p = sub.add_parser("consume", help="consume throughput")
    common(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--time-cap", type=float, default=20.0)

    p = sub.add_parser("latency", help="end-to-end latency at a fixed rate")
    common(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--warmup-cap", type=float, default=10.0)
    p.add_argument("--drain-cap", type=float, default=5.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not _is_loopback(_host_of(args.bootstrap)):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2
    handlers = {
        "setup": cmd_setup,
        "produce": cmd_produce,
        "consume": cmd_consume,
        "latency": cmd_latency,
    }
    code = 0
    try:
        _emit(handlers[args.command](args))
    except Exception as exc:  # the harness gets the reason as a RESULT
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # The result is out: leave without librdkafka destructors that could wait on a broker.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
