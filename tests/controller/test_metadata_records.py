"""Metadata record encoding: round trips for every type, clear errors for bad bytes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.controller.metadata_records import (
    RECORD_TYPES,
    ConfigRecord,
    ConfigResourceType,
    FenceBrokerRecord,
    MetadataRecord,
    MetadataRecordError,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
    UnregisterBrokerRecord,
    decode_record,
    decode_record_batch,
    encode_record,
    encode_record_batch,
)

uuids = st.binary(min_size=16, max_size=16)
broker_ids = st.integers(0, 2**31 - 1)
replica_lists = st.lists(broker_ids, min_size=1, max_size=5, unique=True).map(tuple)
leaders = st.integers(-1, 2**31 - 1)
texts = st.text(max_size=20)

records: st.SearchStrategy[MetadataRecord] = st.one_of(
    st.builds(RegisterBrokerRecord, broker_ids, texts, st.integers(0, 65535),
              st.none() | texts, uuids),
    st.builds(UnregisterBrokerRecord, broker_ids),
    st.builds(TopicRecord, texts, uuids),
    st.builds(PartitionRecord, uuids, broker_ids, replica_lists, replica_lists, leaders,
              broker_ids, broker_ids),
    st.builds(PartitionChangeRecord, uuids, broker_ids, st.none() | leaders,
              st.none() | replica_lists, st.none() | replica_lists),
    st.builds(RemoveTopicRecord, uuids),
    st.builds(ConfigRecord, st.sampled_from(ConfigResourceType), texts, texts, st.none() | texts),
    st.builds(ProducerIdsRecord, broker_ids, st.integers(0, 2**63 - 1)),
    st.builds(FenceBrokerRecord, broker_ids),
    st.builds(UnfenceBrokerRecord, broker_ids),
)


@settings(max_examples=200, deadline=None)
@given(records)
def test_every_record_round_trips(record: MetadataRecord) -> None:
    assert decode_record(encode_record(record)) == record


@settings(max_examples=50, deadline=None)
@given(st.lists(records, min_size=1, max_size=10))
def test_batches_round_trip(batch: list[MetadataRecord]) -> None:
    assert decode_record_batch(encode_record_batch(batch)) == batch


def test_every_record_type_has_a_distinct_tag() -> None:
    tags = [tag for tag, _ in RECORD_TYPES.values()]
    assert len(tags) == len(set(tags)) == 10


def document(tag: int, data: dict[str, object], version: int = 0) -> bytes:
    return orjson.dumps({"type": tag, "version": version, "data": data})


TOPIC_ID_HEX = "ab" * 16


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\x00\xffgarbage", "not valid JSON"),
        (b"[1, 2]", "not a metadata record document"),
        (b'{"type": 3}', "not a metadata record document"),
        (document(99, {}), "unknown metadata record type 99"),
        (document(3, {"name": "t", "topic_id": TOPIC_ID_HEX}, version=1), "version 1"),
        (document(3, {"name": "t"}), "missing field"),
        (document(3, {"name": 5, "topic_id": TOPIC_ID_HEX}), "expected a string"),
        (document(3, {"name": "t", "topic_id": "abcd"}), "must be 16 bytes"),
        (document(3, {"name": "t", "topic_id": "zz" * 16}), "non-hexadecimal"),
        (document(3, {"name": "t", "topic_id": TOPIC_ID_HEX, "extra": 1}), "Extra fields"),
        (document(2, {"node_id": "5"}), "expected an integer"),
        (document(2, {"node_id": True}), "expected an integer"),
        (document(2, {"node_id": -5}), "must be >= 0"),
        (document(7, {"resource_type": 3, "resource_name": "a", "name": "b", "value": None}),
         "not a valid ConfigResourceType"),
        (document(4, {"topic_id": TOPIC_ID_HEX, "partition": 0, "replicas": [1, 1], "isr": [1],
                      "leader": 1, "leader_epoch": 0, "partition_epoch": 0}), "duplicate"),
    ],
)
def test_bad_bytes_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(MetadataRecordError, match=message):
        decode_record(data)


def test_bad_batches_raise() -> None:
    with pytest.raises(MetadataRecordError):
        decode_record_batch(b"[]")
    with pytest.raises(MetadataRecordError):
        decode_record_batch(b'{"type": 2}')
    with pytest.raises(ValueError, match="1 to"):
        encode_record_batch([])


def test_records_refuse_bad_fields_at_construction() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TopicRecord("t", b"short")
    with pytest.raises(ValueError, match="broker id"):
        PartitionChangeRecord(bytes(16), 0, leader=-2)
