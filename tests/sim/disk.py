"""A node's durable storage in the simulation: only what a Ready's fsync completed.

A crash keeps this and loses everything else; `persist_torn` models a crash in the
middle of a Ready's writes, which may leave any prefix of them on disk.
"""

from __future__ import annotations

import random

import attrs

from flowlog.raft.messages import Entry, HardState, Snapshot
from flowlog.raft.ready import PersistedState, Ready


@attrs.define
class SimDisk:
    hard_state: HardState = HardState()
    snapshot: Snapshot = Snapshot()
    entries: list[Entry] = attrs.Factory(list)

    def persist(self, ready: Ready) -> None:
        """The whole Ready, fsynced: snapshot, entries, then hard state."""
        if ready.snapshot is not None:
            self._write_snapshot(ready.snapshot, drop_all_entries=True)
        self._write_entries(ready.entries)
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state

    def persist_torn(self, ready: Ready, rng: random.Random) -> None:
        """A crash during the Ready's writes: a random prefix of them survives, in either
        order a driver might use (hard state first or last)."""
        writes: list[object] = []
        if ready.snapshot is not None:
            writes.append(ready.snapshot)
        writes.extend(ready.entries)
        if ready.hard_state is not None:
            if rng.random() < 0.5:
                writes.insert(0, ready.hard_state)
            else:
                writes.append(ready.hard_state)
        survived = writes[: rng.randrange(len(writes) + 1)]
        written: list[Entry] = []
        for write in survived:
            if isinstance(write, HardState):
                self.hard_state = write
            elif isinstance(write, Snapshot):
                self._write_snapshot(write, drop_all_entries=True)
            elif isinstance(write, Entry):
                written.append(write)
        self._write_entries(written)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """The application's own snapshot (local compaction), fsynced before compact()."""
        self._write_snapshot(snapshot, drop_all_entries=False)

    def persisted_state(self) -> PersistedState:
        return PersistedState(self.hard_state, self.snapshot, tuple(self.entries))

    def _write_snapshot(self, snapshot: Snapshot, drop_all_entries: bool) -> None:
        assert snapshot.index >= self.snapshot.index, "a snapshot never goes back"
        self.snapshot = snapshot
        if drop_all_entries:
            self.entries = []
        else:
            self.entries = [entry for entry in self.entries if entry.index > snapshot.index]

    def _write_entries(self, entries: tuple[Entry, ...] | list[Entry]) -> None:
        if not entries:
            return
        first_index = entries[0].index
        self.entries = [entry for entry in self.entries if entry.index < first_index]
        expected = self.entries[-1].index + 1 if self.entries else self.snapshot.index + 1
        assert first_index == expected, f"disk gap: writing {first_index}, expected {expected}"
        self.entries.extend(entries)
