"""`flowlog perf produce|consume`: throughput and latency, in the spirit of Kafka's perf tools.

Every run is bounded by its record count and by --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import trio

from flowlog.cli.common import (
    UsageError,
    add_client_options,
    bootstrap_servers,
    client_options,
    run_client_command,
)
from flowlog.cli.output import print_json
from flowlog.client import Consumer, DeliveryHandle, Producer, TopicPartition

DEFAULT_MAX_SECONDS = 120.0
# Deliveries awaited by the latency collector but not yet acknowledged.
PENDING_DELIVERIES_MAX = 100_000
PERCENTILES = (50, 95, 99, 99.9)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    perf = commands.add_parser("perf", help="measure produce or consume throughput")
    actions = perf.add_subparsers(dest="action", metavar="ACTION", required=True)

    produce = actions.add_parser("produce", help="produce N records of a fixed size")
    produce.add_argument("--topic", required=True)
    produce.add_argument("--num-records", type=int, required=True, metavar="N")
    produce.add_argument("--record-size", type=int, default=100, metavar="BYTES")
    produce.add_argument("--throughput", type=float, default=-1, metavar="PER_SECOND",
                         help="target records per second (-1: as fast as possible)")
    produce.add_argument("--acks", choices=["all", "1", "0"], default="all")
    produce.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"],
                         default="none")
    produce.add_argument("--linger-ms", type=int, default=5)
    produce.add_argument("--batch-size", type=int, default=262_144, metavar="BYTES")
    produce.set_defaults(command=perf_produce)

    consume = actions.add_parser("consume", help="consume N records from the beginning")
    consume.add_argument("--topic", required=True)
    consume.add_argument("--messages", type=int, required=True, metavar="N")
    consume.set_defaults(command=perf_consume)

    for parser in (produce, consume):
        parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
        add_client_options(parser)
        parser.set_defaults(run=lambda args: run_client_command(args.command, args))


def percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(len(sorted_values) * percent / 100))
    return sorted_values[index]


def _report(args: argparse.Namespace, what: str, records: int, payload_bytes: int,
            elapsed_s: float, latencies_ms: list[float] | None = None) -> None:
    elapsed_s = max(elapsed_s, 1e-9)
    result: dict[str, object] = {
        "operation": what, "records": records, "seconds": round(elapsed_s, 3),
        "records_per_second": round(records / elapsed_s, 1),
        "megabytes_per_second": round(payload_bytes / elapsed_s / 1e6, 2),
    }
    if latencies_ms is not None:
        latencies_ms.sort()
        result["latency_ms"] = {
            f"p{p}": round(percentile(latencies_ms, p), 3) for p in PERCENTILES
        } | {"max": round(latencies_ms[-1], 3) if latencies_ms else 0.0}
    if args.json:
        print_json(result)
        return
    line = (f"{records} records in {elapsed_s:.2f} s: {result['records_per_second']:,} records/s, "
            f"{result['megabytes_per_second']} MB/s")
    if latencies_ms is not None:
        spread = ", ".join(f"{k} {v} ms" for k, v in result["latency_ms"].items())  # type: ignore[attr-defined]
        line += f"; latency {spread}"
    print(line)


async def perf_produce(args: argparse.Namespace) -> int:
    if args.num_records < 1 or args.record_size < 0:
        raise UsageError("--num-records must be >= 1 and --record-size >= 0")
    value = os.urandom(args.record_size)
    latencies_ms: list[float] = []
    send_channel, receive_channel = trio.open_memory_channel[tuple[float, DeliveryHandle]](
        PENDING_DELIVERIES_MAX
    )

    async def collect() -> None:
        # Deliveries complete in send order per partition, so awaiting them in order
        # measures each one's acknowledgement time closely enough.
        async with receive_channel:
            async for sent_at, handle in receive_channel:
                await handle.wait()
                latencies_ms.append((time.perf_counter() - sent_at) * 1000)

    options = client_options(
        args, acks=args.acks if args.acks == "all" else int(args.acks),
        compression_type=args.compression, linger_ms=args.linger_ms,
        batch_size_bytes=args.batch_size,
    )
    sent = 0
    started = time.perf_counter()
    with trio.move_on_after(args.max_seconds):
        async with Producer(bootstrap_servers(args), **options) as producer, \
                trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            async with send_channel:
                for sent in range(1, args.num_records + 1):
                    if args.throughput > 0:
                        await trio.sleep_until(
                            trio.current_time() + max(0.0, started + sent / args.throughput
                                                      - time.perf_counter())
                        )
                    handle = await producer.send(args.topic, value)
                    await send_channel.send((time.perf_counter(), handle))
    elapsed_s = time.perf_counter() - started
    if len(latencies_ms) < args.num_records:
        print(f"stopped after --max-seconds {args.max_seconds}", file=sys.stderr)
    _report(args, "produce", len(latencies_ms), len(latencies_ms) * args.record_size,
            elapsed_s, latencies_ms)
    return 0


async def perf_consume(args: argparse.Namespace) -> int:
    if args.messages < 1:
        raise UsageError("--messages must be >= 1")
    received = 0
    payload_bytes = 0
    async with Consumer(bootstrap_servers(args), **client_options(args)) as consumer:
        partitions = [TopicPartition(args.topic, p)
                      for p in await consumer.partitions_for(args.topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        started = time.perf_counter()
        with trio.move_on_after(args.max_seconds):
            while received < args.messages:
                batch = await consumer.getmany(max_records=10_000, timeout_ms=1_000)
                for records in batch.values():
                    received += len(records)
                    payload_bytes += sum(len(r.value or b"") for r in records)
        elapsed_s = time.perf_counter() - started
    if received < args.messages:
        print(f"stopped after --max-seconds {args.max_seconds}", file=sys.stderr)
    _report(args, "consume", received, payload_bytes, elapsed_s)
    return 0
