"""Where the metadata Raft log lives, and the one-time move from the standalone log.

A data dir written before the Raft quorum holds `__cluster_metadata-0/metadata.log`
(the single-writer log of metadata_log.py). The first start of this version replays
it and writes the resulting state as the Raft log's first snapshot (index 1, term 1),
into a temporary directory renamed into place, so a crash leaves either no Raft
directory (and the migration runs again) or a complete one. The old file is then
renamed to `metadata.log.migrated` and never read again.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from flowlog.controller.metadata_log import LOG_FILE_NAME
from flowlog.controller.metadata_snapshot import encode_snapshot
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME, MetadataStore
from flowlog.raft.file_storage import FileRaftStorage
from flowlog.raft.messages import HardState, Snapshot
from flowlog.raft.ready import Ready

log = logging.getLogger(__name__)

RAFT_DIRECTORY_NAME = "raft"
MIGRATING_SUFFIX = ".migrating"
MIGRATED_SUFFIX = ".migrated"
# The migrated state sits where a committed entry of term 1 would.
MIGRATED_SNAPSHOT_INDEX = 1
MIGRATED_SNAPSHOT_TERM = 1


class MigrationRefusedError(Exception):
    """A standalone metadata log cannot seed a multi-voter quorum on one node alone."""


def raft_directory(data_dir: Path, voter_count: int) -> Path:
    """The Raft log directory of this data dir, migrating a standalone log first."""
    metadata_dir = data_dir / METADATA_DIRECTORY_NAME
    raft_dir = metadata_dir / RAFT_DIRECTORY_NAME
    legacy = metadata_dir / LOG_FILE_NAME
    if legacy.exists() and not raft_dir.exists():
        if voter_count > 1:
            raise MigrationRefusedError(
                f"{legacy} was written by a standalone broker; start it once without "
                "--voters to migrate it (a quorum cannot be seeded from one node's log)"
            )
        _migrate(data_dir, raft_dir)
    if legacy.exists():
        legacy.rename(legacy.with_name(LOG_FILE_NAME + MIGRATED_SUFFIX))
        _fsync_directory(metadata_dir)
    return raft_dir


def _migrate(data_dir: Path, raft_dir: Path) -> None:
    with MetadataStore.open(data_dir) as store:
        state = store.state
        snapshot = Snapshot(
            MIGRATED_SNAPSHOT_INDEX, MIGRATED_SNAPSHOT_TERM, encode_snapshot(state)
        )
    staging = raft_dir.with_name(raft_dir.name + MIGRATING_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    storage = FileRaftStorage.open(staging)
    try:
        storage.persist(
            Ready(HardState(MIGRATED_SNAPSHOT_TERM), snapshot, (), (), ())
        )
    finally:
        storage.close()
    _fsync_directory(staging)
    staging.rename(raft_dir)
    _fsync_directory(raft_dir.parent)
    log.info(
        "migrated the standalone metadata log (%d records) into the Raft log at %s",
        state.last_applied_offset + 1, raft_dir,
    )


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
