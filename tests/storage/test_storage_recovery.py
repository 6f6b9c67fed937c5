"""Damaged files at random byte positions: what was before the damage survives, nothing after."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import make_batch, read_all_records, small_config

from flowlog.protocol.record_batch import iter_batch_spans, parse_header
from flowlog.storage.log import PartitionLog

CONFIG = small_config(**{"segment.bytes": "1500", "index.interval.bytes": "200"})


def build_log(directory: Path, value_sizes: list[int]) -> PartitionLog:
    log = PartitionLog.open(directory, CONFIG, now_ms=0)
    for index, value_size in enumerate(value_sizes):
        log.append(make_batch(1 + index % 3, timestamp_ms=1_000 + index, value_size=value_size),
                   leader_epoch=index // 4, now_ms=0)
    return log


def stored_batches(directory: Path) -> list[tuple[int, int, int, int]]:
    """(segment number, start, end, next offset) of every batch in file order."""
    found = []
    for number, path in enumerate(sorted(directory.glob("*.log"))):
        data = path.read_bytes()
        for start, size in iter_batch_spans(data):
            found.append((number, start, start + size, parse_header(data, start).next_offset))
    return found


@settings(max_examples=60, deadline=None)
@given(
    value_sizes=st.lists(st.integers(0, 300), min_size=1, max_size=25),
    damage=st.sampled_from(["cut", "flip"]),
    choice=st.data(),
)
def test_damage_keeps_exactly_the_batches_before_it(
    value_sizes: list[int], damage: str, choice: st.DataObject
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="flowlog-recovery-"))
    try:
        log = build_log(directory, value_sizes)
        before = read_all_records(log)
        log.abandon()  # a crash: no flush, no clean-shutdown marker
        batches = stored_batches(directory)
        segment_paths = sorted(directory.glob("*.log"))
        number, start, end, _next = choice.draw(st.sampled_from(batches))
        path = segment_paths[number]
        if damage == "cut":
            # A cut exactly between two batches of a closed segment looks like a legal
            # offset gap (compaction leaves those), so only the last segment gets one.
            is_last = number == len(segment_paths) - 1
            position = choice.draw(st.integers(start if is_last else start + 1, end - 1))
            os.truncate(path, position)
        else:
            # Bytes 0-7 and 12-15 (base offset, leader epoch) lie outside the CRC.
            within = choice.draw(st.sampled_from([*range(8, 12), *range(16, end - start)]))
            position = start + within
            with open(path, "r+b") as file:
                file.seek(position)
                byte = file.read(1)[0]
                file.seek(position)
                file.write(bytes([byte ^ (1 << choice.draw(st.integers(0, 7)))]))
        survivors = [b for b in batches if (b[0], b[1]) < (number, start)]
        expected_end = survivors[-1][3] if survivors else 0
        log = PartitionLog.open(directory, CONFIG, now_ms=0)
        assert log.log_end_offset == expected_end
        assert read_all_records(log) == [r for r in before if r.offset < expected_end]
        assert log.active_segment.base_offset <= expected_end
        # The recovered log takes appends and reads them back after a clean restart.
        log.append(make_batch(2), leader_epoch=99, now_ms=0)
        log.close()
        log = PartitionLog.open(directory, CONFIG, now_ms=0)
        assert log.log_end_offset == expected_end + 2
        assert [r.offset for r in read_all_records(log)][-2:] == [expected_end, expected_end + 1]
        assert log.epoch_cache.entries[-1] == (99, expected_end)
        log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_torn_tail_is_cut_and_the_indexes_are_rebuilt(tmp_path: Path) -> None:
    log = build_log(tmp_path, [100] * 30)
    before = read_all_records(log)
    end = log.log_end_offset
    log.abandon()
    tail = sorted(tmp_path.glob("*.log"))[-1]
    with open(tail, "ab") as file:
        file.write(make_batch(3)[:40])  # half a header: a write torn by power loss
    sorted(tmp_path.glob("*.index"))[-1].write_bytes(b"\xff" * 24)
    log = PartitionLog.open(tmp_path, CONFIG, now_ms=0)
    assert log.log_end_offset == end and read_all_records(log) == before
    assert tail.stat().st_size == log.active_segment.size_bytes


def test_a_cut_after_a_clean_shutdown_is_still_found(tmp_path: Path) -> None:
    log = build_log(tmp_path, [100] * 30)
    log.close()
    tail = sorted(tmp_path.glob("*.log"))[-1]
    spans = iter_batch_spans(tail.read_bytes())
    os.truncate(tail, spans[-1][0] + 5)
    log = PartitionLog.open(tmp_path, CONFIG, now_ms=0)
    assert log.active_segment.size_bytes == spans[-1][0]


def test_flushed_segments_are_not_rescanned(tmp_path: Path) -> None:
    log = build_log(tmp_path, [100] * 40)
    log.flush()
    assert log.recovery_point == log.log_end_offset
    log.append(make_batch(1), leader_epoch=20, now_ms=0)
    before = read_all_records(log)
    log.abandon()
    # Damage in a flushed, older segment's CRC-covered body is not looked for...
    first = sorted(tmp_path.glob("*.log"))[0]
    with open(first, "r+b") as file:
        file.seek(70)
        file.write(b"\x00")
    log = PartitionLog.open(tmp_path, CONFIG, now_ms=0)
    # ...so the restart kept every segment: only the tail was scanned.
    assert log.log_end_offset == before[-1].offset + 1
    assert len(sorted(tmp_path.glob("*.log"))) == len(log.segments) > 2


def test_a_batch_whose_offsets_go_back_ends_the_log(tmp_path: Path) -> None:
    log = build_log(tmp_path, [50] * 6)
    log.abandon()
    path = sorted(tmp_path.glob("*.log"))[-1]
    spans = iter_batch_spans(path.read_bytes())
    with open(path, "r+b") as file:  # base offset is outside the CRC: only order catches it
        file.seek(spans[-1][0])
        file.write((0).to_bytes(8, "big"))
    log = PartitionLog.open(tmp_path, CONFIG, now_ms=0)
    assert log.active_segment.size_bytes == spans[-1][0]
