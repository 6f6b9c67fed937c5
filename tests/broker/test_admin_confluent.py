"""Topic and config administration through confluent-kafka's AdminClient."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

WAIT_S = 30.0


def admin_for(broker) -> AdminClient:  # type: ignore[no-untyped-def]
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def produce_timestamps(bootstrap: str, topic: str, timestamps: list[int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for number, timestamp in enumerate(timestamps):
        producer.produce(topic, value=f"v{number}".encode(), partition=0, timestamp=timestamp)
        producer.flush(WAIT_S)  # one batch per record, so offsets map to timestamps


def test_topic_configs_create_describe_alter(broker) -> None:  # type: ignore[no-untyped-def]
    admin = admin_for(broker)
    topic = NewTopic("configured", num_partitions=2, replication_factor=1,
                     config={"retention.ms": "3600000", "cleanup.policy": "compact"})
    admin.create_topics([topic])["configured"].result(WAIT_S)

    resource = ConfigResource("topic", "configured")
    entries = admin.describe_configs([resource])[resource].result(WAIT_S)
    assert entries["retention.ms"].value == "3600000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["cleanup.policy"].value == "compact"

    change = ConfigResource("topic", "configured", incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    admin.incremental_alter_configs([change])[change].result(WAIT_S)
    entries = admin.describe_configs([resource])[resource].result(WAIT_S)
    assert entries["retention.ms"].value == "60000"
    assert entries["cleanup.policy"].value == "delete"


def test_bad_topic_config_is_refused_with_a_clear_error(broker) -> None:  # type: ignore[no-untyped-def]
    admin = admin_for(broker)
    bad = NewTopic("badconfig", num_partitions=1, replication_factor=1,
                   config={"retention.ms": "soon"})
    with pytest.raises(KafkaException) as raised:
        admin.create_topics([bad])["badconfig"].result(WAIT_S)
    assert "retention.ms" in str(raised.value)
    unknown = NewTopic("unknownconfig", num_partitions=1, config={"no.such.key": "1"})
    with pytest.raises(KafkaException):
        admin.create_topics([unknown])["unknownconfig"].result(WAIT_S)
    assert "badconfig" not in admin.list_topics(timeout=WAIT_S).topics


def test_partitions_records_offsets_and_deletion(broker) -> None:  # type: ignore[no-untyped-def]
    admin = admin_for(broker)
    admin.create_topics([NewTopic("lifecycle", num_partitions=2)])["lifecycle"].result(WAIT_S)
    admin.create_partitions([NewPartitions("lifecycle", 4)])["lifecycle"].result(WAIT_S)
    assert len(admin.list_topics("lifecycle", timeout=WAIT_S).topics["lifecycle"].partitions) == 4

    produce_timestamps(broker.bootstrap, "lifecycle", [1_000, 2_000, 3_000, 4_000])
    partition = TopicPartition("lifecycle", 0)

    def offset_for(spec: OffsetSpec) -> int:
        return int(admin.list_offsets({partition: spec})[partition].result(WAIT_S).offset)

    assert offset_for(OffsetSpec.earliest()) == 0
    assert offset_for(OffsetSpec.latest()) == 4
    assert offset_for(OffsetSpec.for_timestamp(2_500)) == 2
    assert offset_for(OffsetSpec.max_timestamp()) == 3

    deleted = admin.delete_records([TopicPartition("lifecycle", 0, 2)])
    assert deleted[partition].result(WAIT_S).low_watermark == 2
    assert offset_for(OffsetSpec.earliest()) == 2

    cluster = admin.describe_cluster().result(WAIT_S)
    assert [node.id for node in cluster.nodes] == [1]

    admin.delete_topics(["lifecycle"])["lifecycle"].result(WAIT_S)
    assert "lifecycle" not in admin.list_topics(timeout=WAIT_S).topics
