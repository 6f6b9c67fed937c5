"""Producer state snapshots: the bytes round-trip, damage is refused, files are kept
and dropped by offset, and a broker restart uses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_client import RawConnection, new_producer_id, produce

from flowlog.broker.partition import Partition
from flowlog.broker.producer_snapshots import (
    SNAPSHOTS_KEPT,
    latest_snapshot,
    snapshot_offsets,
    snapshot_path,
    write_snapshot,
)
from flowlog.broker.producer_state import PartitionProducerState
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.delete_records import DeleteRecordsRequest
from flowlog.protocol.record_batch import parse_header
from flowlog.protocol.records import Record, build_batch
from flowlog.storage.config import LogConfig

TOPIC = "snapshots"


def batch(producer_id: int, epoch: int, sequence: int, count: int = 2,
          value_size: int = 10) -> bytes:
    records = [Record(offset=i, timestamp=1_000, key=None, value=b"v" * value_size)
               for i in range(count)]
    return build_batch(records, producer_id=producer_id, producer_epoch=epoch,
                       base_sequence=sequence)


@settings(max_examples=50, deadline=None)
@given(appends=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(1, 4)),
                        max_size=40))
def test_a_snapshot_restores_exactly_the_state(appends: list[tuple[int, int, int]]) -> None:
    state = PartitionProducerState()
    sequences: dict[tuple[int, int], int] = {}
    offset = 0
    for producer_id, epoch, count in appends:
        sequence = sequences.get((producer_id, epoch), 0)
        header = parse_header(batch(producer_id, epoch, sequence, count))
        state.record_append(header, offset)
        sequences[(producer_id, epoch)] = sequence + count
        offset += count
    restored = PartitionProducerState.from_snapshot(state.snapshot())
    assert restored.snapshot() == state.snapshot()
    for producer_id in range(7):
        assert restored.entry(producer_id) == state.entry(producer_id)


def test_damaged_snapshots_are_refused() -> None:
    state = PartitionProducerState()
    state.record_append(parse_header(batch(7, 0, 0)), 0)
    good = state.snapshot()
    for damaged in (b"", good[:-1], good[:4] + good[5:], b"\x00" * 4 + good[4:]):
        with pytest.raises(ValueError):
            PartitionProducerState.from_snapshot(damaged)


def test_snapshot_files_are_kept_by_offset(tmp_path: Path) -> None:
    for offset in (10, 20, 30):
        write_snapshot(tmp_path, offset, b"x%d" % offset)
    assert snapshot_offsets(tmp_path) == [20, 30][-SNAPSHOTS_KEPT:]
    assert latest_snapshot(tmp_path, 1_000) == (30, b"x30")
    # Above the log end (a recovery cut the log below it): deleted, never used.
    assert latest_snapshot(tmp_path, 25) == (20, b"x20")
    assert not snapshot_path(tmp_path, 30).exists()
    assert latest_snapshot(tmp_path, 5) is None and snapshot_offsets(tmp_path) == []


def delete_records_before(connection: RawConnection, offset: int) -> None:
    request = DeleteRecordsRequest(topics=[DeleteRecordsRequest.DeleteRecordsTopic(
        name=TOPIC, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(
            partition_index=0, offset=offset)])], timeout_ms=5_000)
    response = connection.call(21, 2, request)
    assert response.topics[0].partitions[0].error_code == ErrorCode.NONE


@pytest.mark.parametrize("restart", ["sigterm", "kill-9"])
def test_a_restart_takes_producer_state_from_the_snapshot(broker_factory, restart: str) -> None:  # type: ignore[no-untyped-def]
    """Producer 1's only batch is deleted (DeleteRecords) after a segment roll took a
    snapshot: replaying the log could not know producer 1 any more, the snapshot
    does, so its retry is still answered as a duplicate after the restart."""
    broker = broker_factory({"log.segment.bytes": "2000"})
    with RawConnection(broker.bootstrap) as connection:
        first, second = new_producer_id(connection), new_producer_id(connection)
        assert produce(connection, TOPIC, 0, batch(first, 0, 0)).base_offset == 0
        sequence = 0
        while True:  # producer 2 fills segments; each roll snapshots producer 1 too
            response = produce(connection, TOPIC, 0, batch(second, 0, sequence,
                                                            value_size=300))
            assert response.error_code == ErrorCode.NONE
            sequence += 2
            if response.base_offset >= 40:
                break
        delete_records_before(connection, 20)
    partition_directory = broker.data_dir / f"{TOPIC}-0"
    assert snapshot_offsets(partition_directory)
    broker.restart(restart)
    with RawConnection(broker.bootstrap) as connection:
        retried = produce(connection, TOPIC, 0, batch(first, 0, 0))
        assert (retried.error_code, retried.base_offset) == (ErrorCode.NONE, 0)
        following = produce(connection, TOPIC, 0, batch(first, 0, 2))
        assert following.error_code == ErrorCode.NONE and following.base_offset > 40


def test_a_damaged_snapshot_falls_back_to_the_log(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory({"log.segment.bytes": "2000"})
    with RawConnection(broker.bootstrap) as connection:
        producer = new_producer_id(connection)
        for sequence in range(0, 40, 2):
            assert produce(connection, TOPIC, 0, batch(producer, 0, sequence,
                                                       value_size=300)).error_code == 0
    assert broker.stop() == 0
    directory = broker.data_dir / f"{TOPIC}-0"
    for offset in snapshot_offsets(directory):
        snapshot_path(directory, offset).write_bytes(b"torn")
    broker.start()
    with RawConnection(broker.bootstrap) as connection:
        retried = produce(connection, TOPIC, 0, batch(producer, 0, 38, value_size=300))
        assert (retried.error_code, retried.base_offset) == (ErrorCode.NONE, 38)
        gap = produce(connection, TOPIC, 0, batch(producer, 0, 50, value_size=300))
        assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert any("ignoring the producer snapshot" in line for line in broker.output)


def test_a_snapshot_that_cannot_be_written_fails_nothing(tmp_path: Path) -> None:
    """A snapshot write that fails (here: a directory stands where each snapshot would
    go) loses the snapshot, never the append that rolled the segment, nor the close,
    nor the next start."""
    config = LogConfig.from_kafka({"segment.bytes": "2000"})
    directory = tmp_path / "t-0"
    partition = Partition.open(directory, "t", b"\0" * 16, 0, config, 0, 0)
    for offset in range(200):
        snapshot_path(directory, offset).mkdir()
        (snapshot_path(directory, offset) / "occupied").touch()
    sequence = 0
    while len(partition.log.segments) < 4:  # rolls, each trying a snapshot
        outcome = partition.append(batch(7, 0, sequence, value_size=300), 0)
        assert outcome.error == ErrorCode.NONE
        sequence += 2
    partition.close()
    # The directories still stand where snapshots would be: unreadable, so skipped,
    # and the state comes from replaying the log.
    reopened = Partition.open(directory, "t", b"\0" * 16, 0, config, 0, 0)
    retry = reopened.append(batch(7, 0, sequence - 2, value_size=300), 0)
    # Sequences and offsets both step by 2 from 0: a duplicate gets its first offset.
    assert (retry.error, retry.base_offset) == (ErrorCode.NONE, sequence - 2)
    assert reopened.log.log_end_offset == sequence
    reopened.close()
