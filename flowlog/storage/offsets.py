"""Pure offset bookkeeping: which segment holds an offset, when to roll, what retention drops."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

INT32_MAX = 2**31 - 1
NO_TIMESTAMP = -1


def segment_for_offset(base_offsets: Sequence[int], offset: int) -> int:
    """Index of the last segment whose base offset is <= `offset` (0 if none is)."""
    return max(0, bisect.bisect_right(base_offsets, offset) - 1)


def roll_reason(
    *,
    segment_size_bytes: int,
    segment_base_offset: int,
    first_batch_timestamp: int,
    segment_created_ms: int,
    batch_size_bytes: int,
    batch_last_offset: int,
    batch_max_timestamp: int,
    indexes_full: bool,
    now_ms: int,
    segment_bytes: int,
    segment_ms: int,
) -> str | None:
    """Why the active segment must roll before taking this batch, or None.

    Time is measured as Kafka does: from the segment's first batch timestamp to
    the new batch's, or from the segment's creation if it has no timestamps.
    """
    if batch_last_offset - segment_base_offset > INT32_MAX:
        return "relative offset overflow"
    if segment_size_bytes == 0:
        return None
    if segment_size_bytes + batch_size_bytes > segment_bytes:
        return "segment.bytes"
    if indexes_full:
        return "index full"
    if first_batch_timestamp >= 0 and batch_max_timestamp >= 0:
        waited_ms = batch_max_timestamp - first_batch_timestamp
    else:
        waited_ms = now_ms - segment_created_ms
    if waited_ms >= segment_ms:
        return "segment.ms"
    return None


def retention_delete_count(
    *,
    closed_sizes_bytes: Sequence[int],
    closed_max_timestamps: Sequence[int],
    total_size_bytes: int,
    now_ms: int,
    retention_ms: int,
    retention_bytes: int,
) -> int:
    """How many of the oldest closed segments retention deletes.

    A segment goes when its newest timestamp is older than retention.ms, or
    while the log minus it is still at least retention.bytes; deletion stops at
    the first segment that may stay, so the log stays a contiguous suffix.
    """
    assert len(closed_sizes_bytes) == len(closed_max_timestamps)
    count = 0
    remaining_bytes = total_size_bytes
    for size_bytes, max_timestamp in zip(closed_sizes_bytes, closed_max_timestamps, strict=True):
        # A segment without timestamps (all -1) never expires by time, only by size;
        # an empty one (compaction can leave it) always may go.
        expired = size_bytes == 0 or (retention_ms >= 0 and 0 <= max_timestamp < now_ms - retention_ms)
        oversized = retention_bytes >= 0 and remaining_bytes - size_bytes >= retention_bytes
        if not (expired or oversized):
            break
        remaining_bytes -= size_bytes
        count += 1
    return count
