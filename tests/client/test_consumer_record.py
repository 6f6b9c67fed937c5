"""ConsumerRecord keeps the frozen attrs class's API while being tuple-backed."""

from __future__ import annotations

import copy
import pickle

import attrs
import pytest

from flowlog.client.fetcher import decode_chunk
from flowlog.client.types import ConsumerRecord, TopicPartition
from flowlog.protocol.records import Record, build_batch


def _record(**changes: object) -> ConsumerRecord:
    fields: dict[str, object] = dict(
        topic="t", partition=1, offset=5, timestamp=10, key=b"k", value=b"v",
        headers=(("h", b"x"),), timestamp_type=1,
    )
    fields.update(changes)
    return ConsumerRecord(**fields)  # type: ignore[arg-type]


def test_fields_equality_hash_and_repr() -> None:
    record = _record()
    assert (record.topic, record.partition, record.offset, record.timestamp) == ("t", 1, 5, 10)
    assert (record.key, record.value, record.headers, record.timestamp_type) == (
        b"k", b"v", (("h", b"x"),), 1)
    assert record.topic_partition == TopicPartition("t", 1)
    assert record == _record() and hash(record) == hash(_record())
    assert record != _record(offset=6) and record != _record(topic="u")
    assert record != tuple(record) and tuple(record) != record
    assert record != Record(5, 10, b"k", b"v", (("h", b"x"),))
    assert repr(record) == (
        "ConsumerRecord(topic='t', partition=1, offset=5, timestamp=10, key=b'k', "
        "value=b'v', headers=(('h', b'x'),), timestamp_type=1)"
    )
    defaults = ConsumerRecord("t", 0, 1, 2, None, None)
    assert defaults.headers == () and defaults.timestamp_type == 0


def test_immutable_unordered_and_picklable() -> None:
    record = _record()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.offset = 6  # type: ignore[misc]
    with pytest.raises(AttributeError):
        record.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        _ = record < _record(offset=6)
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.deepcopy(record) == record
    match record:
        case ConsumerRecord(topic, partition, offset):
            assert (topic, partition, offset) == ("t", 1, 5)


def test_decode_chunk_builds_records_from_fetch_offset() -> None:
    records = [Record(100 + i, 1_000 + i, b"k%d" % i, b"v%d" % i, (("h", None),)) for i in range(5)]
    blob = build_batch(records, base_offset=100) + build_batch(
        [Record(105, 2_000, None, b"w")], base_offset=105, log_append_time=3_000)
    decoded, next_offset = decode_chunk(TopicPartition("t", 2), blob, 102, None)
    assert next_offset == 106
    assert decoded == [
        ConsumerRecord("t", 2, r.offset, r.timestamp, r.key, r.value, r.headers, 0)
        for r in records[2:]
    ] + [ConsumerRecord("t", 2, 105, 3_000, None, b"w", (), 1)]
