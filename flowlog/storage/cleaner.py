"""One compaction run over a partition log (cleanup.policy=compact)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from flowlog.storage import checkpoint
from flowlog.storage.compaction import (
    build_offset_map,
    cleanable_segment_count,
    commit_swap,
    dirty_ratio,
    discard_cleaned,
    last_batch_of_each_producer,
    write_cleaned_segment,
)
from flowlog.storage.segment import LogSegment

if TYPE_CHECKING:
    from flowlog.storage.log import PartitionLog


@attrs.frozen(slots=True)
class CompactionResult:
    segments_cleaned: int
    records_read: int
    records_kept: int
    size_bytes_before: int
    size_bytes_after: int
    first_dirty_offset: int


def read_first_dirty_offset(log: PartitionLog) -> int:
    stored = checkpoint.read_single_offset(log.directory / checkpoint.CLEANER_OFFSET_CHECKPOINT)
    return max(stored or 0, log.log_start_offset)


def compact_log(log: PartitionLog, now_ms: int, *, force: bool = False,
                last_batches: dict[int, int] | None = None) -> CompactionResult | None:
    """Compact the closed segments old enough for min.compaction.lag.ms.

    Runs only when the uncleaned share of them reaches min.cleanable.dirty.ratio
    (or `force`). Returns None when nothing ran.
    """
    config = log.config
    count = cleanable_segment_count(log.segments, now_ms, config.min_compaction_lag_ms)
    if count == 0:
        return None
    first_dirty = read_first_dirty_offset(log)
    cleanable = log.segments[:count]
    if not force and dirty_ratio(cleanable, first_dirty) < config.min_cleanable_dirty_ratio:
        return None
    offset_map, covered = build_offset_map(cleanable)
    if last_batches is None:
        last_batches = last_batch_of_each_producer(log.segments)
    records_read = records_kept = size_before = size_after = 0
    for position in range(covered):
        old = log.segments[position]
        statistics = write_cleaned_segment(
            old, offset_map, now_ms=now_ms, delete_retention_ms=config.delete_retention_ms,
            index_size_bytes_max=config.segment_index_bytes,
            index_interval_bytes=config.index_interval_bytes, last_batches=last_batches,
        )
        records_read += statistics.records_read
        records_kept += statistics.records_kept
        size_before += statistics.size_bytes_before
        size_after += statistics.size_bytes_after
        if statistics.size_bytes_after == statistics.size_bytes_before:
            discard_cleaned(log.directory, old.base_offset)  # nothing removed: keep the original
            continue
        old.close()
        commit_swap(log.directory, old.base_offset)
        log.replace_segment(position, LogSegment.load(
            log.directory, old.base_offset, config.segment_index_bytes))
    first_dirty = log.segments[covered].base_offset
    checkpoint.write_single_offset(log.directory / checkpoint.CLEANER_OFFSET_CHECKPOINT,
                                   first_dirty)
    return CompactionResult(covered, records_read, records_kept, size_before, size_after,
                            first_dirty)
