"""The metadata Raft log on disk: a standalone data dir migrates once; snapshots compact
the log and a restarted broker rebuilds the same metadata from snapshot + entries."""

from __future__ import annotations

import random
from pathlib import Path

from cluster_helpers import topic_layout, wait_for
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.controller.controller_api import NewTopic as CoreNewTopic
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME, MetadataStore


def write_standalone_metadata(data_dir: Path) -> None:
    """What a broker before the Raft quorum left: metadata.log with a topic in it."""
    with MetadataStore.open(data_dir) as store:
        core = ControllerCore(store.state, random.Random(5))
        store.apply(core.register_broker(1, "127.0.0.1", 1, None, bytes(16)).records)
        store.apply(core.create_topics([CoreNewTopic("legacy", 2, 1)]).records)


def test_a_standalone_data_dir_is_migrated_once(broker_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "old"
    write_standalone_metadata(data_dir)
    broker = broker_factory(data_dir=data_dir)
    layout = wait_for("the legacy topic", lambda: topic_layout(broker.bootstrap, "legacy"))
    assert {index: leader for index, (leader, _, _) in layout.items()} == {0: 1, 1: 1}
    metadata_dir = data_dir / METADATA_DIRECTORY_NAME
    assert (metadata_dir / "metadata.log.migrated").exists()
    assert not (metadata_dir / "metadata.log").exists()
    assert (metadata_dir / "raft" / "snapshot").exists()

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("legacy", value=b"kept", partition=1)
    assert producer.flush(10) == 0
    broker.restart("sigterm")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g"})
    consumer.assign([TopicPartition("legacy", 1, 0)])
    message = wait_for("the record", lambda: consumer.poll(1.0))
    consumer.close()
    assert message.value() == b"kept"


def test_snapshots_compact_the_log_and_survive_restarts(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory({"metadata.log.max.record.bytes.between.snapshots": "2000"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    names = [f"topic-{index}" for index in range(40)]
    for future in admin.create_topics([NewTopic(name, 2, 1) for name in names]).values():
        future.result(timeout=15)
    for future in admin.delete_topics(names[:10]).values():
        future.result(timeout=15)
    raft_dir = broker.data_dir / METADATA_DIRECTORY_NAME / "raft"
    assert (raft_dir / "snapshot").exists()
    before = set(AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=5).topics)
    assert set(names[10:]) <= before and not set(names[:10]) & before

    for how in ("kill-9", "sigterm"):
        broker.restart(how)
        after = set(
            AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=5).topics
        )
        assert after == before, how
