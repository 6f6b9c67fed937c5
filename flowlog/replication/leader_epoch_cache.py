"""Leader epochs for replication: OffsetForLeaderEpoch answers and epoch lookups.

The cache itself (epoch -> start offset, truncated with the log) is the log's own
`flowlog.storage.leader_epoch.LeaderEpochCache`, which PartitionLog keeps in step with
every append and truncation and persists to `leader-epoch-checkpoint` (Kafka's text
format, written to a temporary file, fsynced and renamed: storage/checkpoint.py). One
cache per log, so this module adds only what replication asks of it.

`ReplicaLog` is the read-only view of a partition log the cores need; PartitionLog
satisfies it as is, and so does the simulation's in-memory log.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Protocol

import attrs

from flowlog.storage.leader_epoch import (
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    LeaderEpochCache,
)

__all__ = [
    "UNDEFINED_EPOCH",
    "UNDEFINED_EPOCH_OFFSET",
    "EpochEndOffset",
    "LeaderEpochCache",
    "ReplicaLog",
    "UNDEFINED",
    "cache_from_batches",
    "end_offset_for",
    "epoch_at",
]


class ReplicaLog(Protocol):
    """What the replication cores read from a partition log (no I/O behind it)."""

    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    @property
    def latest_epoch(self) -> int: ...

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]: ...


@attrs.frozen
class EpochEndOffset:
    """An OffsetForLeaderEpoch answer (and Fetch v12's DivergingEpoch): the largest
    epoch <= the one asked about that the log knows, and where it ends."""

    epoch: int
    end_offset: int

    @property
    def undefined(self) -> bool:
        return self.epoch == UNDEFINED_EPOCH or self.end_offset == UNDEFINED_EPOCH_OFFSET


UNDEFINED = EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)


def end_offset_for(log: ReplicaLog, epoch: int) -> EpochEndOffset:
    """Kafka's answer to OffsetForLeaderEpoch(epoch) from this log.

    The end of an epoch is the start of the next higher epoch, or the log end for the
    latest one; an epoch older than every known one ends where the first known begins
    (its data is gone); an unknown or undefined epoch gets (-1, -1).
    """
    found_epoch, end_offset = log.end_offset_for_epoch(epoch)
    return EpochEndOffset(found_epoch, end_offset)


def epoch_at(cache: LeaderEpochCache, offset: int) -> int:
    """The leader epoch of the batch holding `offset`: the epoch whose start is the
    largest <= offset, or -1 below the first entry."""
    starts = [start for _, start in cache.entries]
    position = bisect.bisect_right(starts, offset)
    return cache.entries[position - 1][0] if position else UNDEFINED_EPOCH


def cache_from_batches(batches: Iterable[tuple[int, int]]) -> LeaderEpochCache:
    """The cache a log of (base offset, partition leader epoch) batches implies, as
    recovery rebuilds it: a new entry wherever the epoch changes."""
    cache = LeaderEpochCache()
    for base_offset, epoch in batches:
        if epoch >= 0 and epoch != cache.latest_epoch:
            cache.assign(epoch, base_offset)
    return cache
