"""MetadataStore: apply makes records durable then replays them; open replays the log."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flowlog.controller.controller_api import NewTopic
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_log import LOG_FILE_NAME, CorruptMetadataLogError, MetadataLog
from flowlog.controller.metadata_records import (
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    TopicRecord,
    encode_record_batch,
)
from flowlog.controller.metadata_state import MetadataInconsistencyError
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME, MetadataStore
from flowlog.protocol.errors import ErrorCode

TOPIC_ID = bytes(range(1, 17))


def test_open_apply_reopen(tmp_path: Path) -> None:
    with MetadataStore.open(tmp_path) as store:
        assert store.state.last_applied_offset == -1
        state = store.state
        assert store.apply([RegisterBrokerRecord(1, "h", 9092, None, bytes(16))]) == 0
        last = store.apply(
            [TopicRecord("t", TOPIC_ID), PartitionRecord(TOPIC_ID, 0, (1,), (1,), 1, 0, 0)]
        )
        assert last == 2 and store.state is state
        assert store.apply([]) == 2
        before = store.state.copy()
    with MetadataStore.open(tmp_path) as store:
        assert store.state == before
        assert store.log.last_offset == 1  # an entry's offset is its first record's


def test_records_that_do_not_apply_are_never_written(tmp_path: Path) -> None:
    with MetadataStore.open(tmp_path) as store:
        store.apply([TopicRecord("t", TOPIC_ID)])
        size_bytes = store.log.size_bytes
        before = store.state.copy()
        with pytest.raises(MetadataInconsistencyError):
            # The second record is bad, so neither may reach the log or the state.
            store.apply([ProducerIdsRecord(1, 5), TopicRecord("t", TOPIC_ID)])
        assert store.log.size_bytes == size_bytes and store.state == before
    with MetadataStore.open(tmp_path) as store:
        assert store.state == before


def test_a_torn_batch_is_lost_whole(tmp_path: Path) -> None:
    with MetadataStore.open(tmp_path) as store:
        store.apply([ProducerIdsRecord(1, 5)])
        before = store.state.copy()
        store.apply([TopicRecord("t", TOPIC_ID), PartitionRecord(TOPIC_ID, 0, (1,), (1,), 1, 0, 0)])
    path = tmp_path / METADATA_DIRECTORY_NAME / LOG_FILE_NAME
    path.write_bytes(path.read_bytes()[:-3])
    with MetadataStore.open(tmp_path) as store:
        assert store.state == before
        assert store.state.topic_by_name("t") is None


def test_a_gap_between_entries_is_refused(tmp_path: Path) -> None:
    with MetadataLog.open(tmp_path / METADATA_DIRECTORY_NAME) as log:
        log.append(0, 0, encode_record_batch([ProducerIdsRecord(1, 5)]))
        log.append(5, 0, encode_record_batch([ProducerIdsRecord(1, 9)]))
    with pytest.raises(CorruptMetadataLogError, match="does not follow"):
        MetadataStore.open(tmp_path)


def test_producer_id_blocks_never_overlap_across_reopen(tmp_path: Path) -> None:
    blocks: list[range] = []
    for round_number in range(4):
        with MetadataStore.open(tmp_path) as store:
            core = ControllerCore(store.state, random.Random(round_number))
            if store.state.broker(1) is None:
                store.apply(core.register_broker(1, "h", 9092, None, bytes(16)).records)
            for block_size in (1, 1000, 7):
                operation = core.allocate_producer_ids(1, block_size)
                store.apply(operation.records)
                (block,) = operation.results
                assert block.error_code == ErrorCode.NONE
                blocks.append(range(block.first_producer_id, block.first_producer_id + block.size))
    ordered = sorted(blocks, key=lambda block: block.start)
    assert ordered[0].start == 0
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        assert earlier.stop <= later.start


def test_a_controller_over_a_store_sees_each_applied_operation(tmp_path: Path) -> None:
    with MetadataStore.open(tmp_path) as store:
        core = ControllerCore(store.state, random.Random(1))
        store.apply(core.register_broker(1, "h", 9092, None, bytes(16)).records)
        store.apply(core.create_topics([NewTopic("t", 2, 1)]).records)
        (again,) = core.create_topics([NewTopic("t", 2, 1)]).results
        assert again.error_code == ErrorCode.TOPIC_ALREADY_EXISTS
