"""The replication checks a single broker makes (its partitions have one replica):
min.insync.replicas on acks=all, the leader-epoch fence and diverging epochs in Fetch,
OffsetForLeaderEpoch, replica fetches from a broker that is not a replica."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic
from raw_client import RawConnection, produce_request

from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from flowlog.protocol.records import Record, build_batch


def _batch(value: bytes) -> bytes:
    return build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None, value=value)])


def _create(bootstrap: str, name: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics([NewTopic(name, 1, 1, config=config)]).values()
    future.result(timeout=15)


def _produce(connection: RawConnection, topic: str, acks: int) -> Any:
    response = connection.call(0, 9, produce_request(topic, 0, _batch(b"x"), acks=acks))
    return response.responses[0].partition_responses[0]


def _fetch(connection: RawConnection, topic: str, offset: int, *, replica_id: int = -1,
           current_leader_epoch: int = -1, last_fetched_epoch: int = -1) -> Any:
    request = FetchRequest(replica_id=replica_id, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
                           topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                               FetchRequest.FetchPartition(
                                   partition=0, fetch_offset=offset, partition_max_bytes=1 << 20,
                                   current_leader_epoch=current_leader_epoch,
                                   last_fetched_epoch=last_fetched_epoch)])])
    return connection.call(1, 12, request).responses[0].partitions[0]


def _epoch_end(connection: RawConnection, topic: str, epoch: int, current: int = -1) -> Any:
    request = OffsetForLeaderEpochRequest(replica_id=-2, topics=[
        OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=topic, partitions=[
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=current, leader_epoch=epoch)])])
    return connection.call(23, 4, request).topics[0].partitions[0]


def test_acks_all_needs_min_insync_replicas(broker) -> None:  # type: ignore[no-untyped-def]
    _create(broker.bootstrap, "strict", {"min.insync.replicas": "2"})
    with RawConnection(broker.bootstrap) as connection:
        assert _produce(connection, "strict", -1).error_code == ErrorCode.NOT_ENOUGH_REPLICAS
        answer = _produce(connection, "strict", 1)
        assert answer.error_code == ErrorCode.NONE and answer.base_offset == 0
        # One replica in the ISR: acks=all is answered at once (high watermark = log end).
        _create(broker.bootstrap, "lenient", {})
        assert _produce(connection, "lenient", -1).error_code == ErrorCode.NONE
        assert _fetch(connection, "lenient", 0).high_watermark == 1


def test_leader_epoch_checks(broker) -> None:  # type: ignore[no-untyped-def]
    _create(broker.bootstrap, "epochs", {})
    with RawConnection(broker.bootstrap) as connection:
        for _ in range(3):
            assert _produce(connection, "epochs", -1).error_code == ErrorCode.NONE
        # An epoch above every known one is undefined (Kafka's answer)...
        assert _epoch_end(connection, "epochs", 1 << 30).end_offset == -1
        # ...the leader's own ends at the log end.
        (epoch,) = [e for e in range(20) if _epoch_end(connection, "epochs", e).leader_epoch == e]
        assert _epoch_end(connection, "epochs", epoch).end_offset == 3
        assert _epoch_end(connection, "epochs", epoch, current=epoch + 1).error_code == \
            ErrorCode.UNKNOWN_LEADER_EPOCH
        assert _fetch(connection, "epochs", 0, current_leader_epoch=epoch + 1).error_code == \
            ErrorCode.UNKNOWN_LEADER_EPOCH
        if epoch > 0:
            assert _fetch(connection, "epochs", 0, current_leader_epoch=epoch - 1).error_code == \
                ErrorCode.FENCED_LEADER_EPOCH
        assert _fetch(connection, "epochs", 0, current_leader_epoch=epoch).records
        # A fetcher claiming it went further in this epoch than the leader's log: no
        # records, the diverging epoch (KIP-320).
        diverging = _fetch(connection, "epochs", 5, last_fetched_epoch=epoch)
        assert diverging.error_code == ErrorCode.NONE
        # Empty, never null: librdkafka fails the whole response on a null record set.
        assert diverging.records == b""
        assert (diverging.diverging_epoch.epoch, diverging.diverging_epoch.end_offset) == (epoch, 3)
        # A replica fetch from a broker that holds no replica.
        not_a_replica = _fetch(connection, "epochs", 0, replica_id=7)
        assert not_a_replica.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert not_a_replica.records == b""
