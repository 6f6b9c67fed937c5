"""The metadata state machine the Raft driver applies committed entries to.

Every node (leader or not) replays the same committed entries in the same order into
its MetadataState; a DATA entry's payload is one encoded record batch (one controller
operation), replayed atomically. Record offsets count records, so a broker epoch (the
offset of its registration) is the same on every node. After each Ready's entries the
listeners run once (the broker opens and closes partitions there). When enough bytes
were applied since the last snapshot, it hands the driver a snapshot to compact with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flowlog.controller.metadata_records import decode_record_batch
from flowlog.controller.metadata_snapshot import decode_snapshot, encode_snapshot
from flowlog.controller.metadata_state import MetadataState
from flowlog.raft.driver import StateMachine
from flowlog.raft.messages import Entry, EntryKind, Snapshot

log = logging.getLogger(__name__)

# Kafka's metadata.log.max.record.bytes.between.snapshots default.
SNAPSHOT_BYTES_BETWEEN_DEFAULT = 20 * 1024 * 1024
# Proposals waited on at once; the controller serialises operations, so a handful.
WATCHED_INDEXES_MAX = 1024


class MetadataReplayer(StateMachine):
    def __init__(
        self,
        state: MetadataState,
        snapshot_bytes_between: int = SNAPSHOT_BYTES_BETWEEN_DEFAULT,
    ) -> None:
        self.state = state
        self.applied_index = 0
        self.applied_term = 0
        self.snapshot_count = 0
        self._snapshot_bytes_between = snapshot_bytes_between
        self._bytes_since_snapshot = 0
        self._listeners: list[Callable[[], None]] = []
        self._changed = False
        # Proposal index -> the term of the entry applied there (None until applied).
        self._watched: dict[int, int | None] = {}

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def start_from(self, snapshot: Snapshot) -> None:
        """At start: the node's own durable snapshot (the driver only hands over new ones)."""
        if snapshot.index > 0:
            self.restore(snapshot)
            self._notify()

    # -- StateMachine ---------------------------------------------------------------------

    def apply(self, entry: Entry) -> None:
        assert entry.index > self.applied_index, "entries apply in order, once"
        if entry.kind is EntryKind.DATA and entry.payload:
            # A committed entry that does not replay is a bug or a bad log: fail-stop
            # (MetadataInconsistencyError) rather than diverge from the other nodes.
            for record in decode_record_batch(entry.payload):
                self.state.replay(record, self.state.last_applied_offset + 1)
            self._bytes_since_snapshot += len(entry.payload)
            self._changed = True
        self.applied_index = entry.index
        self.applied_term = entry.term
        if entry.index in self._watched:
            self._watched[entry.index] = entry.term

    def restore(self, snapshot: Snapshot) -> None:
        self.state.replace_with(decode_snapshot(snapshot.data))
        self.applied_index = snapshot.index
        self.applied_term = snapshot.term
        self._bytes_since_snapshot = 0
        self._changed = True
        for index in self._watched:
            if index <= snapshot.index:
                # The entry is inside a leader's snapshot: its term is unknown here.
                self._watched[index] = -1
        log.info("metadata restored from a snapshot at index %d", snapshot.index)

    def applied_batch(self) -> None:
        if self._changed:
            self._changed = False
            self._notify()

    def take_snapshot(self) -> Snapshot | None:
        if self._bytes_since_snapshot < self._snapshot_bytes_between:
            return None
        self._bytes_since_snapshot = 0
        self.snapshot_count += 1
        return Snapshot(self.applied_index, self.applied_term, encode_snapshot(self.state))

    # -- proposals ------------------------------------------------------------------------

    def watch(self, index: int) -> None:
        assert len(self._watched) < WATCHED_INDEXES_MAX, "too many proposals in flight"
        self._watched[index] = None

    def watched_outcome(self, index: int) -> int | None:
        """The term applied at a watched index (-1: unknown), or None while pending."""
        return self._watched.get(index)

    def unwatch(self, index: int) -> None:
        self._watched.pop(index, None)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
