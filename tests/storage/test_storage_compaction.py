"""Compaction keeps the latest record per key, every kept offset, and survives crashes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import make_batch, read_all_records, small_config

from flowlog.protocol.compression import Compression
from flowlog.protocol.records import Record, build_batch
from flowlog.storage.compaction import swap_steps, write_cleaned_segment
from flowlog.storage.log import PartitionLog

COMPACT = {"cleanup.policy": "compact", "delete.retention.ms": "1000", "segment.bytes": "1200"}
KEYS = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", None]


def expected_after_compaction(
    records: list[Record], cleaned_below: int, drop_tombstones: bool
) -> list[Record]:
    latest: dict[bytes, int] = {}
    for record in records:
        if record.offset < cleaned_below and record.key is not None:
            latest[record.key] = record.offset
    kept = []
    for record in records:
        if record.offset >= cleaned_below or record.key is None:
            kept.append(record)
        elif latest[record.key] == record.offset and not (record.value is None and drop_tombstones):
            kept.append(record)
    return kept


batch_strategy = st.tuples(
    st.lists(st.tuples(st.sampled_from(KEYS), st.booleans()), min_size=1, max_size=6),
    st.sampled_from(list(Compression)),
)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(batch_strategy, min_size=1, max_size=30), late=st.booleans())
def test_compaction_keeps_the_latest_value_per_key(
    batches: list[tuple[list[tuple[bytes | None, bool]], Compression]], late: bool
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="flowlog-compact-"))
    try:
        log = PartitionLog.open(directory, small_config(**COMPACT), now_ms=0)
        for number, (entries, codec) in enumerate(batches):
            keys = [key for key, _ in entries]
            values = [None if tombstone else b"v%d-%d" % (number, i)
                      for i, (_, tombstone) in enumerate(entries)]
            log.append(make_batch(len(entries), timestamp_ms=1_000 + number, keys=keys,
                                  values=values, compression=codec),
                       leader_epoch=0, now_ms=0)
        log.roll(now_ms=0)
        before = read_all_records(log)
        now_ms = 10**6 if late else 1_500  # tombstones expire 1000 ms after their batch
        result = log.compact(now_ms, force=True)
        assert result is not None
        expected = expected_after_compaction(before, log.active_segment.base_offset, late)
        assert read_all_records(log) == expected
        # Compacting again changes nothing; a restart sees the same records.
        log.compact(now_ms, force=True)
        log.close()
        log = PartitionLog.open(directory, log.config, now_ms=0)
        assert read_all_records(log) == expected
        assert log.log_end_offset == before[-1].offset + 1
        log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def fill(log: PartitionLog, batches: int, keys: int = 4) -> None:
    for number in range(batches):
        key = b"key-%d" % (number % keys)
        log.append(make_batch(1, timestamp_ms=1_000 + number, keys=[key],
                              values=[b"value-%d" % number]), leader_epoch=0, now_ms=0)


def test_lag_and_dirty_ratio_decide_when_to_clean(tmp_path: Path) -> None:
    config = small_config(**COMPACT, **{"min.compaction.lag.ms": "500"})
    log = PartitionLog.open(tmp_path, config, now_ms=0)
    fill(log, 60)
    assert len(log.segments) > 2
    assert log.compact(now_ms=1_000) is None  # every record is younger than the lag
    result = log.compact(now_ms=10_000)
    assert result is not None and result.records_kept < result.records_read
    assert log.compact(now_ms=10_000) is None  # nothing dirty left
    delete_only = PartitionLog.open(tmp_path / "delete", small_config(), now_ms=0)
    fill(delete_only, 60)
    assert delete_only.compact(now_ms=10_000, force=True) is None


def test_transactional_and_control_batches_are_kept_whole(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path, small_config(**COMPACT), now_ms=0)
    fill(log, 3, keys=1)  # offsets 0-2, all key-0
    transactional = build_batch(
        [Record(offset=0, timestamp=2_000, key=b"key-0", value=b"in a transaction")],
        producer_id=7, producer_epoch=0, base_sequence=0, transactional=True)
    log.append(transactional, leader_epoch=0, now_ms=0)
    fill(log, 1, keys=1)  # offset 4 supersedes everything before
    log.roll(now_ms=0)
    log.compact(now_ms=10**6, force=True)
    assert [(r.offset, r.value) for r in read_all_records(log)] == [
        (3, b"in a transaction"), (4, b"value-0")]


@pytest.mark.parametrize("steps_done", range(len(swap_steps(Path("."), 0)) + 1))
def test_interrupted_compaction_recovers_to_old_or_new(tmp_path: Path, steps_done: int) -> None:
    config = small_config(**{**COMPACT, "segment.bytes": "100000"})
    crashed, finished = tmp_path / "crashed", tmp_path / "finished"
    log = PartitionLog.open(crashed, config, now_ms=0)
    fill(log, 40)
    log.roll(now_ms=0)
    fill(log, 3)
    original = read_all_records(log)
    log.close()
    shutil.copytree(crashed, finished)
    reference = PartitionLog.open(finished, config, now_ms=0)
    reference.compact(now_ms=10**6, force=True)
    compacted = read_all_records(reference)
    assert len(compacted) < len(original)

    log = PartitionLog.open(crashed, config, now_ms=0)
    segment = log.segments[0]
    write_cleaned_segment(segment, {b"key-%d" % k: 36 + k for k in range(4)}, now_ms=10**6,
                          delete_retention_ms=1000, index_size_bytes_max=config.segment_index_bytes,
                          index_interval_bytes=config.index_interval_bytes)
    for source, target in swap_steps(crashed, segment.base_offset)[:steps_done]:
        os.replace(source, target)
    log.abandon()
    log = PartitionLog.open(crashed, config, now_ms=0)
    committed = steps_done >= 3
    assert read_all_records(log) == (compacted if committed else original)
    leftovers = [p.name for p in crashed.iterdir() if p.name.endswith((".cleaned", ".swap"))]
    assert leftovers == []


def idempotent_batch(producer_id: int, sequence: int, key: bytes, value: bytes,
                     timestamp_ms: int, count: int = 1) -> bytes:
    records = [Record(offset=i, timestamp=timestamp_ms, key=key, value=value + b"%d" % i)
               for i in range(count)]
    return build_batch(records, producer_id=producer_id, producer_epoch=0,
                       base_sequence=sequence)


def test_a_producers_last_batch_survives_as_an_empty_batch(tmp_path: Path) -> None:
    """Producer 1's last batch is wholly superseded by producer 2: it stays as a
    header with producer 1's sequences (its state survives a restart), while its
    earlier superseded batch goes; a later compaction drops the empty batch once
    producer 1 has a newer one."""
    log = PartitionLog.open(tmp_path, small_config(**COMPACT), now_ms=0)
    log.append(idempotent_batch(1, 0, b"k", b"a", 1_000), leader_epoch=0, now_ms=0)  # 0
    log.append(idempotent_batch(1, 1, b"k", b"b", 1_001, count=2), leader_epoch=0,
               now_ms=0)  # 1-2
    log.append(idempotent_batch(2, 0, b"k", b"c", 1_002), leader_epoch=0, now_ms=0)  # 3
    log.roll(now_ms=0)
    log.append(make_batch(1, keys=[b"other"]), leader_epoch=0, now_ms=0)  # 4, active
    log.compact(now_ms=10**6, force=True)

    headers = list(log.iter_batch_headers(0))
    assert [(h.base_offset, h.producer_id, h.base_sequence, h.last_offset_delta,
             h.records_count) for h in headers] == [
        (1, 1, 1, 1, 0),  # producer 1's last batch, emptied: sequences 1-2 kept
        (3, 2, 0, 0, 1),
        (4, -1, -1, 0, 1),
    ]
    assert headers[0].max_timestamp == 1_001
    assert [(r.offset, r.value) for r in read_all_records(log)] == [(3, b"c0"), (4, b"\x00" * 10)]
    log.close()
    log = PartitionLog.open(tmp_path, log.config, now_ms=0)  # recovery accepts it
    assert log.log_end_offset == 5 and len(list(log.iter_batch_headers(0))) == 3

    log.append(idempotent_batch(1, 3, b"k2", b"d", 1_003), leader_epoch=0, now_ms=0)  # 5
    log.roll(now_ms=0)
    log.compact(now_ms=10**6, force=True)
    assert [(h.base_offset, h.producer_id) for h in log.iter_batch_headers(0)] == [
        (3, 2), (4, -1), (5, 1)]
    log.close()


def test_max_timestamp_lookup_skips_the_timestamp_of_an_empty_batch(tmp_path: Path) -> None:
    """The emptied batch keeps its max timestamp (as Kafka's does), so the segment's
    max belongs to no record: ListOffsets MAX_TIMESTAMP must still find a record."""
    log = PartitionLog.open(tmp_path, small_config(**COMPACT), now_ms=0)
    log.append(idempotent_batch(1, 0, b"k", b"late", 5_000), leader_epoch=0, now_ms=0)  # 0
    log.append(idempotent_batch(2, 0, b"k", b"early", 2_000), leader_epoch=0, now_ms=0)  # 1
    log.append(idempotent_batch(2, 1, b"j", b"early", 1_500), leader_epoch=0, now_ms=0)  # 2
    log.roll(now_ms=0)
    assert log.offset_of_max_timestamp() == (0, 5_000)
    log.compact(now_ms=10**6, force=True)
    assert [h.records_count for h in log.iter_batch_headers(0)] == [0, 1, 1]
    assert log.offset_of_max_timestamp() == (1, 2_000)


def test_the_callers_producer_map_decides_which_emptied_batches_stay(tmp_path: Path) -> None:
    """The broker passes what its producer state knows instead of the cleaner reading
    every header: a producer it no longer tracks keeps no empty batch."""
    def compacted_headers(last_batches: dict[int, int] | None) -> list[tuple[int, int]]:
        log = PartitionLog.open(tmp_path / str(last_batches), small_config(**COMPACT), now_ms=0)
        log.append(idempotent_batch(1, 0, b"k", b"a", 1_000), leader_epoch=0, now_ms=0)
        log.append(idempotent_batch(2, 0, b"k", b"b", 1_001), leader_epoch=0, now_ms=0)
        log.roll(now_ms=0)
        log.compact(now_ms=10**6, force=True, last_batches=last_batches)
        headers = [(h.producer_id, h.records_count) for h in log.iter_batch_headers(0)]
        log.close()
        return headers
    assert compacted_headers(None) == [(1, 0), (2, 1)]  # read from the log itself
    assert compacted_headers({1: 0, 2: 1}) == [(1, 0), (2, 1)]
    assert compacted_headers({2: 1}) == [(2, 1)]
