"""Metadata snapshots: a restored state equals the one snapshotted; bad bytes are refused."""

from __future__ import annotations

import pytest
from metadata_harness import MemoryCluster

from flowlog.controller.controller_api import (
    AlterConfigOp,
    AlterConfigOpType,
    IncrementalAlterConfigsResource,
)
from flowlog.controller.metadata_records import ConfigResourceType
from flowlog.controller.metadata_snapshot import (
    MetadataSnapshotError,
    decode_snapshot,
    encode_snapshot,
)
from flowlog.controller.metadata_state import MetadataState


def busy_cluster() -> MemoryCluster:
    metadata = MemoryCluster()
    metadata.add_brokers(1, 2, 3)
    metadata.create_topic("a", partitions=3, replication_factor=2)
    metadata.create_topic("b", configs={"cleanup.policy": "compact"})
    metadata.run(metadata.core.incremental_alter_configs([IncrementalAlterConfigsResource(
        int(ConfigResourceType.BROKER), "", [AlterConfigOp("log.retention.ms", AlterConfigOpType.SET, "5")]
    )]))
    metadata.run(metadata.core.allocate_producer_ids(1, 1000))
    metadata.run(metadata.core.fence_broker(2))
    return metadata


def test_a_snapshot_restores_an_equal_state() -> None:
    state = busy_cluster().state
    restored = decode_snapshot(encode_snapshot(state))
    assert restored == state
    assert restored.last_applied_offset == state.last_applied_offset
    broker = restored.broker(2)
    assert broker is not None and broker.fenced and broker.epoch == state.broker(2).epoch  # type: ignore[union-attr]


def test_replace_with_keeps_identity() -> None:
    state = MetadataState()
    source = busy_cluster().state
    state.replace_with(decode_snapshot(encode_snapshot(source)))
    assert state == source


@pytest.mark.parametrize("data", [b"", b"[]", b'{"version": 9}', b'{"version": 1, "image": {}}'])
def test_bad_snapshots_are_refused(data: bytes) -> None:
    with pytest.raises(MetadataSnapshotError):
        decode_snapshot(data)


def test_an_inconsistent_image_is_refused() -> None:
    encoded = encode_snapshot(busy_cluster().state)
    broken = encoded.replace(b'"leader":1', b'"leader":9', 1)
    assert broken != encoded
    with pytest.raises(MetadataSnapshotError):
        decode_snapshot(broken)
