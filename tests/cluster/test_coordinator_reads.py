"""OffsetFetch never returns a commit that is not replicated yet: one a failover could
still take back. The coordinator's followers are stopped, a commit waits for them, and a
read meanwhile sees only the acknowledged offset."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from cluster_helpers import brokers_output_on_failure, kafka_call, topic_layout, wait_for
from confluent_kafka.admin import AdminClient, NewTopic

from flowlog.broker.group_core import partition_for
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.find_coordinator import FindCoordinatorRequest
from flowlog.protocol.messages.offset_commit import OffsetCommitRequest
from flowlog.protocol.messages.offset_fetch import OffsetFetchRequest

GROUP = "pending-reads"
TOPIC = "read-me"
# Long enough that nothing leaves the ISR or is fenced while the followers are stopped.
CONFIG = {"replica.lag.time.max.ms": "60000", "broker.session.timeout.ms": "60000"}


def _commit(port: int, offset: int) -> ErrorCode:
    """OffsetCommit v8 of partition 0 for GROUP with no members (generation -1)."""
    request = OffsetCommitRequest(group_id=GROUP, generation_id=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=TOPIC, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(
                partition_index=0, committed_offset=offset)])])
    response = kafka_call(port, 8, 8, request, timeout_s=30)
    return ErrorCode(response.topics[0].partitions[0].error_code)


def _fetch(port: int) -> tuple[ErrorCode, int]:
    """OffsetFetch v7: (error, committed offset of partition 0)."""
    request = OffsetFetchRequest(group_id=GROUP, topics=[
        OffsetFetchRequest.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0])])
    response = kafka_call(port, 9, 7, request, timeout_s=30)
    partition = response.topics[0].partitions[0]
    return ErrorCode(partition.error_code or response.error_code), int(partition.committed_offset)


def _coordinator_port(cluster: Any) -> tuple[int, int]:
    """(node id, port) of GROUP's coordinator, once __consumer_offsets exists."""
    request = FindCoordinatorRequest(key=GROUP, key_type=0)
    any_port = next(iter(cluster.brokers.values())).port
    wait_for("a coordinator", lambda: kafka_call(any_port, 10, 3, request).error_code == 0)
    layout = wait_for("__consumer_offsets", lambda: topic_layout(cluster.bootstrap,
                                                                 "__consumer_offsets"))
    leader = layout[partition_for(GROUP, len(layout))][0]
    return leader, cluster.brokers[leader].port


def test_a_read_never_returns_an_unreplicated_commit(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3, CONFIG)
    with brokers_output_on_failure(cluster):
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        (future,) = admin.create_topics([NewTopic(TOPIC, 1, 3)]).values()
        future.result(timeout=15)
        leader, port = _coordinator_port(cluster)
        wait_for("the commit acknowledged", lambda: _commit(port, 5) == ErrorCode.NONE)
        assert _fetch(port) == (ErrorCode.NONE, 5)

        stopped = [b.process for node, b in cluster.brokers.items() if node != leader]
        for process in stopped:
            os.kill(process.pid, signal.SIGSTOP)
        try:
            answers: list[ErrorCode] = []
            committer = threading.Thread(target=lambda: answers.append(_commit(port, 10)))
            committer.start()
            time.sleep(0.5)  # the commit reaches the coordinator first
            # The commit is in the coordinator's log and memory, not on the followers:
            # a read waits for it, then answers a retriable error, never offset 10.
            error, offset = _fetch(port)
            assert offset != 10, "a read returned a commit that was not replicated"
            assert error in (ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NONE), error
            committer.join(30)
            assert answers == [ErrorCode.COORDINATOR_NOT_AVAILABLE]
        finally:
            for process in stopped:
                os.kill(process.pid, signal.SIGCONT)
        # Once the followers have it, it is committed (a timed-out commit may still take
        # effect, as in Kafka) and readable.
        wait_for("the late commit readable", lambda: _fetch(port) == (ErrorCode.NONE, 10))
