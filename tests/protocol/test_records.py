"""Records in magic-2 batches: round trips, interop with real client libraries, malformed input."""

from __future__ import annotations

import struct

import pytest
from aiokafka.record.default_records import DefaultRecordBatch as AiokafkaBatch
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AiokafkaBuilder
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch as KafkaPythonBatch
from kafka.record.default_records import DefaultRecordBatchBuilder as KafkaPythonBuilder

from flowlog.protocol.compression import Compression, compress
from flowlog.protocol.record_batch import (
    BATCH_HEADER_SIZE,
    CRC_AT,
    InvalidBatchError,
    compute_crc,
    set_log_append_time,
    validate_batch,
)
from flowlog.protocol.records import (
    Record,
    build_batch,
    build_control_record,
    build_transaction_marker_batch,
    decode_batch,
    decode_batch_fields,
    parse_control_record,
)
from flowlog.protocol.varint import decode_varint, encode_varint, varint_size

CODECS = list(Compression)
# kafka-python needs python-snappy/lz4/zstandard for the others; none is installed.
KAFKA_PYTHON_CODECS = [Compression.NONE, Compression.GZIP]
MAX_BATCH_BYTES = 1 << 24

optional_bytes = st.none() | st.binary(max_size=300)
headers = st.lists(st.tuples(st.text(max_size=20), optional_bytes), max_size=4).map(tuple)


@st.composite
def record_lists(draw: st.DrawFn) -> tuple[int, list[Record]]:
    base_offset = draw(st.integers(min_value=0, max_value=1 << 50))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=1000), max_size=20))
    # Any two differ by at most 2^63 - 1: a batch stores timestamps as int64 deltas.
    timestamps = st.integers(min_value=-(1 << 62), max_value=(1 << 62) - 1)
    offset = base_offset + draw(st.integers(min_value=0, max_value=5))
    records = []
    for gap in gaps:
        records.append(
            Record(offset, draw(timestamps), draw(optional_bytes), draw(optional_bytes), draw(headers))
        )
        offset += gap + 1
    return base_offset, records


# ---- varints


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert len(encoded) == varint_size(value)
    assert decode_varint(encoded + b"tail", 0) == (value, len(encoded))


def test_varint_known_encodings() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(-1) == b"\x01"
    assert encode_varint(1) == b"\x02"
    assert encode_varint(-64) == b"\x7f"
    assert encode_varint(64) == b"\x80\x01"
    assert encode_varint(-(1 << 63)) == b"\xff" * 9 + b"\x01"


# ---- round trips


@settings(max_examples=150, deadline=None)
@given(
    case=record_lists(),
    codec=st.sampled_from(CODECS),
    log_append=st.booleans(),
)
def test_build_then_decode_gives_the_records_back(
    case: tuple[int, list[Record]], codec: Compression, log_append: bool
) -> None:
    base_offset, records = case
    log_append_time = 1_700_000_000_000 if log_append else None
    batch = build_batch(
        records, base_offset=base_offset, compression=codec, log_append_time=log_append_time
    )
    header = validate_batch(batch)
    decoded_header, decoded = decode_batch(batch)
    assert decoded_header == header
    assert header.records_count == len(records)
    assert header.base_offset == base_offset
    if log_append_time is None:
        assert decoded == records
    else:
        assert decoded == [
            Record(r.offset, log_append_time, r.key, r.value, r.headers) for r in records
        ]
    if records:
        assert header.last_offset == records[-1].offset
        assert header.base_timestamp == records[0].timestamp
        assert header.compression == codec
        if log_append_time is None:
            assert header.max_timestamp == max(r.timestamp for r in records)


