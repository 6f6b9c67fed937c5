"""The metadata log file: appends survive reopen; a torn or garbage tail is cut on open."""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlog.controller.metadata_log import (
    ENTRY_HEADER_SIZE_BYTES,
    ENTRY_PAYLOAD_SIZE_MAX_BYTES,
    LOG_FILE_NAME,
    CorruptMetadataLogError,
    LogEntry,
    MetadataLog,
)

ENTRIES = [LogEntry(0, 0, b"first"), LogEntry(3, 0, b""), LogEntry(4, 2, b"third entry")]


def write_entries(directory: Path) -> None:
    with MetadataLog.open(directory) as log:
        for entry in ENTRIES:
            log.append(entry.offset, entry.epoch, entry.payload)


def test_a_new_log_is_empty(tmp_path: Path) -> None:
    with MetadataLog.open(tmp_path / "nested" / "dir") as log:
        assert log.last_offset == -1 and list(log.read_from(0)) == []
        assert log.recovery.entry_count == 0 and log.size_bytes == 0
    assert (tmp_path / "nested" / "dir" / LOG_FILE_NAME).exists()


def test_entries_survive_reopen_and_read_from_an_offset(tmp_path: Path) -> None:
    write_entries(tmp_path)
    with MetadataLog.open(tmp_path) as log:
        assert list(log.read_from(0)) == ENTRIES
        assert list(log.read_from(1)) == ENTRIES[1:]
        assert list(log.read_from(4)) == ENTRIES[2:]
        assert list(log.read_from(5)) == []
        assert (log.last_offset, log.last_epoch) == (4, 2)
        assert log.recovery.truncated_bytes == 0 and log.recovery.entry_count == 3


def test_append_checks_offset_epoch_and_size(tmp_path: Path) -> None:
    write_entries(tmp_path)
    with MetadataLog.open(tmp_path) as log:
        with pytest.raises(ValueError, match="not after"):
            log.append(4, 2, b"x")
        with pytest.raises(ValueError, match="epoch 1"):
            log.append(5, 1, b"x")
        with pytest.raises(ValueError, match="over"):
            log.append(5, 2, bytes(ENTRY_PAYLOAD_SIZE_MAX_BYTES + 1))
        size_bytes = log.size_bytes
    assert (tmp_path / LOG_FILE_NAME).stat().st_size == size_bytes


def last_entry_start(directory: Path) -> int:
    with MetadataLog.open(directory) as log:
        assert log.last_offset == ENTRIES[-1].offset
        return log.size_bytes - ENTRY_HEADER_SIZE_BYTES - len(ENTRIES[-1].payload)


def test_a_tail_cut_at_any_byte_of_the_last_entry_is_dropped(tmp_path: Path) -> None:
    write_entries(tmp_path)
    path = tmp_path / LOG_FILE_NAME
    whole = path.read_bytes()
    start = last_entry_start(tmp_path)
    for cut in range(start, len(whole)):
        path.write_bytes(whole[:cut])
        with MetadataLog.open(tmp_path) as log:
            assert list(log.read_from(0)) == ENTRIES[:-1], cut
            assert log.recovery.truncated_bytes == cut - start
            # The log goes on from the cut: the lost entry's offset is free again.
            log.append(4, 2, b"again")
        with MetadataLog.open(tmp_path) as log:
            assert list(log.read_from(4)) == [LogEntry(4, 2, b"again")]


def test_a_flipped_bit_in_the_last_entry_cuts_it(tmp_path: Path) -> None:
    write_entries(tmp_path)
    path = tmp_path / LOG_FILE_NAME
    whole = bytearray(path.read_bytes())
    start = last_entry_start(tmp_path)
    for position in range(start, len(whole)):
        damaged = bytearray(whole)
        damaged[position] ^= 0x10
        path.write_bytes(bytes(damaged))
        with MetadataLog.open(tmp_path) as log:
            assert list(log.read_from(0)) == ENTRIES[:-1], position
        assert path.stat().st_size == start


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=200))
def test_garbage_after_the_last_entry_is_cut(tmp_path: Path, garbage: bytes) -> None:
    directory = tmp_path / garbage.hex()[:40]
    write_entries(directory)
    path = directory / LOG_FILE_NAME
    clean_size = path.stat().st_size
    with path.open("ab") as file:
        file.write(garbage)
    with MetadataLog.open(directory) as log:
        assert list(log.read_from(0)) == ENTRIES
        assert log.recovery.truncated_bytes == len(garbage)
    assert path.stat().st_size == clean_size


def raw_entry(offset: int, epoch: int, payload: bytes) -> bytes:
    covered = struct.pack(">qi", offset, epoch) + payload
    return struct.pack(">II", len(covered), crc32c.crc32c(covered)) + covered


def test_crc_valid_entries_out_of_order_are_refused_not_cut(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE_NAME).write_bytes(raw_entry(5, 0, b"a") + raw_entry(5, 0, b"b"))
    with pytest.raises(CorruptMetadataLogError, match="offset 5"):
        MetadataLog.open(tmp_path)
    (tmp_path / LOG_FILE_NAME).write_bytes(raw_entry(5, 3, b"a") + raw_entry(6, 2, b"b"))
    with pytest.raises(CorruptMetadataLogError, match="epoch 2"):
        MetadataLog.open(tmp_path)


def test_the_file_format_is_as_documented(tmp_path: Path) -> None:
    with MetadataLog.open(tmp_path) as log:
        log.append(7, 1, b"payload")
    assert (tmp_path / LOG_FILE_NAME).read_bytes() == raw_entry(7, 1, b"payload")
