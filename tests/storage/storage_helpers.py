"""Batch builders and a reader for the storage tests (real batches via records.py)."""

from __future__ import annotations

from pathlib import Path

from flowlog.protocol.compression import Compression
from flowlog.protocol.record_batch import iter_batch_spans, parse_header
from flowlog.protocol.records import Record, build_batch, decode_batch
from flowlog.storage.config import LogConfig
from flowlog.storage.log import PartitionLog


def make_batch(
    count: int = 1,
    *,
    timestamp_ms: int = 1_000,
    key: bytes | None = b"k",
    value_size: int = 10,
    compression: Compression = Compression.NONE,
    keys: list[bytes | None] | None = None,
    values: list[bytes | None] | None = None,
) -> bytes:
    """A batch of `count` records with offsets 0..count-1 (the log reassigns them)."""
    records = []
    for index in range(count):
        record_key = keys[index] if keys is not None else key
        value = values[index] if values is not None else bytes([index % 256]) * value_size
        records.append(Record(offset=index, timestamp=timestamp_ms + index, key=record_key,
                              value=value))
    return build_batch(records, compression=compression)


def small_config(**overrides: str) -> LogConfig:
    values = {"segment.bytes": "4096", "index.interval.bytes": "256", "retention.ms": "-1"}
    values.update(overrides)
    return LogConfig.from_kafka(values)


def read_all_records(log: PartitionLog, from_offset: int | None = None) -> list[Record]:
    """Every record from `from_offset` (the log start if None) to the log end, via read()."""
    offset = log.log_start_offset if from_offset is None else from_offset
    records: list[Record] = []
    for _ in range(100_000):
        if offset >= log.log_end_offset:
            break
        data = log.read(offset, 1 << 16)
        if not data:
            break
        last = offset
        for start, size in iter_batch_spans(data):
            _header, decoded = decode_batch(memoryview(data)[start : start + size])
            records.extend(record for record in decoded if record.offset >= offset)
            last = parse_header(data, start).next_offset
        offset = last
    return records


def reopen(log: PartitionLog, config: LogConfig | None = None, now_ms: int = 0) -> PartitionLog:
    log.close()
    return PartitionLog.open(log.directory, config or log.config, now_ms)


def crash_and_reopen(log: PartitionLog, now_ms: int = 0) -> PartitionLog:
    log.abandon()
    return PartitionLog.open(log.directory, log.config, now_ms)


def segment_files(directory: Path, suffix: str) -> list[Path]:
    return sorted(directory.glob(f"*{suffix}"))
