from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import make_batch, read_all_records, reopen, small_config

from flowlog.protocol.record_batch import (
    CorruptBatchError,
    InvalidBatchError,
    iter_batch_spans,
    parse_header,
    validate_batch,
)
from flowlog.storage import segment as segment_module
from flowlog.storage.checkpoint import CLEAN_SHUTDOWN_MARKER
from flowlog.storage.errors import (
    InvalidAppendOffsetError,
    LogClosedError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
    SliceTruncatedError,
)
from flowlog.storage.index import OffsetIndex
from flowlog.storage.log import PartitionLog
from flowlog.storage.segment import PENDING_INDEX_ENTRIES_MAX


def open_log(tmp_path: Path, **overrides: str) -> PartitionLog:
    return PartitionLog.open(tmp_path / "topic-0", small_config(**overrides), now_ms=0)


def append_many(log: PartitionLog, batches: int, records: int = 3, epoch: int = 0) -> None:
    for index in range(batches):
        log.append(make_batch(records, timestamp_ms=1_000 + 10 * index), leader_epoch=epoch,
                   now_ms=0)


def test_append_assigns_offsets_and_rewrites_only_the_prefix(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    batch = make_batch(5)
    first = log.append(batch, leader_epoch=7, now_ms=0)
    second = log.append(batch, leader_epoch=7, now_ms=0)
    assert (first, second, log.log_end_offset) == (0, 5, 10)
    stored = bytes(log.read(5, 1 << 20))
    header = parse_header(stored)
    assert (header.base_offset, header.partition_leader_epoch) == (5, 7)
    assert stored[16:] == batch[16:]  # the CRC-covered part is untouched
    assert [r.offset for r in read_all_records(log)] == list(range(10))


@pytest.mark.parametrize("kind", ["bytearray", "memoryview of bytearray"])
def test_a_writable_batch_gets_its_prefix_rewritten_in_place(tmp_path: Path, kind: str) -> None:
    log = open_log(tmp_path)
    log.append(make_batch(2), leader_epoch=0, now_ms=0)
    original = make_batch(3)
    buffer = bytearray(original)
    batch = buffer if kind == "bytearray" else memoryview(buffer)
    assert log.append(batch, leader_epoch=4, now_ms=0) == 2
    # The caller's buffer now holds what the log stored: offset 2, epoch 4, same records.
    assert bytes(log.read(2, 1 << 20)) == bytes(buffer)
    assert (parse_header(buffer).base_offset, parse_header(buffer).partition_leader_epoch) == (2, 4)
    assert buffer[16:] == original[16:]
    validate_batch(buffer)  # the CRC still holds: the prefix lies outside it


def test_a_read_only_batch_is_left_untouched(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(make_batch(2), leader_epoch=0, now_ms=0)
    original = make_batch(3)
    view = memoryview(original)  # read-only: writev of a new prefix and the rest
    assert log.append(view, leader_epoch=4, now_ms=0) == 2
    assert parse_header(original).base_offset == 0
    assert parse_header(log.read(2, 1 << 20)).base_offset == 2


def test_read_edges(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "100000"})
    append_many(log, 10, records=3)  # batches [0-2] [3-5] ... [27-29]
    batch_size = parse_header(log.read(0, 1)).size
    assert log.read(30, 100) == b""
    with pytest.raises(OffsetOutOfRangeError):
        log.read(31, 100)
    # Mid-batch: the whole batch holding the offset.
    assert parse_header(log.read(4, 0)).base_offset == 3
    # max_bytes below one batch still returns exactly one batch.
    assert len(log.read(0, 1)) == batch_size
    assert len(log.read(0, 2 * batch_size + 5)) == 2 * batch_size
    # max_offset: a batch straddling it is left out.
    assert len(log.read(0, 1 << 20, max_offset=7)) == 2 * batch_size
    assert len(log.read(0, 1 << 20, max_offset=6)) == 2 * batch_size
    assert log.read(6, 1 << 20, max_offset=7) == b""
    assert log.read(0, 1 << 20, max_offset=0) == b""
    assert len(log.read(0, 1 << 20, max_offset=30)) == 10 * batch_size
    with pytest.raises(ValueError):
        log.read(0, -1)


def test_a_file_slice_is_sent_with_sendfile_and_outlives_its_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 40)
    expected = bytes(log.read(0, 1 << 20))
    file_slice = log.read_slice(0, 1 << 20)
    assert file_slice is not None and len(file_slice) == len(expected)
    assert log.read_slice(log.log_end_offset, 100) is None
    log.delete_records_before(log.segments[2].base_offset)  # deletes the slice's segment
    assert not (log.directory / f"{0:020d}.log").exists()
    sender, receiver = socket.socketpair()
    with sender, receiver, file_slice:
        sender.setblocking(False)
        received = bytearray()
        sent = 0
        while sent < len(file_slice):
            try:
                sent += file_slice.send(sender.fileno(), sent)
            except BlockingIOError:
                received += receiver.recv(1 << 16)  # a full socket: drain, as trio would wait
        while len(received) < len(expected):
            received += receiver.recv(1 << 16)
        assert bytes(received) == expected
        assert file_slice.send(sender.fileno(), sent) == 0
    assert file_slice.fd == -1


