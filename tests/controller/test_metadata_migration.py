"""The one-time move of a standalone broker's metadata.log into the Raft log."""

from __future__ import annotations

from pathlib import Path

import pytest
from metadata_harness import incarnation

from flowlog.controller.controller_api import NewTopic
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_migration import (
    MigrationRefusedError,
    raft_directory,
)
from flowlog.controller.metadata_snapshot import decode_snapshot
from flowlog.controller.metadata_state import MetadataState
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME, MetadataStore
from flowlog.raft.file_storage import FileRaftStorage
from flowlog.raft.raft_core import RaftNode
from flowlog.raft.ready import RaftConfig


def write_standalone_log(data_dir: Path) -> MetadataState:
    import random

    with MetadataStore.open(data_dir) as store:
        core = ControllerCore(store.state, random.Random(1))
        store.apply(core.register_broker(1, "h", 9092, None, incarnation(1)).records)
        store.apply(core.create_topics([NewTopic("orders", 3, 1)]).records)
        store.apply(core.allocate_producer_ids(1, 1000).records)
        return store.state.copy()


def test_a_standalone_log_becomes_the_first_snapshot(tmp_path: Path) -> None:
    before = write_standalone_log(tmp_path)
    directory = raft_directory(tmp_path, voter_count=1)
    legacy_dir = tmp_path / METADATA_DIRECTORY_NAME
    assert not (legacy_dir / "metadata.log").exists()
    assert (legacy_dir / "metadata.log.migrated").exists()
    storage = FileRaftStorage.open(directory)
    try:
        persisted = storage.persisted_state()
        assert (persisted.snapshot.index, persisted.snapshot.term) == (1, 1)
        assert persisted.hard_state.term == 1
        assert decode_snapshot(persisted.snapshot.data) == before
        # A Raft node opens it as it would any log it wrote.
        RaftNode(RaftConfig(1, {1}), __import__("random").Random(0), persisted)
    finally:
        storage.close()
    # Once only: a second open finds the Raft log and leaves it alone.
    assert raft_directory(tmp_path, voter_count=1) == directory


def test_a_fresh_data_dir_has_nothing_to_migrate(tmp_path: Path) -> None:
    directory = raft_directory(tmp_path, voter_count=3)
    assert not directory.exists(), "the driver creates it"


def test_a_standalone_log_cannot_seed_a_quorum(tmp_path: Path) -> None:
    write_standalone_log(tmp_path)
    with pytest.raises(MigrationRefusedError):
        raft_directory(tmp_path, voter_count=3)


def test_a_crash_mid_migration_is_redone(tmp_path: Path) -> None:
    before = write_standalone_log(tmp_path)
    staging = tmp_path / METADATA_DIRECTORY_NAME / "raft.migrating"
    staging.mkdir()
    (staging / "entries.log").write_bytes(b"half written")
    directory = raft_directory(tmp_path, voter_count=1)
    storage = FileRaftStorage.open(directory)
    try:
        assert decode_snapshot(storage.persisted_state().snapshot.data) == before
    finally:
        storage.close()
