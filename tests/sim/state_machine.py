"""The simulated application: it records every applied entry, so its state IS the
applied sequence, and its snapshot is that sequence encoded."""

from __future__ import annotations

import orjson

from flowlog.raft.messages import Entry, EntryKind, Snapshot

AppliedEntry = tuple[int, int, int, bytes]  # index, term, kind, payload


class SimStateMachine:
    def __init__(self, snapshot: Snapshot) -> None:
        self.applied: list[AppliedEntry] = []
        self.restore(snapshot)

    @property
    def applied_index(self) -> int:
        return self.applied[-1][0] if self.applied else self._base_index

    @property
    def applied_term(self) -> int:
        return self.applied[-1][1] if self.applied else self._base_term

    def restore(self, snapshot: Snapshot) -> list[AppliedEntry]:
        """Replace the state by the snapshot's; returns the entries it holds."""
        self.applied = decode_snapshot(snapshot.data)
        self._base_index, self._base_term = snapshot.index, snapshot.term
        assert self.applied_index == snapshot.index, "snapshot data does not end at its index"
        return self.applied

    def apply(self, entry: Entry) -> AppliedEntry:
        assert entry.index == self.applied_index + 1, (
            f"applied {entry.index} after {self.applied_index}"
        )
        applied = (entry.index, entry.term, int(entry.kind), entry.payload)
        self.applied.append(applied)
        return applied

    def snapshot(self) -> Snapshot:
        return Snapshot(self.applied_index, self.applied_term, encode_snapshot(self.applied))


def encode_snapshot(applied: list[AppliedEntry]) -> bytes:
    return orjson.dumps([[index, term, kind, payload.hex()] for index, term, kind, payload in applied])


def decode_snapshot(data: bytes) -> list[AppliedEntry]:
    if not data:
        return []
    return [(index, term, kind, bytes.fromhex(payload)) for index, term, kind, payload in orjson.loads(data)]


def is_no_op(applied: AppliedEntry) -> bool:
    return applied[2] == EntryKind.NO_OP