def test_a_truncated_file_slice_says_so(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "100000"})
    append_many(log, 10)
    file_slice = log.read_slice(0, 1 << 20)
    assert file_slice is not None
    log.truncate_to(15)  # the slice promised bytes that are gone now
    sender, receiver = socket.socketpair()
    with sender, receiver, file_slice:
        with pytest.raises(SliceTruncatedError):
            file_slice.read()
        sent = 0
        with pytest.raises(SliceTruncatedError):
            while True:
                sent += file_slice.send(sender.fileno(), sent)
                receiver.recv(1 << 20)
        assert sent == log.size_bytes


def test_reads_stay_within_one_segment_and_cross_to_the_next(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 40)
    assert len(log.segments) > 3
    second = log.segments[1]
    data = log.read(second.base_offset - 1, 1 << 20)
    spans = iter_batch_spans(data)
    assert parse_header(data, spans[-1][0]).next_offset == second.base_offset
    assert [r.offset for r in read_all_records(log)] == list(range(120))


def test_segments_roll_by_size_time_and_index_and_are_named_by_base_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 30)
    assert all(s.size_bytes <= 1000 for s in log.segments)
    names = sorted(p.name for p in log.directory.glob("*.log"))
    assert names == [f"{s.base_offset:020d}.log" for s in log.segments]
    assert (log.directory / f"{log.segments[1].base_offset:020d}.index").exists()
    assert (log.directory / f"{log.segments[1].base_offset:020d}.timeindex").exists()

    timed = open_log(tmp_path / "timed", **{"segment.ms": "100"})
    timed.append(make_batch(1, timestamp_ms=1_000), leader_epoch=0, now_ms=0)
    timed.append(make_batch(1, timestamp_ms=1_050), leader_epoch=0, now_ms=0)
    assert len(timed.segments) == 1
    timed.append(make_batch(1, timestamp_ms=1_100), leader_epoch=0, now_ms=0)
    assert [s.base_offset for s in timed.segments] == [0, 2]

    indexed = open_log(tmp_path / "indexed", **{"segment.index.bytes": "16",
                                                 "index.interval.bytes": "0",
                                                 "segment.bytes": "100000"})
    append_many(indexed, 10)
    assert len(indexed.segments) > 2
    assert all(len(s.offset_index.file) <= 2 for s in indexed.segments)
    assert [r.offset for r in read_all_records(indexed)] == list(range(30))


