"""Storage benchmark: PartitionLog append and read against raw file I/O of the same bytes.

    python -m bench.storage_bench [--megabytes 16] [--fsync-appends 200]

Appends 16 KiB batches with flush policy "none" (the page cache, as Kafka runs)
and compares with os.write of the same batches, two ways:

- "validate + append": the log validates the batch itself (CRC-32C included),
  as it does for any caller that passes no validated_header;
- "append, pre-validated": the broker's produce path, which validates each
  batch once (Partition.append) and hands the header to the log, so the log
  does not compute the CRC a second time.

A third row, "floor: writev only", is the least any log must do per batch in
CPython (pack the 16-byte offset/epoch prefix, slice a memoryview, one
os.writev, a counter) with no indexes or checks: the ceiling for the append
ratios. Reads the log back sequentially with 1 MiB fetches and compares with
1 MiB os.pread calls over a raw file of the same batches, written one batch per
write as the log writes them. fsync-every-append
(flush.messages=1) is reported separately against os.write + os.fsync.

"fetch to TCP socket" sends the log in 1 MiB fetches over loopback TCP to a
draining child process: read() plus the two copies today's response path adds
(encode_response's b"".join, then frame prefix + answer) and sendall, against
read_slice() and os.sendfile (zero copy) framed by the same small header.
Bounded to a few seconds; never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flowlog.protocol.record_batch import parse_header, validate_batch
from flowlog.protocol.records import Record, build_batch
from flowlog.storage.config import LogConfig
from flowlog.storage.log import PartitionLog

FETCH_SIZE_BYTES = 1 << 20  # also the read size of the raw baseline
REPEATS = 15
_PREFIX = struct.Struct(">qii")


def make_batch_of(size_bytes: int) -> bytes:
    """One batch of exactly `size_bytes` (a single record whose value fills it)."""
    value_size = size_bytes - 100
    for _ in range(200):  # converge on the exact size despite varint lengths
        record = Record(offset=0, timestamp=1_700_000_000_000, key=b"key", value=b"x" * value_size)
        batch = build_batch([record])
        if len(batch) == size_bytes:
            return batch
        value_size += size_bytes - len(batch)
    raise RuntimeError(f"could not build a batch of {size_bytes} bytes")


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def best_interleaved(raw: Callable[[], float], logged: Callable[[], float]) -> tuple[float, float]:
    """Best time of each, alternating runs so that both see the same machine load."""
    raw_times, log_times = [], []
    for _ in range(REPEATS):
        raw_times.append(raw())
        log_times.append(logged())
    return min(raw_times), min(log_times)


class AppendBench:
    """Each run writes into a fresh directory that is deleted afterwards, so dirty
    page cache from one run does not throttle the next (the kernel slows writers
    down once too much data waits for writeback)."""

    def __init__(self, root: Path, batch: bytes, batches: int) -> None:
        self.root = root
        self.batch = batch
        self.batches = batches

    def raw_append(self, *, batches: int, fsync: bool = False) -> float:
        directory = Path(tempfile.mkdtemp(dir=self.root))
        fd = os.open(directory / "raw", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            started = time.perf_counter()
            for _ in range(batches):
                os.write(fd, self.batch)
                if fsync:
                    os.fsync(fd)
            return time.perf_counter() - started
        finally:
            os.close(fd)
            shutil.rmtree(directory)

    def floor_append(self, *, batches: int) -> float:
        """The least a log does per batch: a new prefix, a view of the rest, one writev."""
        directory = Path(tempfile.mkdtemp(dir=self.root))
        fd = os.open(directory / "floor", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        batch, pack, writev = self.batch, _PREFIX.pack, os.writev
        batch_length = len(batch) - 12
        try:
            started = time.perf_counter()
            next_offset = 0
            for _ in range(batches):
                writev(fd, [pack(next_offset, batch_length, 1), memoryview(batch)[16:]])
                next_offset += 1
            return time.perf_counter() - started
        finally:
            os.close(fd)
            shutil.rmtree(directory)

    def log_append(self, config: LogConfig, *, batches: int, prevalidated: bool = False,
                   writable: bool = False) -> float:
        """Seconds spent appending (and fsyncing when the policy asks)."""
        directory = Path(tempfile.mkdtemp(dir=self.root))
        log = PartitionLog.open(directory / "topic-0", config, now_ms=0)
        # The produce path validates each batch once and hands the header over.
        header = validate_batch(self.batch) if prevalidated else None
        # The broker receives requests into writable buffers, so the log rewrites the
        # 16-byte prefix in place; bytes take the writev path. Rewriting one buffer
        # again and again is what the log does to each new request's batch.
        batch = bytearray(self.batch) if writable else self.batch
        try:
            # Outside the timed loop: the first append of a leader epoch writes and
            # fsyncs the leader-epoch checkpoint, once per leadership, not per batch.
            log.append(batch, leader_epoch=1, now_ms=0, validated_header=header)
            started = time.perf_counter()
            if header is None:
                for _ in range(batches):
                    log.append(batch, leader_epoch=1, now_ms=0)
                    if log.needs_flush(0):
                        log.flush()
            else:  # the produce path: Partition.append validated, the log trusts it
                for _ in range(batches):
                    log.append_validated(batch, header, 1, 0)
                    if log.needs_flush(0):
                        log.flush()
            return time.perf_counter() - started
        finally:
            log.abandon()  # closing would fsync everything, which is not measured
            shutil.rmtree(directory)


def raw_read(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    total = 0
    try:
        while chunk := os.pread(fd, FETCH_SIZE_BYTES, total):
            total += len(chunk)
    finally:
        os.close(fd)
    return total


def log_read(log: PartitionLog, log_read_batch: bytes) -> int:
    """Fetch the whole log 1 MiB at a time, as a consumer would."""
    offset, total = log.log_start_offset, 0
    while offset < log.log_end_offset:
        data = log.read(offset, FETCH_SIZE_BYTES)
        total += len(data)
        # Every batch in this benchmark has the same size, so the last one is found directly.
        offset = parse_header(data, len(data) - len(log_read_batch)).next_offset
    return total


DRAIN_SCRIPT = """
import socket, sys
connection = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buffer = bytearray(1 << 20)
while connection.recv_into(buffer):
    pass
