"""The in-memory Raft log: a snapshot, the entries after it, and what is not yet durable.

Sans-IO. The driver's durable copy lags this one: `pending_from` is the first index the
next Ready must write (everything from it on overwrites what the driver holds), and
`persisted_index` is the last index the driver has acknowledged. A received snapshot
waits in `pending_snapshot` until a Ready hands it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowlog.raft.messages import Entry, Snapshot


class RaftLogError(Exception):
    """Persisted state that cannot be a Raft log (a gap, or terms that go down)."""


class RaftLog:
    def __init__(self, snapshot: Snapshot | None = None, entries: Sequence[Entry] = ()) -> None:
        """Rebuild from durable state; entries at or below the snapshot are skipped (the
        driver may not have deleted them yet)."""
        self.snapshot = snapshot or Snapshot()
        self._entries: list[Entry] = []
        expected_index = self.snapshot.index + 1
        last_term = self.snapshot.term
        for entry in entries:
            if entry.index <= self.snapshot.index:
                continue
            if entry.index != expected_index or entry.term < last_term:
                raise RaftLogError(
                    f"entry {entry.index} (term {entry.term}) cannot follow index "
                    f"{expected_index - 1} (term {last_term})"
                )
            self._entries.append(entry)
            expected_index += 1
            last_term = entry.term
        self.persisted_index = self.last_index
        self.pending_from = self.last_index + 1
        self.pending_snapshot: Snapshot | None = None

    @property
    def first_index(self) -> int:
        """The first index still held as an entry (the snapshot covers the ones before)."""
        return self.snapshot.index + 1

    @property
    def last_index(self) -> int:
        return self._entries[-1].index if self._entries else self.snapshot.index

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot.term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`; None if compacted away or past the end."""
        if index == self.snapshot.index:
            return self.snapshot.term
        if index < self.snapshot.index or index > self.last_index:
            return None
        return self._entries[index - self.first_index].term

    def entries(self, start: int, end: int, size_bytes_max: int | None = None) -> list[Entry]:
        """Entries start..end inclusive, cut once their payloads pass `size_bytes_max`
        (the first entry is always included so a large entry still moves)."""
        assert start >= self.first_index, f"entry {start} was compacted"
        end = min(end, self.last_index)
        selected = self._entries[start - self.first_index : end - self.first_index + 1]
        if size_bytes_max is None:
            return selected
        total_bytes = 0
        for count, entry in enumerate(selected):
            total_bytes += len(entry.payload)
            if count > 0 and total_bytes > size_bytes_max:
                return selected[:count]
        return selected

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: is a log ending at (last_index, last_term) at least as up to date?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def append(self, entry: Entry) -> None:
        assert entry.index == self.last_index + 1, f"entry {entry.index} leaves a gap"
        assert entry.term >= self.last_term, "terms never go down in a log"
        self._entries.append(entry)

    def merge(self, entries: Sequence[Entry], commit_index: int) -> None:
        """Add a leader's entries that follow a matching entry: skip the ones already
        held, cut the log at the first conflict, append the rest. Never cuts a committed
        entry, and never cuts a longer matching tail (a stale request is a prefix)."""
        for position, entry in enumerate(entries):
            assert entry.index > self.snapshot.index, "merging below the snapshot"
            held_term = self.term_at(entry.index)
            if held_term == entry.term:
                continue
            if held_term is not None:
                assert entry.index > commit_index, (
                    f"conflict at committed index {entry.index} (commit {commit_index})"
                )
                self._truncate_from(entry.index)
            for new_entry in entries[position:]:
                self.append(new_entry)
            return

    def first_index_of_term(self, index: int, floor_index: int) -> int:
        """The first index, not below `floor_index`, of the run of term_at(index)."""
        term = self.term_at(index)
        assert term is not None
        floor_index = max(floor_index, self.first_index)
        while index > floor_index and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int, at_most: int) -> int | None:
        """The last index <= at_most holding `term`, if the uncompacted log has one."""
        index = min(at_most, self.last_index)
        while index >= self.snapshot.index:
            held_term = self.term_at(index)
            assert held_term is not None
            if held_term == term:
                return index
            if held_term < term:
                return None
            index -= 1
        return None

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by a leader's snapshot.

        persisted_index moves to the snapshot at once: nothing before it may be applied
        from the log any more, and nothing after it is durable yet."""
        self.snapshot = snapshot
        self._entries = []
        self.pending_snapshot = snapshot
        self.pending_from = snapshot.index + 1
        self.persisted_index = snapshot.index

    def compact(self, snapshot: Snapshot) -> None:
        """Forget entries the application's durable snapshot covers."""
        if snapshot.index <= self.snapshot.index:
            return
        assert snapshot.index <= self.persisted_index, "compacting entries not yet durable"
        assert self.term_at(snapshot.index) == snapshot.term, "snapshot is not of this log"
        self._entries = self._entries[snapshot.index - self.first_index + 1 :]
        self.snapshot = snapshot

    def take_pending(self) -> tuple[Snapshot | None, list[Entry]]:
        """What the next Ready must make durable; marks it handed out."""
        snapshot = self.pending_snapshot
        entries = self._entries[self.pending_from - self.first_index :]
        self.pending_snapshot = None
        self.pending_from = self.last_index + 1
        return snapshot, entries

    @property
    def has_pending(self) -> bool:
        return self.pending_snapshot is not None or self.pending_from <= self.last_index

    def mark_persisted(self, snapshot: Snapshot | None, entries: Sequence[Entry]) -> None:
        """The driver made a Ready's snapshot and entries durable. Entries cut since that
        Ready was handed out do not count: the next Ready overwrites them."""
        if snapshot is not None and snapshot == self.snapshot:
            self.persisted_index = max(self.persisted_index, snapshot.index)
        for entry in entries:
            if entry.index <= self.snapshot.index:
                continue
            if self.term_at(entry.index) != entry.term:
                break
            self.persisted_index = max(self.persisted_index, entry.index)

    def _truncate_from(self, index: int) -> None:
        del self._entries[index - self.first_index :]
        self.pending_from = min(self.pending_from, index)
        self.persisted_index = min(self.persisted_index, index - 1)
