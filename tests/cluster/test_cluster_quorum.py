"""Three real broker processes that are also the controller quorum (127.0.0.1, free ports).

Failure detection is shortened (2 s sessions, 0.5 s election timeout) so every case
runs in seconds; see cluster_helpers.FAST_CLUSTER.
"""

from __future__ import annotations

import time

from cluster_helpers import (
    FAST_CLUSTER,
    describe_json,
    produce_one,
    quorum_leader,
    topic_layout,
    wait_for,
)
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

from flowlog.protocol.errors import ErrorCode


def create_topic(bootstrap: str, name: str, partitions: int, replication_factor: int) -> None:
    """Create `name`, once: a just-started cluster must answer its first CreateTopics."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics([NewTopic(name, partitions, replication_factor)]).values()
    future.result(timeout=15)


def test_three_brokers_elect_a_controller_and_place_rf3_topics(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    document = describe_json(cluster.bootstrap)
    assert [b["state"] for b in document["brokers"]] == ["alive"] * 3
    assert document["controller"]["leader"] in (1, 2, 3)
    assert document["controller"]["term"] >= 1

    create_topic(cluster.bootstrap, "replicated", 3, 3)
    create_topic(cluster.bootstrap, "single", 3, 1)
    layout = wait_for("the topic", lambda: topic_layout(cluster.bootstrap, "replicated"))
    assert sorted(layout) == [0, 1, 2]
    assert sorted(leader for leader, _, _ in layout.values()) == [1, 2, 3], "leaders spread"
    for leader, replicas, isr in layout.values():
        assert sorted(replicas) == [1, 2, 3] and sorted(isr) == [1, 2, 3]
        assert leader == replicas[0]
    # Every broker answers with the same committed metadata.
    for broker in cluster.brokers.values():
        assert topic_layout(f"127.0.0.1:{broker.port}", "replicated") == layout

    # Produce and consume through the leaders (confluent routes by metadata).
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for index in range(30):
        producer.produce("single", value=f"v{index}".encode(), partition=index % 3)
    assert producer.flush(15) == 0
    consumer = KafkaConsumer("single", bootstrap_servers=cluster.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    seen = sorted(message.value for message in consumer)
    consumer.close()
    assert seen == sorted(f"v{index}".encode() for index in range(30))

    # A consumer group: its coordinator is the leader of its __consumer_offsets partition.
    group = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "readers",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
    group.subscribe(["single"])
    received: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(received) < 30 and time.monotonic() < deadline:
        message = group.poll(0.5)
        if message is not None and message.error() is None:
            received.append(message.value())
    group.commit(asynchronous=False)
    committed = group.committed([TopicPartition("single", p) for p in range(3)], timeout=10)
    group.close()
    assert sorted(received) == sorted(f"v{index}".encode() for index in range(30))
    assert sum(tp.offset for tp in committed) == 30
    offsets_layout = topic_layout(cluster.bootstrap, "__consumer_offsets")
    assert offsets_layout and all(len(r) == 3 for _, r, _ in offsets_layout.values())

    # A broker that does not lead a partition refuses to take writes for it.
    leader, replicas, _ = layout[0]
    follower = next(node for node in replicas if node != leader)
    port = cluster.brokers[follower].port
    assert produce_one(port, "replicated", 0, b"x") == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert produce_one(cluster.brokers[leader].port, "replicated", 0, b"x") == ErrorCode.NONE


def test_killing_the_controller_leader_elects_another(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    leader = wait_for("a controller", lambda: (c := quorum_leader(cluster.bootstrap)) > 0 and c)
    cluster.brokers[leader].kill()
    killed_at = time.monotonic()
    survivors = ",".join(f"127.0.0.1:{b.port}" for b in cluster.running())
    new_leader = wait_for(
        "a new controller", lambda: (c := quorum_leader(survivors)) not in (-1, leader) and c
    )
    create_topic(survivors, "after-failover", 2, 2)
    elapsed_s = time.monotonic() - killed_at
    assert elapsed_s < 8, f"topic creation worked again only after {elapsed_s:.1f} s"
    assert wait_for("the new topic", lambda: topic_layout(survivors, "after-failover"))
    # The new controller finds the dead broker's port closed and fences it.
    document = wait_for(
        "the dead broker fenced",
        lambda: (d := describe_json(survivors))
        and {b["id"]: b["state"] for b in d["brokers"]}[leader] == "fenced" and d,
    )
    assert document["controller"]["leader"] == new_leader
    create_topic(survivors, "after-fencing", 4, 2)
    layout = wait_for("the topic", lambda: topic_layout(survivors, "after-fencing"))
    for partition_leader, replicas, _ in layout.values():
        assert leader not in replicas, "a fenced broker gets no new replicas"
        assert partition_leader == replicas[0]


def test_a_dead_broker_is_fenced_and_its_partitions_fail_over(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, FAST_CLUSTER)
    controller = wait_for("a controller", lambda: (c := quorum_leader(cluster.bootstrap)) > 0 and c)
    create_topic(cluster.bootstrap, "replicated", 3, 3)
    create_topic(cluster.bootstrap, "single", 3, 1)
    layout = wait_for("the topic", lambda: topic_layout(cluster.bootstrap, "replicated"))
    victim = next(node for node in (1, 2, 3) if node != controller)
    (preferred_partition,) = [p for p, (leader, _, _) in layout.items() if leader == victim]
    single = wait_for("single", lambda: topic_layout(cluster.bootstrap, "single"))
    (single_partition,) = [p for p, (leader, _, _) in single.items() if leader == victim]

    cluster.brokers[victim].kill()
    survivors = ",".join(f"127.0.0.1:{b.port}" for b in cluster.running())
    after = wait_for(
        "a new leader from the ISR",
        lambda: (found := topic_layout(survivors, "replicated"))
        and found[preferred_partition][0] not in (victim, -1) and found,
    )
    new_leader, replicas, isr = after[preferred_partition]
    assert victim not in isr and new_leader in isr and replicas == layout[preferred_partition][1]
    document = describe_json(survivors)
    assert {b["id"]: b["state"] for b in document["brokers"]}[victim] == "fenced"
    assert {(p["topic"], p["partition"]) for p in document["offline_partitions"]} == {
        ("single", single_partition)
    }
    assert ("replicated", preferred_partition) in {
        (p["topic"], p["partition"]) for p in document["under_replicated_partitions"]
    }
    # kafka-python sees the new leader too.
    consumer = KafkaConsumer(bootstrap_servers=survivors)
    assert consumer.partitions_for_topic("replicated") == {0, 1, 2}
    consumer.close()

    # The broker returns: it re-registers, leads its single-replica partition again...
    cluster.brokers[victim].start()
    wait_for(
        "the returning broker leads its own partition",
        lambda: topic_layout(cluster.bootstrap, "single")[single_partition][0] == victim,  # type: ignore[index]
    )
    # ...and once the partition leader adds it back to the ISR (AlterPartition, which
    # the replication side sends when the follower caught up: wire), the controller
    # makes it the preferred leader again.
    wait_for(
        "the returning broker back in the ISR",
        lambda: victim in topic_layout(cluster.bootstrap, "replicated")[preferred_partition][2],  # type: ignore[index]
        timeout_s=10,
    )
    wait_for(
        "the preferred leader back",
        lambda: topic_layout(cluster.bootstrap, "replicated")[preferred_partition][0] == victim,  # type: ignore[index]
        timeout_s=10,
    )
    document = describe_json(cluster.bootstrap)
    assert [b["state"] for b in document["brokers"]] == ["alive"] * 3
    assert document["offline_partitions"] == []


def test_sigterm_moves_leadership_away_before_exiting(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    # A 30 s session and no liveness watch: only the controlled shutdown can move
    # leadership within the 3 s checked below.
    cluster = cluster_factory(3, {**FAST_CLUSTER, "broker.session.timeout.ms": "30000",
                                  "broker.liveness.watch.enable": "false"})
    create_topic(cluster.bootstrap, "replicated", 3, 3)
    layout = wait_for("the topic", lambda: topic_layout(cluster.bootstrap, "replicated"))
    # The controller leader itself: the harder case (its own shutdown is its last entry).
    victim = wait_for("a controller", lambda: (c := quorum_leader(cluster.bootstrap)) > 0 and c)
    assert victim in {leader for leader, _, _ in layout.values()}, "leaders spread over all"
    assert cluster.brokers[victim].stop() == 0
    survivors = ",".join(f"127.0.0.1:{b.port}" for b in cluster.running())
    output = "".join(cluster.brokers[victim].output)
    assert "controlled shutdown done" in output, output
    after = wait_for(
        "leadership moved",
        lambda: (found := topic_layout(survivors, "replicated"))
        and all(leader not in (victim, -1) for leader, _, _ in found.values()) and found,
        timeout_s=3,
    )
    for leader, _, isr in after.values():
        assert victim not in isr and leader in isr
    # The other brokers keep serving the partitions at once.
    producer = Producer({"bootstrap.servers": survivors, "acks": "all"})
    producer.produce("replicated", value=b"after", partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": survivors, "group.id": "g",
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("replicated", 0, 0)])
    message = wait_for("the record", lambda: consumer.poll(1.0))
    consumer.close()
    assert message.value() == b"after"
