"""The single-writer metadata driver: records -> durable log entry -> replayed state.

open() replays the whole log into a fresh MetadataState. apply() checks the records
against a copy of the state, appends them as one fsynced log entry (so a crash keeps
all of an operation's records or none), then replays them. This is the seam a Raft
quorum replaces later: the state only ever sees replay(record, offset).

Not thread- or task-safe: the broker serialises writers (one trio lock) around apply().
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flowlog.controller.metadata_log import CorruptMetadataLogError, LogEntry, MetadataLog
from flowlog.controller.metadata_records import (
    MetadataRecord,
    decode_record_batch,
    encode_record_batch,
)
from flowlog.controller.metadata_state import MetadataState

# Kafka keeps its metadata log in a directory of this name under the data dir.
METADATA_DIRECTORY_NAME = "__cluster_metadata-0"
# The one writer's epoch; a Raft leader will put its term here instead.
SINGLE_WRITER_EPOCH = 0


class MetadataStore:
    """The metadata log and the state replayed from it. Use open() to construct."""

    def __init__(self, log: MetadataLog, state: MetadataState) -> None:
        self._log = log
        self._state = state

    @classmethod
    def open(cls, data_dir: Path) -> MetadataStore:
        """Open (or create) the metadata log under `data_dir` and replay all of it."""
        log = MetadataLog.open(data_dir / METADATA_DIRECTORY_NAME)
        state = MetadataState()
        try:
            for entry in log.read_from(0):
                _replay_entry(state, entry)
        except BaseException:
            log.close()
            raise
        return cls(log, state)

    @property
    def state(self) -> MetadataState:
        """The live state; the same object for the store's whole life."""
        return self._state

    @property
    def log(self) -> MetadataLog:
        return self._log

    def apply(self, records: Sequence[MetadataRecord]) -> int:
        """Make `records` durable, then replay them; returns the new last applied offset.

        Raises MetadataInconsistencyError, with nothing written, if they do not apply.
        """
        if not records:
            return self._state.last_applied_offset
        base_offset = self._state.last_applied_offset + 1
        # A record that fails replay must never reach the log: the next open would fail.
        candidate = self._state.copy()
        for index, record in enumerate(records):
            candidate.replay(record, base_offset + index)
        self._log.append(base_offset, SINGLE_WRITER_EPOCH, encode_record_batch(records))
        for index, record in enumerate(records):
            self._state.replay(record, base_offset + index)
        assert self._state == candidate, "replay is deterministic"
        return self._state.last_applied_offset

    def close(self) -> None:
        self._log.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


def _replay_entry(state: MetadataState, entry: LogEntry) -> None:
    # Record offsets are contiguous: an entry's records sit at offset, offset + 1, ...
    if entry.offset != state.last_applied_offset + 1:
        raise CorruptMetadataLogError(
            f"metadata log entry at offset {entry.offset} does not follow offset "
            f"{state.last_applied_offset}"
        )
    for index, record in enumerate(decode_record_batch(entry.payload)):
        state.replay(record, entry.offset + index)