def test_follower_append_keeps_offsets_and_rejects_going_back(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    leader = open_log(tmp_path / "leader")
    leader.append(make_batch(2), leader_epoch=3, now_ms=0)
    copied = bytearray(leader.read(0, 1 << 20))
    copied[0:8] = (100).to_bytes(8, "big")  # base offset is outside the CRC
    base_offset = log.append(copied, leader_epoch=-1, now_ms=0, assign_offsets=False)
    assert (base_offset, log.log_end_offset, log.latest_epoch) == (100, 102, 3)
    with pytest.raises(InvalidAppendOffsetError):
        log.append(copied, leader_epoch=3, now_ms=0, assign_offsets=False)
    assert bytes(log.read(100, 1 << 20)) == bytes(copied)
    assert parse_header(log.read(0, 1)).base_offset == 100  # offsets 0-99 are a gap
    log = reopen(log)
    assert (log.log_start_offset, log.log_end_offset) == (0, 102)
    copied[0:8] = (5_000).to_bytes(8, "big")  # a gap inside a non-empty log is kept
    log.append(copied, leader_epoch=-1, now_ms=0, assign_offsets=False)
    assert log.log_end_offset == 5_002
    assert parse_header(log.read(102, 1)).base_offset == 5_000


def test_bad_batches_are_rejected_with_the_reason(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"max.message.bytes": "200"})
    with pytest.raises(RecordBatchTooLargeError, match="max.message.bytes"):
        log.append(make_batch(10, value_size=100), leader_epoch=0, now_ms=0)
    corrupt = bytearray(make_batch(1))
    corrupt[-1] ^= 0xFF
    with pytest.raises(CorruptBatchError):
        log.append(corrupt, leader_epoch=0, now_ms=0)
    with pytest.raises(InvalidBatchError):
        log.append(make_batch(1)[:-3], leader_epoch=0, now_ms=0)
    assert log.log_end_offset == 0 and log.size_bytes == 0


def test_log_append_time_stamps_the_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"message.timestamp.type": "LogAppendTime"})
    original = make_batch(2, timestamp_ms=5)
    assert log.append(original, leader_epoch=0, now_ms=123_456) == 0
    assert parse_header(original).max_timestamp == 6  # bytes: stamped on a copy
    header = parse_header(log.read(0, 100))
    assert header.is_log_append_time and header.max_timestamp == 123_456
    assert [r.timestamp for r in read_all_records(log)] == [123_456, 123_456]
    assert log.offset_for_timestamp(100_000) == (0, 123_456)


def test_offset_for_timestamp_returns_the_exact_record(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 40)  # batch i holds timestamps 1000+10i .. +2 at offsets 3i..3i+2
    assert log.offset_for_timestamp(0) == (0, 1_000)
    assert log.offset_for_timestamp(1_001) == (1, 1_001)
    assert log.offset_for_timestamp(1_255) == (78, 1_260)
    assert log.offset_for_timestamp(1_392) == (119, 1_392)
    assert log.offset_for_timestamp(1_393) is None
    assert log.offset_of_max_timestamp() == (119, 1_392)
    log.delete_records_before(50)
    assert log.offset_for_timestamp(0) == (50, 1_162)
    log = reopen(log)
    assert log.offset_for_timestamp(1_255) == (78, 1_260)


def test_indexes_are_rebuilt_when_deleted_or_garbled(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "2000", "index.interval.bytes": "100"})
    append_many(log, 60)
    expected = read_all_records(log)
    entries = [len(s.offset_index.file) for s in log.segments]
    directory = log.directory
    log.close()
    index_files = sorted(directory.glob("*.index"))
    index_files[0].unlink()
    index_files[1].write_bytes(b"\x00\x00\x00\x09" * 5)  # not a multiple of 8 bytes
    index_files[2].write_bytes(b"\x00\x00\x00\x05\x00\x00\x01\x00" * 2)  # not increasing
    sorted(directory.glob("*.timeindex"))[0].write_bytes(b"garbage")
    log = PartitionLog.open(directory, log.config, now_ms=0)
    assert [len(s.offset_index.file) for s in log.segments] == entries
    assert read_all_records(log) == expected
    for offset in range(0, 180, 7):
        assert parse_header(log.read(offset, 1)).base_offset == offset - offset % 3
    assert log.offset_for_timestamp(1_255) == (78, 1_260)


