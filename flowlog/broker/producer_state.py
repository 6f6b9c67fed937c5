"""Idempotent-producer bookkeeping of one partition (sans-IO).

Per producer id the partition remembers the epoch and the sequence ranges of
the last few batches it appended, so that a retried batch is acknowledged with
its original offset instead of being written twice, and a gap in sequences is
refused. The rules follow Kafka (brief, section 3):

- no producer id (-1): nothing is checked;
- an unknown producer id may start at any sequence (Kafka >= 2.5);
- a lower epoch is fenced (INVALID_PRODUCER_EPOCH);
- a higher epoch must start at sequence 0;
- with the same epoch, a batch matching a cached one is a duplicate; otherwise
  its first sequence must follow the last one (int32 sequences wrap to 0).

After a restart the state comes back from the latest snapshot (taken when a
segment rolls and at a clean shutdown, see producer_snapshots.py) plus a replay
of the batch headers after it; without a usable snapshot, from a replay of the
whole log. snapshot()/from_snapshot() are the bytes of a snapshot: a CRC-32C of
the payload, then the payload (JSON).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Final

import attrs
import crc32c
import orjson

from flowlog.protocol.record_batch import BatchHeader

# Kafka keeps the last five batches per producer: max.in.flight.requests.per.connection <= 5.
CACHED_BATCHES_PER_PRODUCER = 5
# Bound on tracked producers per partition; the least recently used are dropped.
PRODUCERS_PER_PARTITION_MAX = 10_000
SEQUENCE_MODULUS = 1 << 31
SNAPSHOT_VERSION = 1


class Verdict(Enum):
    APPEND = "append"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    FENCED_EPOCH = "fenced_epoch"


@attrs.frozen
class CachedBatch:
    first_sequence: int
    last_sequence: int
    base_offset: int
    last_offset: int


@attrs.define
class ProducerEntry:
    epoch: int
    batches: deque[CachedBatch] = attrs.field(
        factory=lambda: deque(maxlen=CACHED_BATCHES_PER_PRODUCER)
    )

    @property
    def last_sequence(self) -> int:
        return self.batches[-1].last_sequence if self.batches else -1


@attrs.frozen
class Check:
    verdict: Verdict
    # For DUPLICATE: the offsets the original batch got.
    duplicate_of: CachedBatch | None = None
    detail: str = ""


# The common verdict, shared: Check is frozen, so one instance serves every call.
APPEND: Final = Check(Verdict.APPEND)


def next_sequence(sequence: int) -> int:
    return (sequence + 1) % SEQUENCE_MODULUS


class PartitionProducerState:
    def __init__(self) -> None:
        # Insertion order doubles as recency order (moved to the end on use).
        self._producers: dict[int, ProducerEntry] = {}

    def __len__(self) -> int:
        return len(self._producers)

    def entry(self, producer_id: int) -> ProducerEntry | None:
        return self._producers.get(producer_id)

    def check(self, header: BatchHeader) -> Check:
        """What to do with a batch before it is appended."""
        if header.producer_id < 0:
            return APPEND
        entry = self._producers.get(header.producer_id)
        if entry is None:
            return APPEND
        epoch = header.producer_epoch
        if epoch < entry.epoch:
            return Check(
                Verdict.FENCED_EPOCH,
                detail=f"producer epoch {epoch} is older than current epoch {entry.epoch}",
            )
        first, last = header.base_sequence, header.last_sequence
        if epoch > entry.epoch:
            if first != 0:
                return Check(
                    Verdict.OUT_OF_ORDER,
                    detail=f"new epoch {epoch} must start at sequence 0, not {first}",
                )
            return APPEND
        for cached in entry.batches:
            if cached.first_sequence == first and cached.last_sequence == last:
                return Check(Verdict.DUPLICATE, duplicate_of=cached)
        expected = next_sequence(entry.last_sequence)
        if entry.batches and first != expected:
            return Check(
                Verdict.OUT_OF_ORDER,
                detail=f"expected sequence {expected} but the batch starts at {first}",
            )
        return APPEND

    def record_append(self, header: BatchHeader, base_offset: int) -> None:
        """Remember an appended batch (also used when replaying the log)."""
        if header.producer_id < 0:
            return
        entry = self._producers.pop(header.producer_id, None)
        if entry is None or header.producer_epoch != entry.epoch:
            entry = ProducerEntry(epoch=header.producer_epoch)
        if header.base_sequence >= 0:
            entry.batches.append(
                CachedBatch(
                    first_sequence=header.base_sequence,
                    last_sequence=header.last_sequence,
                    base_offset=base_offset,
                    last_offset=base_offset + header.last_offset_delta,
                )
            )
        self._producers[header.producer_id] = entry
        while len(self._producers) > PRODUCERS_PER_PARTITION_MAX:
            del self._producers[next(iter(self._producers))]

    def clear(self) -> None:
        self._producers.clear()

    def last_batches(self) -> dict[int, int]:
        """Producer id -> base offset of its last appended batch (what compaction
        must keep, if only as an empty batch)."""
        return {producer_id: entry.batches[-1].base_offset
                for producer_id, entry in self._producers.items() if entry.batches}

    def snapshot(self) -> bytes:
        """The whole state as bytes (producers in recency order)."""
        payload = orjson.dumps({"version": SNAPSHOT_VERSION, "producers": [
            [producer_id, entry.epoch,
             [[batch.first_sequence, batch.last_sequence, batch.base_offset, batch.last_offset]
              for batch in entry.batches]]
            for producer_id, entry in self._producers.items()]})
        return crc32c.crc32c(payload).to_bytes(4, "big") + payload

    @classmethod
    def from_snapshot(cls, data: bytes) -> PartitionProducerState:
        """The state snapshot() wrote. Raises ValueError for anything else (a torn or
        damaged file): the caller then replays the log instead."""
        if len(data) < 4 or crc32c.crc32c(data[4:]) != int.from_bytes(data[:4], "big"):
            raise ValueError("producer state snapshot fails its CRC")
        try:
            document = orjson.loads(data[4:])
            if document["version"] != SNAPSHOT_VERSION:
                raise ValueError(f"producer state snapshot version {document['version']}")
            state = cls()
            for producer_id, epoch, batches in document["producers"]:
                entry = ProducerEntry(epoch=int(epoch))
                entry.batches.extend(CachedBatch(*(int(value) for value in batch))
                                     for batch in batches)
                state._producers[int(producer_id)] = entry
        except (KeyError, TypeError, orjson.JSONDecodeError) as error:
            raise ValueError(f"malformed producer state snapshot: {error}") from None
        return state
