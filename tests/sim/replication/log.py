"""One replica's partition log in memory, with what survives a crash.

It keeps PartitionLog's semantics where replication depends on them: a leader's append
writes the base offset and its epoch into the batch prefix; a follower's append keeps
the leader's bytes and takes the batch's epoch into the epoch cache (the real
flowlog.storage LeaderEpochCache); truncate_to drops every batch holding an offset >=
the target and the epochs starting at or after the new end; the epoch checkpoint is
written (fsynced) on every change; on reopening, epochs past the surviving end are
dropped as log_loader does.

Durability: batches are durable once a flush that covered them completed. A crash
keeps the durable prefix and, if the page cache is lost (a power cut), a random prefix
of the rest; a process crash keeps everything written.
"""

from __future__ import annotations

import random

import attrs

from flowlog.protocol.record_batch import (
    iter_batch_spans,
    pack_offset_and_epoch_into,
    parse_header,
)
from flowlog.protocol.records import Record, build_batch
from flowlog.storage.leader_epoch import LeaderEpochCache

# PartitionLog.truncate_to must drop epoch entries at the log end even when no batch
# goes (a former leader's epoch with no data); the bug-injection docs flip this.
TRUNCATE_EPOCHS_AT_LOG_END = True


@attrs.frozen
class StoredBatch:
    base_offset: int
    next_offset: int
    epoch: int
    data: bytes


def client_batch(value: bytes, timestamp_ms: int) -> bytes:
    """A one-record batch as a producer sends it (offset 0, epoch -1)."""
    return build_batch([Record(offset=0, timestamp=timestamp_ms, key=None, value=value)])


@attrs.define
class DurableImage:
    """What is on disk: survives the process."""

    batches: list[StoredBatch] = attrs.Factory(list)
    epochs: list[tuple[int, int]] = attrs.Factory(list)
    high_watermark: int = 0


class SimLog:
    def __init__(self, image: DurableImage | None = None) -> None:
        image = image or DurableImage()
        self.batches: list[StoredBatch] = list(image.batches)
        self.epoch_cache = LeaderEpochCache(image.epochs)
        # As log_loader: epochs that began in a lost tail go (one at the end stays).
        self.epoch_cache.truncate_from_end(self.log_end_offset + 1)
        self.durable_count = len(self.batches)
        self.checkpointed_high_watermark = min(image.high_watermark, self.log_end_offset)

    # --- ReplicaLog ----------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return 0

    @property
    def log_end_offset(self) -> int:
        return self.batches[-1].next_offset if self.batches else 0

    @property
    def latest_epoch(self) -> int:
        return self.epoch_cache.latest_epoch

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self.epoch_cache.end_offset_for(epoch, self.log_end_offset)

    # --- writes --------------------------------------------------------------------------

    def append_as_leader(self, batch: bytes, epoch: int) -> StoredBatch:
        data = bytearray(batch)
        header = parse_header(data)
        base = self.log_end_offset
        pack_offset_and_epoch_into(data, 0, base, header.batch_length, epoch)
        stored = StoredBatch(base, base + header.last_offset_delta + 1, epoch, bytes(data))
        self._add(stored)
        return stored

    def append_as_follower(self, records: bytes | memoryview) -> None:
        for start, size in iter_batch_spans(records):
            header = parse_header(records, start)
            assert header.base_offset >= self.log_end_offset, "follower append below the log end"
            self._add(StoredBatch(header.base_offset, header.next_offset,
                                  header.partition_leader_epoch, bytes(records[start:start + size])))

    def _add(self, stored: StoredBatch) -> None:
        self.batches.append(stored)
        if stored.epoch != self.epoch_cache.latest_epoch:
            self.epoch_cache.assign(stored.epoch, stored.base_offset)

    def assign_epoch(self, epoch: int) -> None:
        """A new leader's epoch starts at its log end (Partition.makeLeader)."""
        self.epoch_cache.assign(epoch, self.log_end_offset)

    def truncate_to(self, offset: int) -> None:
        if offset >= self.log_end_offset:
            if TRUNCATE_EPOCHS_AT_LOG_END:
                self.epoch_cache.truncate_from_end(self.log_end_offset)
            return
        kept = [batch for batch in self.batches if batch.next_offset <= offset]
        self.batches = kept
        # ftruncate reaches the disk with the file's metadata: what is cut stays cut.
        self.durable_count = min(self.durable_count, len(kept))
        self.epoch_cache.truncate_from_end(self.log_end_offset)

    # --- flush and crash -----------------------------------------------------------------

    @property
    def flushed_offset(self) -> int:
        return self.batches[self.durable_count - 1].next_offset if self.durable_count else 0

    def flush_covering(self) -> int:
        """The batch count a flush started now makes durable."""
        return len(self.batches)

    def flush_completed(self, count: int, high_watermark: int) -> None:
        # A truncation meanwhile may have cut below what the flush started with.
        self.durable_count = max(self.durable_count, min(count, len(self.batches)))
        self.checkpointed_high_watermark = min(high_watermark, self.flushed_offset)

    def image_after_crash(self, rng: random.Random, lose_page_cache: bool) -> DurableImage:
        kept = len(self.batches)
        if lose_page_cache:
            kept = rng.randint(self.durable_count, len(self.batches))
        return DurableImage(list(self.batches[:kept]), list(self.epoch_cache.entries),
                            self.checkpointed_high_watermark)

    # --- reads ---------------------------------------------------------------------------

    def read(self, offset: int, end_offset: int, batches_max: int) -> bytes:
        """Whole batches from the one holding `offset`, none reaching end_offset."""
        out = []
        for batch in self._from(offset):
            if batch.next_offset > end_offset or len(out) >= batches_max:
                break
            out.append(batch.data)
        return b"".join(out)

    def batch_at(self, base_offset: int) -> StoredBatch | None:
        for batch in self._from(base_offset):
            return batch if batch.base_offset == base_offset else None
        return None

    def _from(self, offset: int) -> list[StoredBatch]:
        # Binary search on base offsets: logs stay small, but reads are frequent.
        low, high = 0, len(self.batches)
        while low < high:
            middle = (low + high) // 2
            if self.batches[middle].next_offset <= offset:
                low = middle + 1
            else:
                high = middle
        return self.batches[low:]