def test_leader_epochs_answer_and_persist(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append_many(log, 2, epoch=1)  # offsets 0-5 in epoch 1
    append_many(log, 2, epoch=3)  # 6-11 in epoch 3
    log.assign_epoch(5, log.log_end_offset)
    assert log.latest_epoch == 5
    assert log.end_offset_for_epoch(1) == (1, 6)
    assert log.end_offset_for_epoch(2) == (1, 6)
    assert log.end_offset_for_epoch(3) == (3, 12)
    assert log.end_offset_for_epoch(5) == (5, 12)
    assert log.end_offset_for_epoch(0) == (0, 0)
    assert log.end_offset_for_epoch(6) == (-1, -1)
    log = reopen(log)
    assert log.epoch_cache.entries == [(1, 0), (3, 6), (5, 12)]
    log.truncate_to(8)  # the batch 6-8 goes whole
    assert log.log_end_offset == 6 and log.epoch_cache.entries == [(1, 0)]
    log = reopen(log)
    assert log.epoch_cache.entries == [(1, 0)] and log.end_offset_for_epoch(1) == (1, 6)
    log.truncate_fully_and_start_at(50)
    assert (log.log_start_offset, log.log_end_offset, log.latest_epoch) == (50, 50, -1)
    log = reopen(log)
    assert (log.log_start_offset, log.log_end_offset) == (50, 50)
    assert log.append(make_batch(1), leader_epoch=9, now_ms=0) == 50


def test_retention_by_time_and_size_never_deletes_the_active_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000", "retention.ms": "1000"})
    append_many(log, 40)  # timestamps 1000..1392
    segments = len(log.segments)
    assert log.apply_retention(now_ms=1_500) == 0
    deleted = log.apply_retention(now_ms=1_000 + 1_000 + 200)
    assert 0 < deleted < segments
    assert log.log_start_offset == log.segments[0].base_offset
    closed = len(log.segments) - 1
    assert log.apply_retention(now_ms=10**9) == closed
    assert len(log.segments) == 1 and log.log_end_offset == 120
    log = reopen(log)
    assert log.log_start_offset == log.segments[0].base_offset

    sized = open_log(tmp_path / "sized", **{"segment.bytes": "1000", "retention.bytes": "2500"})
    append_many(sized, 40)
    sized.apply_retention(now_ms=0)
    assert sized.size_bytes >= 2500 - 1000 and sized.size_bytes - sized.segments[0].size_bytes < 2500

    compacted = open_log(tmp_path / "compacted", **{"segment.bytes": "1000",
                                                     "retention.ms": "1",
                                                     "cleanup.policy": "compact"})
    append_many(compacted, 40)
    assert compacted.apply_retention(now_ms=10**9) == 0


def test_delete_records_moves_the_log_start_and_persists(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 40)
    assert log.delete_records_before(65) == 65
    assert log.segments[0].base_offset <= 65 < log.segments[0].next_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.read(64, 100)
    assert parse_header(log.read(65, 1)).base_offset == 63  # whole batch, clients skip
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(121)
    assert log.delete_records_before(10) == 65
    log = reopen(log)
    assert log.log_start_offset == 65
    assert [r.offset for r in read_all_records(log)][:2] == [65, 66]
    log.delete_records_before(120)
    assert (log.log_start_offset, log.log_end_offset, len(log.segments)) == (120, 120, 1)


def test_flush_policy(tmp_path: Path) -> None:
    every = open_log(tmp_path, **{"flush.messages": "1"})
    assert not every.needs_flush(0)
    every.append(make_batch(1), leader_epoch=0, now_ms=0)
    assert every.needs_flush(0)
    every.flush()
    assert not every.needs_flush(0) and every.recovery_point == 1

    timed = open_log(tmp_path / "timed", **{"flush.ms": "100"})
    timed.append(make_batch(1), leader_epoch=0, now_ms=1_000)
    timed.append(make_batch(1), leader_epoch=0, now_ms=1_050)
    assert not timed.needs_flush(1_099) and timed.needs_flush(1_100)

    never = open_log(tmp_path / "never")
    append_many(never, 100)
    assert not never.needs_flush(10**12)


def test_a_validated_header_skips_the_crc_but_must_match_the_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    batch = make_batch(3)
    header = validate_batch(batch)
    assert log.append(batch, leader_epoch=0, now_ms=0, validated_header=header) == 0
    assert log.log_end_offset == 3
    other = make_batch(3, value_size=11)
    with pytest.raises(InvalidBatchError, match="validated_header"):
        log.append(other, leader_epoch=0, now_ms=0, validated_header=header)  # size differs
    # append_validated trusts its caller: no CRC, as append(validated_header=) skips it.
    corrupt = bytearray(batch)
    corrupt[-1] ^= 0xFF
    assert log.append_validated(corrupt, header, 0, 0) == 3
    with pytest.raises(CorruptBatchError):
        log.append(corrupt, leader_epoch=0, now_ms=0)
    assert log.log_end_offset == 6


def test_flush_fsyncs_exactly_the_segments_with_unsynced_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsynced: list[int] = []
    monkeypatch.setattr(segment_module.os, "fsync", fsynced.append)
    log = open_log(tmp_path, **{"segment.bytes": "1000"})

    def synced_segment_files() -> list[int]:
        """fsyncs of segment .log files (not directories, checkpoints or indexes) so far."""
        fds = {segment.fd for segment in log.segments}
        found = [fd for fd in fsynced if fd in fds]
        fsynced.clear()
        return found

    log.flush()
    assert synced_segment_files() == []  # nothing appended
    append_many(log, 1)
    assert log.unflushed_batches == 1
    log.flush()
    assert synced_segment_files() == [log.active_segment.fd] and log.recovery_point == 3
    assert log.unflushed_batches == 0 and not log.needs_flush(10**12)
    log.flush()
    assert synced_segment_files() == []
    append_many(log, 12)  # rolls: the closed segments are fsynced, indexes too
    closed = {s.fd for s in log.segments[:-1] if s.next_offset > 3}
    log.flush()
    assert set(synced_segment_files()) == closed | {log.active_segment.fd}
    assert log.recovery_point == log.log_end_offset
    # flush() read the count just before append() bumped it (a worker thread can):
    # the batch below the log end is still fsynced, and counted unflushed.
    append_many(log, 1)
    log._appended_batches -= 1
    log.flush()
    log._appended_batches += 1
    assert synced_segment_files() == [log.active_segment.fd]
    assert log.recovery_point == log.log_end_offset
    assert log.unflushed_batches == 1  # one fsync too many later, never one too few
    # A truncation lowers the recovery point; the next flush covers the new tail.
    log.flush()
    log.truncate_to(log.log_end_offset - 3)
    append_many(log, 1)
    synced_segment_files()
    log.flush()
    assert synced_segment_files() == [log.active_segment.fd]


def test_a_full_index_is_noticed_after_reopen_and_truncation(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.index.bytes": "16", "index.interval.bytes": "0",
                                "segment.bytes": "100000"})
    append_many(log, 2)
    assert log.active_segment.indexes_full  # one 12-byte time entry fills 16 bytes
    log.close()
    log = PartitionLog.open(log.directory, log.config, now_ms=0)
    assert log.active_segment.indexes_full and len(log.segments) == 1
    append_many(log, 1)
    assert len(log.segments) == 2 and not log.active_segment.indexes_full
    log.truncate_to(6)
    log.truncate_to(4)  # the second batch and its index entries go
    assert len(log.segments) == 1 and not log.active_segment.indexes_full
    append_many(log, 1)
    assert len(log.segments) == 1 and log.active_segment.indexes_full