def test_header_fields_are_written() -> None:
    records = [Record(100, 5, b"k", b"v"), Record(103, 7, None, b"w")]
    batch = build_batch(
        records,
        base_offset=100,
        producer_id=42,
        producer_epoch=3,
        base_sequence=17,
        partition_leader_epoch=9,
        transactional=True,
        last_offset_delta=6,
        base_timestamp=2,
    )
    header, decoded = decode_batch(batch)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 3, 17)
    assert header.partition_leader_epoch == 9
    assert header.is_transactional and not header.is_control
    assert header.last_offset_delta == 6 and header.base_timestamp == 2
    assert header.max_timestamp == 7
    assert decoded == records


def test_empty_batch_keeps_producer_state() -> None:
    batch = build_batch(
        [], base_offset=50, compression=Compression.ZSTD, producer_id=7, producer_epoch=1,
        base_sequence=10, last_offset_delta=4, base_timestamp=123,
    )
    header, decoded = decode_batch(batch)
    assert decoded == []
    assert len(batch) == BATCH_HEADER_SIZE
    assert (header.next_offset, header.last_sequence, header.max_timestamp) == (55, 14, 123)


def test_set_log_append_time_is_seen_by_decode() -> None:
    batch = bytearray(build_batch([Record(0, 1, None, b"a"), Record(1, 2, None, b"b")]))
    set_log_append_time(batch, 999)
    _, decoded = decode_batch(batch)
    assert [record.timestamp for record in decoded] == [999, 999]


def test_header_key_that_is_not_utf8_survives_a_round_trip() -> None:
    body = _record_body(headers_section=encode_varint(1) + encode_varint(2) + b"\xff\xfe"
                        + encode_varint(-1))
    _, decoded = decode_batch(_wrap(body, 1))
    rebuilt = build_batch(decoded)
    assert rebuilt[BATCH_HEADER_SIZE:] == body


def test_build_rejects_bad_offsets() -> None:
    with pytest.raises(ValueError, match="must increase"):
        build_batch([Record(5, 0, None, None), Record(5, 0, None, None)], base_offset=5)
    with pytest.raises(ValueError, match="must increase"):
        build_batch([Record(4, 0, None, None)], base_offset=5)
    with pytest.raises(ValueError, match="below the last record"):
        build_batch([Record(0, 0, None, None), Record(3, 0, None, None)], last_offset_delta=2)
    with pytest.raises(ValueError, match="2\\^31-1"):
        build_batch([Record(1 << 31, 0, None, None)])
    with pytest.raises(ValueError, match="codec 6"):
        build_batch([Record(0, 0, None, None)], compression=6)
    with pytest.raises(ValueError, match="out of range"):
        build_batch([Record(0, 0, None, None)], producer_epoch=1 << 20)


# ---- control records


@pytest.mark.parametrize("commit", [True, False])
def test_transaction_marker_round_trip(commit: bool) -> None:
    batch = build_transaction_marker_batch(
        77, 1000, producer_id=5, producer_epoch=2, commit=commit, coordinator_epoch=31
    )
    header, (record,) = decode_batch(batch)
    assert header.is_control and header.is_transactional
    assert header.base_sequence == -1 and header.base_offset == 77
    assert parse_control_record(record) == (commit, 31)
    (kafka_python_record,) = list(KafkaPythonBatch(bytearray(batch)))
    assert kafka_python_record.commit is commit


def test_parse_control_record_rejects_bad_records() -> None:
    with pytest.raises(InvalidBatchError, match="short key"):
        parse_control_record(Record(1, 0, b"\x00", b"\x00\x00\x00\x00\x00\x00"))
    with pytest.raises(InvalidBatchError, match="unknown type 7"):
        parse_control_record(Record(1, 0, struct.pack(">hh", 0, 7), bytes(6)))
    with pytest.raises(InvalidBatchError, match="short value"):
        parse_control_record(Record(1, 0, struct.pack(">hh", 0, 1), None))
    record = build_control_record(3, 0, commit=False, coordinator_epoch=-1)
    assert parse_control_record(record) == (False, -1)


# ---- interop with real client libraries


