"""The one-record encoder and seal_batch: the producer's path agrees with build_batch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol.compression import Compression
from flowlog.protocol.records import (
    Record,
    build_batch,
    decode_batch,
    encode_record_into,
    encode_records,
    seal_batch,
)
from flowlog.protocol.varint import encode_varint

optional_bytes = st.none() | st.binary(max_size=300) | st.binary(min_size=8000, max_size=9000)
headers = st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=50)), max_size=4)
deltas = st.integers(min_value=0, max_value=20) | st.integers(min_value=0, max_value=(1 << 31) - 1)
timestamp_deltas = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1) | st.integers(
    min_value=-5, max_value=9000
)


def _reference_record(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    record_headers: list[tuple[str, bytes | None]],
) -> bytes:
    """The record layout written out field by field, the slow obvious way."""
    fields = b"\x00" + encode_varint(timestamp_delta) + encode_varint(offset_delta)
    for blob in (key, value):
        fields += encode_varint(-1) if blob is None else encode_varint(len(blob)) + blob
    fields += encode_varint(len(record_headers))
    for name, header_value in record_headers:
        raw = name.encode("utf-8", "surrogateescape")
        fields += encode_varint(len(raw)) + raw
        fields += (
            encode_varint(-1)
            if header_value is None
            else encode_varint(len(header_value)) + header_value
        )
    return encode_varint(len(fields)) + fields


@settings(max_examples=300, deadline=None)
@given(deltas, timestamp_deltas, optional_bytes, optional_bytes, headers)
def test_encode_record_into_matches_the_layout(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    record_headers: list[tuple[str, bytes | None]],
) -> None:
    buffer = bytearray(b"prefix")
    size = encode_record_into(buffer, offset_delta, timestamp_delta, key, value, record_headers)
    expected = _reference_record(offset_delta, timestamp_delta, key, value, record_headers)
    assert bytes(buffer) == b"prefix" + expected
    assert size == len(expected)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=1 << 45), optional_bytes, optional_bytes, headers
        ),
        max_size=30,
    ),
    st.sampled_from(list(Compression)),
)
def test_incremental_batch_equals_build_batch_and_round_trips(
    items: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]],
    codec: Compression,
) -> None:
    """What the producer does (encode at send time, seal later) gives build_batch's bytes."""
    records = [
        Record(index, timestamp, key, value, tuple(record_headers))
        for index, (timestamp, key, value, record_headers) in enumerate(items)
    ]
    base_timestamp = records[0].timestamp if records else -1
    buffer = bytearray()
    for record in records:
        encode_record_into(
            buffer, record.offset, record.timestamp - base_timestamp, record.key, record.value,
            record.headers,
        )
    assert bytes(buffer) == encode_records(records, 0, base_timestamp)[0]
    sealed = seal_batch(
        buffer,
        len(records),
        last_offset_delta=max(len(records) - 1, 0),
        base_timestamp=base_timestamp,
        max_timestamp=max((r.timestamp for r in records), default=base_timestamp),
        compression=codec,
        producer_id=7,
        producer_epoch=1,
        base_sequence=42,
    )
    built = build_batch(
        records, compression=codec, producer_id=7, producer_epoch=1, base_sequence=42
    )
    header, decoded = decode_batch(sealed)
    assert decoded == records
    assert header.base_sequence == 42 and header.producer_id == 7
    assert sealed == built


def test_encode_record_into_rejects_bad_deltas_and_leaves_the_buffer() -> None:
    buffer = bytearray(b"kept")
    with pytest.raises(ValueError):
        encode_record_into(buffer, -1, 0, None, b"v")
    with pytest.raises(ValueError):
        encode_record_into(buffer, 1 << 31, 0, None, b"v")
    with pytest.raises(ValueError):
        encode_record_into(buffer, 0, 1 << 63, None, b"v")
    assert buffer == b"kept"
