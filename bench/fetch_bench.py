"""Fetch throughput of one broker, for the zero-copy (sendfile) Fetch path.

    python -m bench.fetch_bench                       # this tree's broker
    python -m bench.fetch_bench --tree /tmp/base      # another checkout's broker (before/after)
    python -m bench.fetch_bench --zero-copy-min 0     # every non-empty read as a FileSlice
    python -m bench.fetch_bench --zero-copy-min -1    # never (bytes, as before zero copy)

It starts `python -m flowlog broker` (from --tree when given) on a free loopback
port, produces --mib MiB of --size byte values over --partitions partitions with
confluent-kafka, then measures, each --reps times:

Small batches (--batch-messages) with a small --partition-max-bytes give small
reads: that is how ZERO_COPY_MIN_BYTES was chosen.

- raw fetch: a blocking socket client sends Fetch v12 for every partition and
  reads each response whole, parsing only batch headers to advance its offsets
  (what the broker can serve; --partition-max-bytes per partition per request);
- consume: `python -m bench.client_load consume` (confluent-kafka, librdkafka
  defaults) reads every message back.

Prints MiB/s per run and the median; the broker's CPU seconds per scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.record_batch import iter_batch_spans, parse_header

READY = re.compile(r"ready on (\S+)")
TOPIC = "fetch-bench"
FETCH_VERSION = 12

# Runs the broker with fetch.ZERO_COPY_MIN_BYTES overridden (only on trees that have it).
BROKER_WRAPPER = """
import runpy, sys
threshold = int(sys.argv.pop(1))
if threshold != -2:
    import flowlog.broker.handlers.fetch as fetch
    fetch.ZERO_COPY_MIN_BYTES = threshold if threshold >= 0 else 1 << 62
runpy.run_module("flowlog", run_name="__main__")
"""


def start_broker(tree: Path | None, data_dir: Path, threshold: int) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    process = subprocess.Popen(
        [sys.executable, "-c", BROKER_WRAPPER, str(threshold), "broker",
         "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=str(tree) if tree is not None else None,
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = READY.search(line)
        if match:
            return process, match.group(1)
    raise RuntimeError("broker did not start")


def produce(bootstrap: str, partitions: int, total_bytes: int, size: int,
            batch_messages: int) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, partitions, 1)])[TOPIC].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                         "batch.num.messages": batch_messages})
    value = os.urandom(size)
    count = total_bytes // size
    for i in range(count):
        while True:
            try:
                producer.produce(TOPIC, value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0
    return count


def receive_exactly(sock: socket.socket, buffer: bytearray) -> None:
    view = memoryview(buffer)
    while view:
        got = sock.recv_into(view)
        if not got:
            raise ConnectionError("closed by broker")
        view = view[got:]


def raw_fetch(bootstrap: str, partitions: int, partition_max_bytes: int) -> tuple[float, int]:
    """(seconds, bytes of records) to read every partition to its end."""
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    offsets = dict.fromkeys(range(partitions), 0)
    ends: dict[int, int] = {}
    received = 0
    correlation_id = 0
    started = time.perf_counter()
    while len(ends) < partitions or any(offsets[p] < ends[p] for p in offsets):
        correlation_id += 1
        request = FetchRequest(
            replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=64 << 20,
            topics=[FetchRequest.FetchTopic(topic=TOPIC, partitions=[
                FetchRequest.FetchPartition(partition=p, fetch_offset=offsets[p],
                                            partition_max_bytes=partition_max_bytes)
                for p in offsets if p not in ends or offsets[p] < ends[p]])])
        frame = encode_request(RequestHeader(1, FETCH_VERSION, correlation_id, "bench"), request)
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        size_prefix = bytearray(4)
        receive_exactly(sock, size_prefix)
        body = bytearray(struct.unpack(">i", size_prefix)[0])
        receive_exactly(sock, body)
        answer_id, response = decode_response(1, FETCH_VERSION, body)
        assert answer_id == correlation_id
        for answer in response.responses[0].partitions:
            assert answer.error_code == 0, answer
            ends[answer.partition_index] = answer.high_watermark
            records = answer.records
            if records:
                spans = iter_batch_spans(records)
                start, _ = spans[-1]
                offsets[answer.partition_index] = parse_header(records, start).next_offset
                received += len(records)
    elapsed = time.perf_counter() - started
    sock.close()
    return elapsed, received


def consume(bootstrap: str, count: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.client_load", "consume", "--bootstrap", bootstrap,
         "--topic", TOPIC, "--count", str(count), "--time-cap", "120"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line[len("RESULT "):])
    return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="checkout whose broker to run (default: this one)")
    parser.add_argument("--zero-copy-min", type=int, default=-2,
                        help="override fetch.ZERO_COPY_MIN_BYTES (-1: never; default: as coded)")
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--partition-max-bytes", type=int, default=1 << 20)
    parser.add_argument("--batch-messages", type=int, default=10000,
                        help="producer batch.num.messages (small: small batches, small reads)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-consume", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fetch-bench-") as scratch:
        process, bootstrap = start_broker(args.tree, Path(scratch), args.zero_copy_min)
        try:
            count = produce(bootstrap, args.partitions, args.mib << 20, args.size,
                            args.batch_messages)
            print(f"tree={args.tree or 'this'} zero_copy_min={args.zero_copy_min} "
                  f"{count} x {args.size} B over {args.partitions} partitions, "
                  f"partition_max_bytes={args.partition_max_bytes}, "
                  f"batch.num.messages={args.batch_messages}")
            raw: list[float] = []
            cpu = cpu_seconds(process.pid)
            for _ in range(args.reps):
                elapsed, received = raw_fetch(bootstrap, args.partitions, args.partition_max_bytes)
                raw.append(received / elapsed / (1 << 20))
            raw_cpu = (cpu_seconds(process.pid) - cpu) / args.reps
            print(f"raw fetch MiB/s: {' '.join(f'{x:.0f}' for x in raw)}  "
                  f"median {statistics.median(raw):.0f}; broker CPU {raw_cpu:.2f} s per pass")
            if not args.skip_consume:
                rates: list[float] = []
                cpu = cpu_seconds(process.pid)
                for _ in range(args.reps):
                    result = consume(bootstrap, count)
                    rates.append(result["mb_per_s"])
                consume_cpu = (cpu_seconds(process.pid) - cpu) / args.reps
                print(f"consume (confluent-kafka) MB/s: {' '.join(f'{x:.0f}' for x in rates)}  "
                      f"median {statistics.median(rates):.0f}; broker CPU {consume_cpu:.2f} s per pass")
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