def _sample_records(count: int) -> list[Record]:
    return [
        Record(
            offset,
            1_700_000_000_000 + offset * 3,
            None if offset % 5 == 0 else b"key-%d" % offset,
            None if offset % 7 == 0 else b"value %d " % offset * 10,
            () if offset % 3 else (("trace", b"abc"), ("empty", None)),
        )
        for offset in range(count)
    ]


def _build_with(builder_class: type, codec: Compression, records: list[Record]) -> bytes:
    builder = builder_class(
        magic=2, compression_type=int(codec), is_transactional=0, producer_id=9,
        producer_epoch=1, base_sequence=100, batch_size=MAX_BATCH_BYTES,
    )
    for record in records:
        builder.append(record.offset, record.timestamp, record.key, record.value,
                       list(record.headers))
    return bytes(builder.build())


def _records_read_by(batch_class: type, batch: bytes) -> list[Record]:
    reader = batch_class(bytearray(batch))
    assert reader.validate_crc()
    return [
        Record(r.offset, r.timestamp, r.key, r.value, tuple(tuple(h) for h in r.headers))
        for r in reader
    ]


@pytest.mark.parametrize("codec", KAFKA_PYTHON_CODECS)
def test_kafka_python_batches_decode(codec: Compression) -> None:
    records = _sample_records(200)
    header, decoded = decode_batch(_build_with(KafkaPythonBuilder, codec, records))
    assert decoded == records
    assert header.compression == codec
    assert (header.producer_id, header.base_sequence) == (9, 100)


@pytest.mark.parametrize("codec", KAFKA_PYTHON_CODECS)
def test_our_batches_read_by_kafka_python(codec: Compression) -> None:
    records = _sample_records(200)
    batch = build_batch(records, compression=codec, producer_id=9, producer_epoch=1)
    assert _records_read_by(KafkaPythonBatch, batch) == records


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_batches_decode(codec: Compression) -> None:
    records = _sample_records(200)
    header, decoded = decode_batch(_build_with(AiokafkaBuilder, codec, records))
    assert decoded == records
    assert header.compression == codec


@pytest.mark.parametrize("codec", CODECS)
def test_our_batches_read_by_aiokafka(codec: Compression) -> None:
    records = _sample_records(200)
    batch = build_batch(records, base_offset=0, compression=codec)
    assert _records_read_by(AiokafkaBatch, batch) == records


def test_offset_gaps_read_by_kafka_python() -> None:
    records = [Record(1000, 1, b"a", b"1"), Record(1004, 2, b"b", b"2"), Record(1010, 3, b"c", None)]
    batch = build_batch(records, base_offset=1000, compression=Compression.GZIP)
    assert _records_read_by(KafkaPythonBatch, batch) == records
    assert KafkaPythonBatch(bytearray(batch)).next_offset == 1011


# ---- malformed input


def _wrap(body: bytes, count: int, *, attributes: int = 0) -> bytes:
    """A batch with a valid header and CRC around an arbitrary records section."""
    batch = bytearray(BATCH_HEADER_SIZE + len(body))
    struct.pack_into(
        ">qiibIhiqqqhii", batch, 0, 0, len(batch) - 12, -1, 2, 0, attributes,
        max(count - 1, 0), 0, 0, -1, -1, -1, count,
    )
    batch[BATCH_HEADER_SIZE:] = body
    struct.pack_into(">I", batch, CRC_AT, compute_crc(batch))
    return bytes(batch)


def _record_body(
    *, key: bytes = encode_varint(-1), value: bytes = encode_varint(-1),
    headers_section: bytes = encode_varint(0), length_adjust: int = 0,
) -> bytes:
    fields = b"\x00" + encode_varint(0) + encode_varint(0) + key + value + headers_section
    return encode_varint(len(fields) + length_adjust) + fields


def test_truncated_batches_are_rejected() -> None:
    batch = build_batch(_sample_records(5))
    for size in range(len(batch)):
        with pytest.raises(InvalidBatchError):
            decode_batch(batch[:size])


