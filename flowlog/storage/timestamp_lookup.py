"""ListOffsets by timestamp: the first record at or after a target time."""

from __future__ import annotations

from collections.abc import Sequence

from flowlog.protocol.records import decode_batch
from flowlog.storage.segment import LogSegment

# Segments are scanned oldest first; a log never has more than this many.
SEGMENTS_MAX = 1_000_000


def find_offset_for_timestamp(
    segments: Sequence[LogSegment], timestamp_ms: int, log_start_offset: int
) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record with timestamp >= `timestamp_ms`."""
    assert len(segments) <= SEGMENTS_MAX
    for segment in segments:
        if segment.max_timestamp < timestamp_ms or segment.next_offset <= log_start_offset:
            continue
        found = segment.find_by_timestamp(timestamp_ms)
        if found is None:
            continue
        for _position, batch in segment.iter_batches(found[0]):
            result = _first_record_at_or_after(batch, timestamp_ms, log_start_offset)
            if result is not None:
                return result
    return None


def _first_record_at_or_after(
    batch: memoryview, timestamp_ms: int, log_start_offset: int
) -> tuple[int, int] | None:
    header, records = decode_batch(batch)
    if header.max_timestamp < timestamp_ms or header.last_offset < log_start_offset:
        return None
    if header.is_log_append_time:
        # Every record of a LogAppendTime batch carries the batch's time.
        offsets = [record.offset for record in records if record.offset >= log_start_offset]
        return (offsets[0], header.max_timestamp) if offsets else None
    for record in records:
        if record.offset >= log_start_offset and record.timestamp >= timestamp_ms:
            return record.offset, record.timestamp
    return None


def find_max_timestamp_offset(
    segments: Sequence[LogSegment], log_start_offset: int
) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record carrying the log's largest timestamp
    (ListOffsets MAX_TIMESTAMP); None for an empty log."""
    assert len(segments) <= SEGMENTS_MAX
    best: LogSegment | None = None
    for segment in segments:
        if segment.next_offset <= log_start_offset or segment.size_bytes == 0:
            continue
        if best is None or segment.max_timestamp > best.max_timestamp:
            best = segment
    if best is None:
        return None
    found = find_offset_for_timestamp([best], best.max_timestamp, log_start_offset)
    if found is not None:
        return found
    # No readable record carries that segment's max timestamp: it came from an empty
    # batch compaction kept, or from records below the log start. Scan the records.
    return _scan_for_max_timestamp(segments, log_start_offset)


def _scan_for_max_timestamp(
    segments: Sequence[LogSegment], log_start_offset: int
) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None  # (timestamp, offset)
    for segment in segments:
        if segment.next_offset <= log_start_offset:
            continue
        for _position, batch in segment.iter_batches():
            header, records = decode_batch(batch)
            for record in records:
                if record.offset < log_start_offset:
                    continue
                timestamp = header.max_timestamp if header.is_log_append_time else record.timestamp
                if best is None or timestamp > best[0]:
                    best = (timestamp, record.offset)
    return None if best is None else (best[1], best[0])
