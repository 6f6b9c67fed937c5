"""Leader epoch cache: which leader epoch began at which offset.

A pure object; the log persists its entries to `leader-epoch-checkpoint`
whenever a method reports a change. end_offset_for() answers Kafka's
OffsetForLeaderEpoch, which followers use to truncate divergent logs.
"""

from __future__ import annotations

import bisect

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochCache:
    def __init__(self, entries: list[tuple[int, int]] | None = None) -> None:
        self.entries: list[tuple[int, int]] = []
        for epoch, start_offset in entries or []:
            self.assign(epoch, start_offset)

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset`; return whether anything changed.

        Entries that conflict (an epoch at or above `epoch`, or a start at or
        after `start_offset`) are dropped first, so epochs and offsets both
        stay increasing.
        """
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"leader epoch {epoch} / start offset {start_offset} must be >= 0")
        if self.entries:
            latest_epoch, latest_start = self.entries[-1]
            if latest_epoch == epoch and latest_start <= start_offset:
                return False
        self.entries = [
            (existing_epoch, existing_start)
            for existing_epoch, existing_start in self.entries
            if existing_epoch < epoch and existing_start < start_offset
        ]
        self.entries.append((epoch, start_offset))
        return True

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) as Kafka's OffsetForLeaderEpoch answers.

        The end offset of an epoch is the start of the next higher epoch, or the
        log end offset for the latest epoch. The epoch returned is the largest
        known epoch <= the requested one. Unknown (above the latest, or no
        entries): (-1, -1).
        """
        if requested_epoch == UNDEFINED_EPOCH or not self.entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self.latest_epoch:
            return requested_epoch, log_end_offset
        epochs = [epoch for epoch, _ in self.entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        higher_start = self.entries[higher][1]
        if higher == 0:
            # Older than every epoch we know: it ended where our first one began.
            return requested_epoch, higher_start
        return self.entries[higher - 1][0], higher_start

    def truncate_from_end(self, end_offset: int) -> bool:
        """Drop epochs that start at or after `end_offset` (log truncated there)."""
        kept = [entry for entry in self.entries if entry[1] < end_offset]
        changed = len(kept) != len(self.entries)
        self.entries = kept
        return changed

    def truncate_from_start(self, start_offset: int) -> bool:
        """Forget offsets below `start_offset`; the epoch covering it now starts there."""
        below = [entry for entry in self.entries if entry[1] <= start_offset]
        if not below:
            return False
        covering_epoch = below[-1][0]
        kept = [(covering_epoch, start_offset)]
        kept.extend(entry for entry in self.entries if entry[1] > start_offset)
        changed = kept != self.entries
        self.entries = kept
        return changed

    def clear(self) -> bool:
        changed = bool(self.entries)
        self.entries = []
        return changed