def test_crc_mismatch_is_rejected() -> None:
    batch = bytearray(build_batch(_sample_records(3)))
    batch[-1] ^= 1
    with pytest.raises(InvalidBatchError, match="CRC"):
        decode_batch(batch)


@pytest.mark.parametrize(
    ("body", "count", "message"),
    [
        (b"\xff" * 12, 1, "longer than 5 bytes"),
        (_record_body() + _record_body(), 3, "declares 3 records"),
        (_record_body() * 3, 2, "trailing data"),
        (_record_body(length_adjust=5) + b"\x00" * 2, 1, "declares length"),
        (_record_body(length_adjust=1) + _record_body(), 2, "record 0 of 2: .*fields take 6"),
        (_record_body(length_adjust=-1) + _record_body(), 2, "length 5, below the 6 bytes"),
        (_record_body(key=encode_varint(50) + b"k"), 1, "key .* declares length 50"),
        (_record_body(value=encode_varint(-2)), 1, "value .* declares length -2"),
        (_record_body(headers_section=encode_varint(40)), 1, "40 headers"),
        (_record_body(headers_section=encode_varint(1) + encode_varint(-1) * 2), 1, "null"),
        (_record_body() + b"\x0e\x00" + b"\x80" * 5, 2, "record 1 of 2"),
    ],
)
def test_malformed_records_are_rejected(body: bytes, count: int, message: str) -> None:
    with pytest.raises(InvalidBatchError, match=message):
        decode_batch(_wrap(body, count))


def test_corrupt_compressed_records_are_rejected() -> None:
    with pytest.raises(InvalidBatchError, match="corrupt gzip"):
        decode_batch(_wrap(b"\x1f\x8b not really gzip", 1, attributes=Compression.GZIP))


def test_reserved_codec_is_rejected() -> None:
    with pytest.raises(InvalidBatchError, match="codec 5"):
        decode_batch(_wrap(_record_body(), 1, attributes=5))


def test_decompression_bomb_is_rejected() -> None:
    bomb = compress(Compression.ZSTD, bytes(10 * 1024 * 1024))
    with pytest.raises(InvalidBatchError, match="65536 byte limit"):
        decode_batch(_wrap(bomb, 1, attributes=Compression.ZSTD),
                     max_decompressed_size_bytes=65536)


@settings(max_examples=200, deadline=None)
@given(
    codec=st.sampled_from([Compression.NONE, Compression.NONE, Compression.GZIP]),
    flip_at=st.integers(min_value=0),
    flip_mask=st.integers(min_value=1, max_value=255),
)
def test_corrupted_records_fail_only_with_invalid_batch_error(
    codec: Compression, flip_at: int, flip_mask: int
) -> None:
    clean = build_batch(_sample_records(4), compression=codec)
    body = bytearray(clean[BATCH_HEADER_SIZE:])
    body[flip_at % len(body)] ^= flip_mask
    batch = bytearray(clean[:BATCH_HEADER_SIZE] + body)
    struct.pack_into(">I", batch, CRC_AT, compute_crc(batch))
    try:
        decode_batch(batch)
    except InvalidBatchError:
        pass


def test_decode_batch_fields_matches_decode_batch() -> None:
    records = [
        Record(7, 1_000, b"k", b"v" * 300, (("a", b"1"), ("b", None))),
        Record(9, -5, None, None),
        Record(400, 10**12, b"", b""),
    ]
    batch = build_batch(records, base_offset=7)
    header, fields = decode_batch_fields(batch)
    assert fields == [
        (r.offset, r.timestamp, r.key, r.value, r.headers) for r in records
    ]
    assert decode_batch(batch) == (header, records)
    _, appended = decode_batch_fields(build_batch(records, base_offset=7, log_append_time=42))
    assert [f[1] for f in appended] == [42, 42, 42]