"""
RESPONSE_HEAD = b"h" * 80  # stands for the response header and partition fields
RESPONSE_TAIL = b"t" * 20


def fetch_send_bench(log: PartitionLog, batch: bytes) -> tuple[float, float, int]:
    """Seconds to send the whole log in 1 MiB fetches: (copying, sendfile, bytes)."""
    listener = socket.create_server(("127.0.0.1", 0))
    drainer = subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT,
                                str(listener.getsockname()[1])])
    connection, _ = listener.accept()
    listener.close()

    def next_offset(data: bytes | memoryview) -> int:
        return parse_header(data, len(data) - len(batch)).next_offset

    def copying() -> float:
        started = time.perf_counter()
        offset = log.log_start_offset
        while offset < log.log_end_offset:
            data = log.read(offset, FETCH_SIZE_BYTES)
            answer = b"".join([RESPONSE_HEAD, len(data).to_bytes(4, "big"), data,
                               RESPONSE_TAIL])
            connection.sendall(len(answer).to_bytes(4, "big") + answer)
            offset = next_offset(data)
        return time.perf_counter() - started

    def zero_copy() -> float:
        started = time.perf_counter()
        offset, socket_fd = log.log_start_offset, connection.fileno()
        while offset < log.log_end_offset:
            file_slice = log.read_slice(offset, FETCH_SIZE_BYTES)
            assert file_slice is not None
            with file_slice:
                size = len(RESPONSE_HEAD) + 4 + len(file_slice) + len(RESPONSE_TAIL)
                connection.sendall(size.to_bytes(4, "big") + RESPONSE_HEAD
                                   + len(file_slice).to_bytes(4, "big"))
                sent = 0
                while sent < len(file_slice):
                    sent += file_slice.send(socket_fd, sent)
                connection.sendall(RESPONSE_TAIL)
                last = os.pread(file_slice.fd, len(batch),
                                file_slice.position + len(file_slice) - len(batch))
            offset = next_offset(last)
        return time.perf_counter() - started

    try:
        copy_s, sendfile_s = best_interleaved(copying, zero_copy)
    finally:
        connection.close()
        drainer.wait(timeout=10)
    return copy_s, sendfile_s, log.size_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=16, help="data appended per run")
    parser.add_argument("--batch-kib", type=int, default=16, help="size of each batch")
    parser.add_argument("--fsync-appends", type=int, default=200, help="appends with fsync")
    arguments = parser.parse_args()
    batch_size_bytes = arguments.batch_kib * 1024
    batch = make_batch_of(batch_size_bytes)
    batches = arguments.megabytes * 1024 * 1024 // batch_size_bytes
    root = Path(tempfile.mkdtemp(prefix="flowlog-bench-"))
    try:
        bench = AppendBench(root, batch, batches)
        no_flush = LogConfig()
        raw_append_s, log_append_s = best_interleaved(
            lambda: bench.raw_append(batches=batches),
            lambda: bench.log_append(no_flush, batches=batches))
        raw_append_2_s, in_place_s = best_interleaved(
            lambda: bench.raw_append(batches=batches),
            lambda: bench.log_append(no_flush, batches=batches, prevalidated=True,
                                     writable=True))
        raw_append_3_s, read_only_s = best_interleaved(
            lambda: bench.raw_append(batches=batches),
            lambda: bench.log_append(no_flush, batches=batches, prevalidated=True))
        raw_append_4_s, floor_s = best_interleaved(
            lambda: bench.raw_append(batches=batches),
            lambda: bench.floor_append(batches=batches))

        raw_path = root / "read-raw"
        # Written as the log writes, one batch per write: a file written in one big
        # write reads several percent faster from the page cache (larger folios).
        raw_fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for _ in range(batches):
            os.write(raw_fd, batch)
        os.close(raw_fd)
        log = PartitionLog.open(root / "read-log", no_flush, now_ms=0)
        for _ in range(batches):
            log.append(batch, leader_epoch=1, now_ms=0)
        raw_read_s, log_read_s = best_interleaved(
            lambda: timed(lambda: raw_read(raw_path)), lambda: timed(lambda: log_read(log, batch)))
        copy_send_s, sendfile_s, sent_bytes = fetch_send_bench(log, batch)
        log.abandon()

        every = LogConfig.from_kafka({"flush.messages": "1"})
        fsyncs = arguments.fsync_appends
        raw_fsync_s, log_fsync_s = best_interleaved(
            lambda: bench.raw_append(batches=fsyncs, fsync=True),
            lambda: bench.log_append(every, batches=fsyncs))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    size_mib = batches * batch_size_bytes / (1 << 20)
    rows = [
        ("validate + append", size_mib / raw_append_s, size_mib / log_append_s, "(CRC in log)"),
        ("append, pre-validated", size_mib / raw_append_2_s, size_mib / in_place_s,
         ">= 0.70 (writable buffer, as the broker's)"),
        ("  same, read-only bytes", size_mib / raw_append_3_s, size_mib / read_only_s,
         "(writev: prefix + rest)"),
        ("  floor: writev only", size_mib / raw_append_4_s, size_mib / floor_s,
         "(ceiling of the read-only path)"),
        ("sequential read 1 MiB", size_mib / raw_read_s, size_mib / log_read_s, ">= 0.80"),
    ]
    sent_mib = sent_bytes / (1 << 20)
    print(f"{arguments.batch_kib} KiB batches, {batches} per run ({size_mib:.0f} MiB), best of {REPEATS}")
    print("appends: flush policy none; raw = os.write of the same batches")
    print(f"{'operation':<24}{'raw MiB/s':>12}{'log MiB/s':>12}{'ratio':>8}  target")
    for name, raw, logged, target in rows:
        print(f"{name:<24}{raw:>12.0f}{logged:>12.0f}{logged / raw:>8.2f}  {target}")
    print(f"{'fetch to TCP socket':<24}{sent_mib / copy_send_s:>12.0f}"
          f"{sent_mib / sendfile_s:>12.0f}{copy_send_s / sendfile_s:>8.2f}"
          "  (read()+copies vs read_slice()+sendfile)")
    raw_us = raw_fsync_s / fsyncs * 1e6
    log_us = log_fsync_s / fsyncs * 1e6
    print(
        f"{'append + fsync each':<24}{raw_us:>10.0f}us{log_us:>10.0f}us{raw_us / log_us:>8.2f}"
        f"  (per append, {fsyncs} appends)"
    )


if __name__ == "__main__":
    main()