def test_clean_shutdown_marker_lifecycle(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append_many(log, 3)
    marker = log.directory / CLEAN_SHUTDOWN_MARKER
    assert not marker.exists()
    log.close()
    assert marker.exists()
    with pytest.raises(LogClosedError):
        log.read(0, 10)
    for batch in (make_batch(1), bytearray(make_batch(1))):  # writev and write paths
        with pytest.raises(LogClosedError):
            log.append(batch, leader_epoch=0, now_ms=0)
    log = PartitionLog.open(log.directory, log.config, now_ms=0)
    assert not marker.exists() and log.log_end_offset == 9


def test_iter_batch_headers(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000"})
    append_many(log, 30)
    headers = list(log.iter_batch_headers(40))
    assert headers[0].base_offset == 39 and headers[-1].last_offset == 89
    assert [h.base_offset for h in headers] == list(range(39, 90, 3))


def test_an_empty_directory_and_stray_files(tmp_path: Path) -> None:
    directory = tmp_path / "topic-0"
    directory.mkdir()
    (directory / f"{5:020d}.index").write_bytes(b"")
    (directory / "notes.txt").write_text("kept")
    log = PartitionLog.open(directory, small_config(), now_ms=0)
    assert (log.log_start_offset, log.log_end_offset) == (0, 0)
    assert not (directory / f"{5:020d}.index").exists()
    assert (directory / "notes.txt").exists()
    assert os.path.exists(directory / f"{0:020d}.log")


@settings(max_examples=60, deadline=None)
@given(
    value_sizes=st.lists(st.integers(0, 400), min_size=1, max_size=30),
    data=st.data(),
)
def test_read_matches_a_reference_walk(value_sizes: list[int], data: st.DataObject) -> None:
    directory = Path(tempfile.mkdtemp(prefix="flowlog-read-"))
    try:
        log = PartitionLog.open(directory, small_config(**{"segment.bytes": "2000",
                                                           "index.interval.bytes": "300"}), 0)
        for index, size in enumerate(value_sizes):
            log.append(make_batch(1 + index % 4, value_size=size), leader_epoch=0, now_ms=0)
        stored = [(number, parse_header(batch), bytes(batch))
                  for number, segment in enumerate(log.segments)
                  for _position, batch in segment.iter_batches()]
        offset = data.draw(st.integers(0, log.log_end_offset))
        max_bytes = data.draw(st.integers(0, 3000))
        max_offset = data.draw(st.none() | st.integers(0, log.log_end_offset + 1))
        expected = b""
        holding = [item for item in stored if item[1].last_offset >= offset]
        if holding:
            segment_number = holding[0][0]
            for number, header, batch in holding:
                if number != segment_number:
                    break
                if max_offset is not None and header.last_offset >= max_offset:
                    break
                if expected and len(expected) + len(batch) > max_bytes:
                    break
                expected += batch
        assert bytes(log.read(offset, max_bytes, max_offset=max_offset)) == expected
        file_slice = log.read_slice(offset, max_bytes, max_offset=max_offset)
        if file_slice is None:
            assert expected == b""
        else:
            with file_slice:
                assert file_slice.read() == expected
        log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_replicated_offset_beyond_int32_of_the_segment_rolls(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(make_batch(1), leader_epoch=0, now_ms=0)
    far = bytearray(make_batch(2))
    far[0:8] = (2**31 + 10).to_bytes(8, "big")
    log.append(far, leader_epoch=0, now_ms=0, assign_offsets=False)
    assert [s.base_offset for s in log.segments] == [0, 2**31 + 10]
    assert (log.directory / f"{2**31 + 10:020d}.log").exists()
    log = reopen(log)
    assert log.log_end_offset == 2**31 + 12
    assert parse_header(log.read(1, 1)).base_offset == 2**31 + 10


@pytest.mark.parametrize("writable", [True, False], ids=["write", "writev"])
def test_a_write_cut_short_by_the_file_size_limit_leaves_no_partial_batch(
        tmp_path: Path, writable: bool) -> None:
    """RLIMIT_FSIZE makes the kernel write part of the batch, then refuse (EFBIG):
    a real short write followed by a real error, as a full disk gives."""
    log = open_log(tmp_path)
    first = make_batch(3, value_size=500)
    log.append(first, leader_epoch=0, now_ms=0)
    log.flush()  # the leader-epoch checkpoint and friends are written before the limit
    segment_path = log.active_segment.log_path
    size = len(first)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    second = make_batch(2, value_size=500)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + len(second) // 2, hard))
        with pytest.raises(OSError):
            log.append(bytearray(second) if writable else second, leader_epoch=0, now_ms=0)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert os.path.getsize(segment_path) == size and log.log_end_offset == 3
    assert log.append(second, leader_epoch=0, now_ms=0) == 3
    log = reopen(log)
    assert [r.offset for r in read_all_records(log)] == [0, 1, 2, 3, 4]


def test_a_config_change_applies_to_the_next_append(tmp_path: Path) -> None:
    """The roll limits the active segment was given come from the old config: an
    update must drop them (segment.bytes, segment.ms and max.message.bytes)."""
    log = open_log(tmp_path, **{"segment.bytes": "1000000"})
    for timestamp in (1_000, 1_001, 1_002):  # a first batch, then fast appends
        log.append(make_batch(1, timestamp_ms=timestamp), leader_epoch=0, now_ms=0)
    assert len(log.segments) == 1
    log.update_config(small_config(**{"segment.bytes": "200"}))
    log.append(make_batch(1, timestamp_ms=1_003), leader_epoch=0, now_ms=0)
    assert len(log.segments) == 2
    log.append(make_batch(1, timestamp_ms=1_004), leader_epoch=0, now_ms=0)
    log.update_config(small_config(**{"segment.ms": "10"}))
    log.append(make_batch(1, timestamp_ms=1_005), leader_epoch=0, now_ms=0)
    assert len(log.segments) == 2  # 1_005 - 1_003 < 10
    log.append(make_batch(1, timestamp_ms=1_013), leader_epoch=0, now_ms=0)
    assert len(log.segments) == 3  # 1_013 - 1_003 >= 10
    log.update_config(small_config(**{"max.message.bytes": "50"}))
    with pytest.raises(RecordBatchTooLargeError):
        log.append(bytearray(make_batch(1)), leader_epoch=0, now_ms=0)
    assert log.log_end_offset == 7


def test_queued_index_entries_are_applied_even_if_nothing_reads(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "100000000", "index.interval.bytes": "1"})
    batches = PENDING_INDEX_ENTRIES_MAX * 2 + 10  # every batch gets an entry
    batch = make_batch(1)
    for _ in range(batches):
        log.append(batch, leader_epoch=0, now_ms=0)
        assert len(log.active_segment.index_pending) <= 4 * PENDING_INDEX_ENTRIES_MAX
    assert len(log.active_segment.offset_index.file) == batches - 1  # the first gets none


def test_closed_segments_read_their_indexes_when_first_used(tmp_path: Path) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "1000", "index.interval.bytes": "100"})
    append_many(log, 40)
    expected = read_all_records(log)
    log.close()
    log = PartitionLog.open(log.directory, log.config, now_ms=0)
    closed = log.segments[:-1]
    assert len(closed) > 3
    assert all(segment._offset_index is None for segment in closed)  # noqa: SLF001
    middle = closed[len(closed) // 2]
    assert parse_header(log.read(middle.base_offset, 1)).base_offset == middle.base_offset
    assert middle._offset_index is not None and closed[0]._offset_index is None  # noqa: SLF001
    assert read_all_records(log) == expected


def test_a_closed_segment_index_found_damaged_late_is_rebuilt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = open_log(tmp_path, **{"segment.bytes": "2000", "index.interval.bytes": "100"})
    append_many(log, 40)
    expected = read_all_records(log)
    log.close()
    index_path = sorted(log.directory.glob("*.index"))[0]
    entries = bytearray(index_path.read_bytes())
    assert len(entries) >= 24
    entries[0:8], entries[8:16] = entries[8:16], entries[0:8]  # out of order; last entry intact
    index_path.write_bytes(bytes(entries))
    log = PartitionLog.open(log.directory, log.config, now_ms=0)  # only the last entry is checked
    assert read_all_records(log) == expected  # the first read loads, finds it bad, rebuilds
    assert "rebuilding its indexes" in caplog.text
    log.close()
    OffsetIndex.load(index_path, 0, 1 << 20)  # the rebuilt index was written: in order
    log = PartitionLog.open(log.directory, log.config, now_ms=0)
    assert read_all_records(log) == expected
