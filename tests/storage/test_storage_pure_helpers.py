"""The pure bookkeeping helpers: epoch cache, roll and retention rules, index files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import make_batch, small_config

from flowlog.storage.errors import CorruptLogError
from flowlog.storage.index import OFFSET_ENTRY, TIME_ENTRY, OffsetIndex, TimeIndex
from flowlog.storage.leader_epoch import LeaderEpochCache
from flowlog.storage.log import PartitionLog
from flowlog.storage.offsets import retention_delete_count, roll_reason, segment_for_offset


def oracle_end_offset(entries: list[tuple[int, int]], epoch: int, end: int) -> tuple[int, int]:
    """OffsetForLeaderEpoch by brute force over (epoch, start) pairs."""
    if not entries or epoch < 0 or epoch > entries[-1][0]:
        return -1, -1
    if epoch == entries[-1][0]:
        return epoch, end
    higher = [(e, s) for e, s in entries if e > epoch]
    lower = [(e, s) for e, s in entries if e <= epoch]
    return (lower[-1][0] if lower else epoch), higher[0][1]


@settings(max_examples=150, deadline=None)
@given(operations=st.lists(st.tuples(st.sampled_from(["assign", "end", "start"]),
                                     st.integers(0, 8), st.integers(0, 50)), max_size=30))
def test_epoch_cache_stays_ordered_and_answers_like_the_oracle(
    operations: list[tuple[str, int, int]]
) -> None:
    cache = LeaderEpochCache()
    for kind, epoch, offset in operations:
        if kind == "assign":
            cache.assign(epoch, offset)
            assert cache.entries[-1] == (epoch, offset) or cache.entries[-1][0] == epoch
        elif kind == "end":
            cache.truncate_from_end(offset)
            assert all(start < offset for _, start in cache.entries)
        else:
            cache.truncate_from_start(offset)
            assert all(start >= offset for _, start in cache.entries)
        pairs = cache.entries
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(pairs, pairs[1:], strict=False))
        for asked in range(-1, 10):
            assert cache.end_offset_for(asked, 60) == oracle_end_offset(pairs, asked, 60)
    assert LeaderEpochCache(cache.entries).entries == cache.entries


def test_epoch_cache_rejects_negative_values() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        LeaderEpochCache().assign(-1, 0)


def test_segment_for_offset() -> None:
    bases = [0, 10, 20]
    assert [segment_for_offset(bases, o) for o in (0, 9, 10, 25, -5)] == [0, 0, 1, 2, 0]


def test_roll_reasons() -> None:
    common = dict(segment_size_bytes=100, segment_base_offset=0, first_batch_timestamp=1_000,
                  segment_created_ms=0, batch_size_bytes=50, batch_last_offset=5,
                  batch_max_timestamp=1_500, indexes_full=False, now_ms=0,
                  segment_bytes=1_000, segment_ms=1_000)
    assert roll_reason(**common) is None  # type: ignore[arg-type]
    assert roll_reason(**{**common, "segment_bytes": 140}) == "segment.bytes"  # type: ignore[arg-type]
    assert roll_reason(**{**common, "batch_max_timestamp": 2_000}) == "segment.ms"  # type: ignore[arg-type]
    assert roll_reason(**{**common, "indexes_full": True}) == "index full"  # type: ignore[arg-type]
    assert roll_reason(**{**common, "batch_last_offset": 2**31}) == "relative offset overflow"  # type: ignore[arg-type]
    no_timestamps = {**common, "first_batch_timestamp": -1, "now_ms": 1_000}
    assert roll_reason(**no_timestamps) == "segment.ms"  # type: ignore[arg-type]
    assert roll_reason(**{**common, "segment_size_bytes": 0, "segment_bytes": 1}) is None  # type: ignore[arg-type]


def test_retention_counts_a_contiguous_prefix() -> None:
    sizes, stamps = [100, 100, 100], [10, 500, 20]
    by_time = dict(closed_sizes_bytes=sizes, closed_max_timestamps=stamps, total_size_bytes=350,
                   now_ms=1_000, retention_ms=600, retention_bytes=-1)
    assert retention_delete_count(**by_time) == 1  # type: ignore[arg-type]
    assert retention_delete_count(**{**by_time, "retention_ms": 400}) == 3  # type: ignore[arg-type]
    by_size = {**by_time, "retention_ms": -1, "retention_bytes": 150}
    assert retention_delete_count(**by_size) == 2  # type: ignore[arg-type]
    untimed = {**by_time, "closed_max_timestamps": [-1, -1, -1], "retention_ms": 0}
    assert retention_delete_count(**untimed) == 0  # type: ignore[arg-type]
    emptied = {**untimed, "closed_sizes_bytes": [0, 0, 100]}
    assert retention_delete_count(**emptied) == 2  # type: ignore[arg-type]


def test_index_files_round_trip_and_reject_garbage(tmp_path: Path) -> None:
    index = OffsetIndex.create(tmp_path / "a.index", 100, 80)
    for step in range(10):
        index.append(100 + 3 * step + 2, 1_000 * step)
    assert index.file.is_full
    index.file.close()
    loaded = OffsetIndex.load(tmp_path / "a.index", 100, 80)
    assert loaded.lookup(99) == (99, 0) and loaded.lookup(106) == (105, 1_000)
    assert loaded.lookup(10**6) == (129, 9_000)
    loaded.truncate_to_position(5_000)
    assert len(loaded.file) == 5 and (tmp_path / "a.index").stat().st_size == 40
    times = TimeIndex.create(tmp_path / "a.timeindex", 100, 120)
    for timestamp, offset in [(10, 100), (10, 101), (30, 105), (20, 106)]:
        times.maybe_append(timestamp, offset)
    assert times.last_entry() == (30, 105) and times.lookup(25) == 100 and times.lookup(5) == 100
    (tmp_path / "b.index").write_bytes(b"\x00" * 12)
    with pytest.raises(CorruptLogError, match="multiple"):
        OffsetIndex.load(tmp_path / "b.index", 0, 100)
    with pytest.raises(CorruptLogError, match="missing"):
        TimeIndex.load(tmp_path / "none.timeindex", 0, 100)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(1, 2**20), st.integers(1, 2**20)), max_size=60),
       first_timestamp=st.integers(-1, 2**62))
def test_index_files_load_exactly_what_was_written(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int]],
        first_timestamp: int) -> None:
    """Loading reads each big-endian column with strided copies into typed arrays:
    the same entries must come back, at any width and sign."""
    directory = tmp_path_factory.mktemp("index")
    offsets = OffsetIndex.create(directory / "a.index", 0, 1 << 20)
    times = TimeIndex.create(directory / "a.timeindex", 0, 1 << 20)
    expected_offsets, expected_times = [], []
    offset, position, timestamp = 0, 0, first_timestamp
    for offset_step, size in steps:
        offset, position, timestamp = offset + offset_step, position + size, timestamp + size
        offsets.append(offset, position)
        times.maybe_append(timestamp, offset)
        expected_offsets.append((offset, position))
        expected_times.append((timestamp, offset))
    offsets.file.close()
    times.file.close()
    loaded = OffsetIndex.load(directory / "a.index", 0, 1 << 20)
    loaded_times = TimeIndex.load(directory / "a.timeindex", 0, 1 << 20)
    assert list(zip(loaded.file.keys, loaded.file.values, strict=True)) == expected_offsets
    assert list(zip(loaded_times.file.keys, loaded_times.file.values, strict=True)) == (
        expected_times)


def test_index_files_with_keys_out_of_order_are_refused(tmp_path: Path) -> None:
    (tmp_path / "c.index").write_bytes(OFFSET_ENTRY.pack(5, 0) + OFFSET_ENTRY.pack(5, 10))
    with pytest.raises(CorruptLogError, match="not increasing"):
        OffsetIndex.load(tmp_path / "c.index", 0, 100)
    (tmp_path / "d.index").write_bytes(OFFSET_ENTRY.pack(5, 10) + OFFSET_ENTRY.pack(6, 10))
    with pytest.raises(CorruptLogError, match="positions"):
        OffsetIndex.load(tmp_path / "d.index", 0, 100)
    (tmp_path / "e.timeindex").write_bytes(TIME_ENTRY.pack(9, 5) + TIME_ENTRY.pack(8, 6))
    with pytest.raises(CorruptLogError, match="not increasing"):
        TimeIndex.load(tmp_path / "e.timeindex", 0, 100)


def test_flush_in_a_thread_while_appending(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path, small_config(**{"segment.bytes": "2000",
                                                       "flush.messages": "5"}), now_ms=0)
    errors: list[BaseException] = []
    stop = threading.Event()

    def flusher() -> None:
        try:
            while not stop.is_set():
                log.flush()
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    thread = threading.Thread(target=flusher)
    thread.start()
    for _ in range(300):
        log.append(make_batch(2), leader_epoch=0, now_ms=0)
    stop.set()
    thread.join()
    log.flush()
    assert not errors and not log.needs_flush(10**9)
    assert log.recovery_point == log.log_end_offset == 600
    log.abandon()
    log = PartitionLog.open(tmp_path, log.config, now_ms=0)
    assert log.log_end_offset == 600
