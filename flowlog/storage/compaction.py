"""Log compaction: keep the latest record per key in closed segments.

Each cleanable segment is rewritten one for one into a replacement with the
same base offset. Offsets are preserved (gaps are allowed), a batch whose
records all survive is copied byte for byte, and a partly kept batch is
re-encoded in its own codec with its base offset, last offset delta, producer
fields and leader epoch unchanged. A batch that loses every record but is its
idempotent producer's last batch in the log is kept as an empty batch (header
only, as Kafka's cleaner does): the broker rebuilds producer state from the log
at start, and without it the producer's next sequence would look out of order. Control batches and transactional batches
are copied whole and never supersede other records (flowlog keeps no aborted
transaction index, so it cannot tell committed data from aborted).

Crash safety, as Kafka's cleaner: the replacement is written as
<base>.log.cleaned (+ .index.cleaned, .timeindex.cleaned) and fsynced; each
is renamed to .swap, the .log last (that rename commits); then each .swap is
renamed over the live file, the .log last. On open, a present .log.swap means
"finish the swap", anything else .cleaned/.swap is discarded (log_loader).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from flowlog.protocol.compression import Compression
from flowlog.protocol.record_batch import BatchHeader, parse_header
from flowlog.protocol.records import Record, build_batch, decode_batch
from flowlog.storage.checkpoint import fsync_directory
from flowlog.storage.log_loader import CLEANED_SUFFIX, SWAP_SUFFIX
from flowlog.storage.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    segment_path,
)

# The key -> latest offset map is bounded; segments past the bound wait for the next run.
OFFSET_MAP_KEYS_MAX = 1_000_000
# Index files are renamed before the .log so a committed .log.swap finds them done.
SWAP_ORDER = (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX)


@attrs.frozen(slots=True)
class CleanStatistics:
    records_read: int
    records_kept: int
    size_bytes_before: int
    size_bytes_after: int


def cleanable_segment_count(
    segments: Sequence[LogSegment], now_ms: int, min_compaction_lag_ms: int
) -> int:
    """Leading closed segments whose newest record is older than min.compaction.lag.ms."""
    count = 0
    for segment in segments[:-1]:  # never the active segment
        if segment.max_timestamp > now_ms - min_compaction_lag_ms:
            break
        count += 1
    return count


def dirty_ratio(segments: Sequence[LogSegment], first_dirty_offset: int) -> float:
    """Share of the bytes of `segments` at or after the first not-yet-cleaned offset."""
    total = sum(segment.size_bytes for segment in segments)
    if total == 0:
        return 0.0
    dirty = sum(s.size_bytes for s in segments if s.next_offset > first_dirty_offset)
    return dirty / total


def build_offset_map(segments: Sequence[LogSegment]) -> tuple[dict[bytes, int], int]:
    """Latest offset of every key in `segments`, and how many segments it covers."""
    offset_map: dict[bytes, int] = {}
    for covered, segment in enumerate(segments):
        segment_map: dict[bytes, int] = {}
        for _position, batch in segment.iter_batches():
            header, records = decode_batch(batch)
            if header.is_control or header.is_transactional:
                continue
            for record in records:
                if record.key is not None:
                    segment_map[record.key] = record.offset
        if len(offset_map.keys() | segment_map.keys()) > OFFSET_MAP_KEYS_MAX and covered:
            return offset_map, covered
        offset_map.update(segment_map)
    return offset_map, len(segments)


def last_batch_of_each_producer(segments: Sequence[LogSegment]) -> dict[int, int]:
    """Producer id -> base offset of its last batch in `segments` (the whole log)."""
    last: dict[int, int] = {}
    for segment in segments:
        for _position, header in segment.iter_headers():
            if header.producer_id >= 0:
                last[header.producer_id] = header.base_offset
    return last


def keep_record(record: Record, offset_map: dict[bytes, int], drop_tombstones: bool) -> bool:
    if record.key is None:
        return True  # nothing can supersede a record without a key
    if offset_map.get(record.key, record.offset) > record.offset:
        return False
    return not (record.value is None and drop_tombstones)


def clean_batch(
    batch: memoryview, offset_map: dict[bytes, int], now_ms: int, delete_retention_ms: int,
    last_batches: dict[int, int] | None = None,
) -> tuple[bytes | memoryview | None, int, int]:
    """The batch as it survives compaction (None if nothing does), records read, kept.

    last_batches: producer id -> base offset of its last batch in the log; such a
    batch that keeps no record survives as an empty batch (an earlier empty one goes).
    """
    header, records = decode_batch(batch)
    if header.is_control or header.is_transactional:
        return batch, len(records), len(records)
    # Tombstones live delete.retention.ms past their batch's newest timestamp.
    drop_tombstones = now_ms - delete_retention_ms >= header.max_timestamp
    kept = [record for record in records if keep_record(record, offset_map, drop_tombstones)]
    if not kept:
        producer_id = header.producer_id
        if producer_id >= 0 and (last_batches or {}).get(producer_id) == header.base_offset:
            return (rebuild_batch(header, []) if records else batch), len(records), 0
        return None, len(records), 0
    if len(kept) == len(records):
        return batch, len(records), len(kept)
    return rebuild_batch(header, kept), len(records), len(kept)


def rebuild_batch(header: BatchHeader, records: Sequence[Record]) -> bytes:
    """`header`'s batch holding `records`, with its offsets, producer fields and leader
    epoch unchanged. With no records (an empty batch kept for producer state, as
    Kafka writes it): uncompressed, both timestamps its max timestamp."""
    empty = not records
    return build_batch(
        records,
        base_offset=header.base_offset,
        compression=Compression.NONE if empty else header.compression,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        log_append_time=header.max_timestamp if header.is_log_append_time else None,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=header.max_timestamp if empty else header.base_timestamp,
    )


def write_cleaned_segment(
    segment: LogSegment, offset_map: dict[bytes, int], *, now_ms: int,
    delete_retention_ms: int, index_size_bytes_max: int, index_interval_bytes: int,
    last_batches: dict[int, int] | None = None,
) -> CleanStatistics:
    """Write `segment`'s compacted replacement as fsynced .cleaned files."""
    cleaned = LogSegment.create(segment.directory, segment.base_offset, index_size_bytes_max,
                                file_suffix=CLEANED_SUFFIX)
    records_read = records_kept = 0
    try:
        for _position, batch in segment.iter_batches():
            survivor, read, kept = clean_batch(batch, offset_map, now_ms, delete_retention_ms,
                                               last_batches)
            records_read += read
            records_kept += kept
            if survivor is None:
                continue
            header = parse_header(survivor)
            cleaned.append([survivor], base_offset=header.base_offset,
                           last_offset=header.last_offset, max_timestamp=header.max_timestamp,
                           size_bytes=header.size, index_interval_bytes=index_interval_bytes)
        cleaned.on_roll()
        cleaned.flush()
        size_after = cleaned.size_bytes
    finally:
        cleaned.close()
    return CleanStatistics(records_read, records_kept, segment.size_bytes, size_after)


def swap_steps(directory: Path, base_offset: int) -> list[tuple[Path, Path]]:
    """The renames that put a cleaned segment in place, in order; step 3 commits."""
    steps = [
        (segment_path(directory, base_offset, suffix + CLEANED_SUFFIX),
         segment_path(directory, base_offset, suffix + SWAP_SUFFIX))
        for suffix in SWAP_ORDER
    ]
    steps.extend(
        (segment_path(directory, base_offset, suffix + SWAP_SUFFIX),
         segment_path(directory, base_offset, suffix))
        for suffix in SWAP_ORDER
    )
    return steps


def commit_swap(directory: Path, base_offset: int) -> None:
    steps = swap_steps(directory, base_offset)
    for number, (source, target) in enumerate(steps, start=1):
        os.replace(source, target)
        if number in (len(SWAP_ORDER), len(steps)):
            fsync_directory(directory)


def discard_cleaned(directory: Path, base_offset: int) -> None:
    for suffix in SWAP_ORDER:
        segment_path(directory, base_offset, suffix + CLEANED_SUFFIX).unlink(missing_ok=True)
