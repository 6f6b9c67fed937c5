"""Random operation sequences keep the log equal to a plain in-memory model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from storage_helpers import make_batch, small_config

from flowlog.protocol.record_batch import parse_header
from flowlog.storage.errors import OffsetOutOfRangeError
from flowlog.storage.log import PartitionLog


@attrs.define
class ModelBatch:
    base_offset: int
    last_offset: int
    body: bytes  # the CRC-covered part, which the log never changes


class LogModel:
    def __init__(self) -> None:
        self.batches: list[ModelBatch] = []
        self.start = 0
        self.end = 0

    def truncate_to(self, offset: int) -> None:
        if offset >= self.end:
            return
        if offset <= self.start:
            self.truncate_fully(offset)
            return
        kept = [b for b in self.batches if b.last_offset < offset]
        dropped = [b for b in self.batches if b.last_offset >= offset]
        self.end = kept[-1].last_offset + 1 if kept else dropped[0].base_offset
        self.batches = kept
        self.start = min(self.start, self.end)

    def truncate_fully(self, offset: int) -> None:
        self.batches = []
        self.start = self.end = offset

    def batch_holding(self, offset: int) -> ModelBatch:
        return next(b for b in self.batches if b.base_offset <= offset <= b.last_offset)


class PartitionLogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="flowlog-model-"))
        # Small enough to roll often (by size and by full indexes), big enough that a
        # truncated segment gets new index entries afterwards.
        self.config = small_config(**{"segment.bytes": "2500", "index.interval.bytes": "90",
                                      "segment.index.bytes": "240", "retention.ms": "50"})
        self.log = PartitionLog.open(self.directory, self.config, now_ms=0)
        self.model = LogModel()
        self.clock_ms = 1_000

    def teardown(self) -> None:
        self.log.abandon()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(batches=st.lists(st.tuples(st.integers(1, 5), st.integers(0, 120)),
                           min_size=1, max_size=8),
          epoch=st.integers(0, 3), writable=st.booleans())
    def append(self, batches: list[tuple[int, int]], epoch: int, writable: bool) -> None:
        for count, value_size in batches:
            self.clock_ms += 10
            batch = make_batch(count, timestamp_ms=self.clock_ms, value_size=value_size)
            # Writable batches are rewritten in place (one write), bytes go by writev.
            appended = bytearray(batch) if writable else batch
            assert self.log.append(appended, leader_epoch=epoch, now_ms=self.clock_ms) == self.model.end
            last_offset = self.model.end + count - 1
            self.model.batches.append(ModelBatch(self.model.end, last_offset, batch[16:]))
            self.model.end = last_offset + 1

    @rule()
    def roll(self) -> None:
        self.log.roll(self.clock_ms)

    @rule(data=st.data())
    def truncate_to(self, data: st.DataObject) -> None:
        # Mostly near the end, where a follower truncates; sometimes anywhere.
        low = data.draw(st.sampled_from([0, max(0, self.model.end - 20)]))
        offset = data.draw(st.integers(low, self.model.end + 2))
        self.log.truncate_to(offset)
        self.model.truncate_to(offset)

    @rule(data=st.data())
    def truncate_fully(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(0, self.model.end + 5))
        self.log.truncate_fully_and_start_at(offset)
        self.model.truncate_fully(offset)

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(0, self.model.end))
        assert self.log.delete_records_before(offset) == max(offset, self.model.start)
        self.model.start = max(offset, self.model.start)

    @rule(age_ms=st.integers(0, 200))
    def retention(self, age_ms: int) -> None:
        self.log.apply_retention(now_ms=self.clock_ms + age_ms)
        new_start = self.log.log_start_offset
        assert self.model.start <= new_start <= self.model.end
        # Only whole closed segments go, so the new start is a batch boundary.
        assert new_start == self.model.end or any(
            b.base_offset == new_start for b in self.model.batches) or new_start == self.model.start
        self.model.start = new_start

    @rule()
    def reopen(self) -> None:
        epochs = list(self.log.epoch_cache.entries)
        self.log.close()
        self.log = PartitionLog.open(self.directory, self.config, now_ms=self.clock_ms)
        assert self.log.epoch_cache.entries == epochs

    @rule()
    def crash_and_reopen(self) -> None:
        # A process crash: every write reached the page cache, so nothing is lost.
        epochs = list(self.log.epoch_cache.entries)
        self.log.abandon()
        self.log = PartitionLog.open(self.directory, self.config, now_ms=self.clock_ms)
        assert self.log.epoch_cache.entries == epochs

    @invariant()
    def epochs_are_ordered_and_inside_the_log(self) -> None:
        entries = self.log.epoch_cache.entries
        for (epoch, start), (next_epoch, next_start) in zip(entries, entries[1:], strict=False):
            assert epoch < next_epoch and start < next_start
        if entries:
            assert self.model.start <= entries[0][1] and entries[-1][1] <= self.model.end

    @invariant()
    def matches_model(self) -> None:
        log, model = self.log, self.model
        assert (log.log_start_offset, log.log_end_offset) == (model.start, model.end)
        assert log.read(model.end, 100) == b""
        with pytest.raises(OffsetOutOfRangeError):
            log.read(model.end + 1, 100)
        if model.start > 0:
            with pytest.raises(OffsetOutOfRangeError):
                log.read(model.start - 1, 100)
        for offset in range(model.start, model.end):
            data = bytes(log.read(offset, 1))
            expected = model.batch_holding(offset)
            header = parse_header(data)
            assert (header.base_offset, header.last_offset) == (
                expected.base_offset, expected.last_offset)
            assert data[16:] == expected.body


PartitionLogMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None)
test_partition_log_matches_model = PartitionLogMachine.TestCase
