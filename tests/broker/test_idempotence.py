"""Idempotent produce: duplicates acknowledged once, gaps and stale epochs refused, state
rebuilt from the log after a restart (clean or kill -9)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from raw_client import RawConnection, new_producer_id, produce

from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.init_producer_id import InitProducerIdRequest
from flowlog.protocol.messages.list_offsets import ListOffsetsRequest
from flowlog.protocol.records import Record, build_batch
from flowlog.storage.checkpoint import CLEANER_OFFSET_CHECKPOINT

TOPIC = "idempotent"
RECORDS_PER_BATCH = 5


def batch(producer_id: int, epoch: int, first_sequence: int) -> bytes:
    records = [
        Record(offset=i, timestamp=1_000 + i, key=b"k", value=f"s{first_sequence + i}".encode())
        for i in range(RECORDS_PER_BATCH)
    ]
    return build_batch(records, producer_id=producer_id, producer_epoch=epoch,
                       base_sequence=first_sequence)


def log_end_offset(connection: RawConnection) -> int:
    request = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=TOPIC, partitions=[ListOffsetsRequest.ListOffsetsPartition(
            partition_index=0, current_leader_epoch=-1, timestamp=-1)])])
    response = connection.call(2, 7, request)
    return int(response.topics[0].partitions[0].offset)


@pytest.mark.parametrize("restart", ["sigterm", "kill-9"])
def test_duplicates_gaps_and_restart(broker, restart: str) -> None:  # type: ignore[no-untyped-def]
    with RawConnection(broker.bootstrap) as connection:
        producer_id = new_producer_id(connection)
        first = produce(connection, TOPIC, 0, batch(producer_id, 0, 0))
        assert (first.error_code, first.base_offset) == (ErrorCode.NONE, 0)
        # A retry of the same batch: acknowledged with its original offset, not written again.
        again = produce(connection, TOPIC, 0, batch(producer_id, 0, 0))
        assert (again.error_code, again.base_offset) == (ErrorCode.NONE, 0)
        assert log_end_offset(connection) == RECORDS_PER_BATCH
        # A gap in sequences is refused and takes no offsets.
        gap = produce(connection, TOPIC, 0, batch(producer_id, 0, 2 * RECORDS_PER_BATCH))
        assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        second = produce(connection, TOPIC, 0, batch(producer_id, 0, RECORDS_PER_BATCH))
        assert (second.error_code, second.base_offset) == (ErrorCode.NONE, RECORDS_PER_BATCH)

    broker.restart(restart)

    with RawConnection(broker.bootstrap) as connection:
        # The producer state came back from the log: the retry is still a duplicate.
        retried = produce(connection, TOPIC, 0, batch(producer_id, 0, RECORDS_PER_BATCH))
        assert (retried.error_code, retried.base_offset) == (ErrorCode.NONE, RECORDS_PER_BATCH)
        assert log_end_offset(connection) == 2 * RECORDS_PER_BATCH
        # And the next producer id is new: ids are never reused across restarts.
        assert new_producer_id(connection) != producer_id


def test_stale_epoch_is_fenced(broker) -> None:  # type: ignore[no-untyped-def]
    with RawConnection(broker.bootstrap) as connection:
        producer_id = new_producer_id(connection)
        assert produce(connection, TOPIC, 0, batch(producer_id, 0, 0)).error_code == ErrorCode.NONE
        bumped = connection.call(22, 4, InitProducerIdRequest(
            transactional_id=None, transaction_timeout_ms=60_000,
            producer_id=producer_id, producer_epoch=0))
        assert (bumped.producer_id, bumped.producer_epoch) == (producer_id, 1)
        # A new epoch starts at sequence 0; then the old epoch is fenced.
        wrong_start = produce(connection, TOPIC, 0, batch(producer_id, 1, 7))
        assert wrong_start.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(connection, TOPIC, 0, batch(producer_id, 1, 0)).error_code == ErrorCode.NONE
        stale = produce(connection, TOPIC, 0, batch(producer_id, 0, RECORDS_PER_BATCH))
        assert stale.error_code == ErrorCode.INVALID_PRODUCER_EPOCH


def keyed_batch(producer_id: int, first_sequence: int, key: bytes, timestamp_ms: int,
                count: int = 1) -> bytes:
    records = [Record(offset=i, timestamp=timestamp_ms, key=key, value=b"v%d" % i)
               for i in range(count)]
    return build_batch(records, producer_id=producer_id, producer_epoch=0,
                       base_sequence=first_sequence)


def test_producer_state_survives_compaction_and_a_restart(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """Compaction removes every record of producer 1's last batch; the batch stays
    as an empty one, so after a restart producer 1's retry is still a duplicate
    and its next batch is in order (its older batch alone would say sequence 0)."""
    broker = broker_factory({
        "log.cleanup.policy": "compact", "log.roll.ms": "1000",
        "log.retention.check.interval.ms": "100"})
    with RawConnection(broker.bootstrap) as connection:
        first, second = new_producer_id(connection), new_producer_id(connection)
        # Record timestamps drive segment.ms: each batch 2 s later rolls a segment.
        assert produce(connection, TOPIC, 0, keyed_batch(first, 0, b"kept", 1_000)).base_offset == 0
        assert produce(connection, TOPIC, 0, keyed_batch(first, 1, b"k", 1_001, 2)).base_offset == 1
        assert produce(connection, TOPIC, 0, keyed_batch(second, 0, b"k", 3_000)).base_offset == 3
        assert produce(connection, TOPIC, 0, keyed_batch(second, 1, b"x", 5_000)).base_offset == 4
    checkpoint_file = broker.data_dir / f"{TOPIC}-0" / CLEANER_OFFSET_CHECKPOINT
    deadline = time.monotonic() + 30
    while not checkpoint_file.exists():  # the broker's cleaner has run
        assert time.monotonic() < deadline, "compaction did not run"
        time.sleep(0.05)
    assert broker.stop() == 0
    broker.start()
    with RawConnection(broker.bootstrap) as connection:
        retried = produce(connection, TOPIC, 0, keyed_batch(first, 1, b"k", 1_001, 2))
        assert (retried.error_code, retried.base_offset) == (ErrorCode.NONE, 1)
        following = produce(connection, TOPIC, 0, keyed_batch(first, 3, b"k", 6_000))
        assert (following.error_code, following.base_offset) == (ErrorCode.NONE, 5)
    # A real client reads through the empty batch (offsets 1-2) without stalling.
    assert consumed_offsets(broker.bootstrap, until=5) == [0, 3, 4, 5]


def consumed_offsets(bootstrap: str, until: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    offsets: list[int] = []
    deadline = time.monotonic() + 30
    while (not offsets or offsets[-1] < until) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            offsets.append(message.offset())
    consumer.close()
    return offsets
