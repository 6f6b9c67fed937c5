"""Records inside a magic-2 record batch: decode a whole batch, build one.

The broker never calls this on produce or fetch (batches stay opaque bytes);
clients, compaction, LogAppendTime and tests do. One record, after the 61-byte
batch header (compressed as one blob when the batch is):

    length            varint   bytes of the record after this field
    attributes        int8     unused, written as 0
    timestamp_delta   varlong  timestamp - batch base_timestamp
    offset_delta      varint   offset - batch base_offset
    key_length        varint   -1 for a null key
    key               bytes
    value_length      varint   -1 for a null value
    value             bytes
    header_count      varint
    headers           per header: key_length varint, key (UTF-8), value_length
                      varint (-1 for null), value

Choices:
- Offsets and timestamps in Record are absolute. A LogAppendTime batch gives
  every record its max_timestamp, as Kafka does.
- Offset deltas are record.offset - base_offset, so a compacted batch keeps its
  gaps; offsets must strictly increase within a batch.
- Header keys are decoded as UTF-8 with surrogateescape, and encoded the same
  way, so a key that is not valid UTF-8 survives a decode/build round trip
  (compaction must not change data) instead of failing a consumer.
- A batch with no records (compaction may keep one for its producer state) has
  no records section at all, even when its attributes name a codec.
- Control records (transaction markers): key = int16 version, int16 type
  (0 abort, 1 commit); value = int16 version, int32 coordinator epoch.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import attrs

from flowlog.protocol.compression import (
    MAX_DECOMPRESSED_SIZE_BYTES,
    Compression,
    CorruptCompressedDataError,
    UnsupportedCompressionError,
    as_compression,
    compress,
    decompress,
)
from flowlog.protocol.record_batch import (
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_PREFIX_SIZE,
    CONTROL_FLAG,
    CRC_AT,
    MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TIMESTAMP_TYPE_LOG_APPEND,
    TRANSACTIONAL_FLAG,
    BatchHeader,
    InvalidBatchError,
    compute_crc,
    validate_batch,
)
from flowlog.protocol.varint import (
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    SINGLE_BYTE_VALUES,
    VARINT_MAX_SIZE_BYTES,
    VARLONG_MAX_SIZE_BYTES,
    VarintError,
    decode_varint,
    encode_varint,
)

# Smallest record: one byte each for length, attributes, timestamp delta,
# offset delta, key length, value length and header count.
MIN_RECORD_SIZE_BYTES = 7
# Smallest header: a key length and a value length.
MIN_HEADER_SIZE_BYTES = 2
NO_TIMESTAMP = -1

CONTROL_RECORD_VERSION = 0
CONTROL_TYPE_ABORT = 0
CONTROL_TYPE_COMMIT = 1
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")

_HEADER = struct.Struct(">qiibIhiqqqhii")
_NULL_LENGTH = encode_varint(-1)
_NO_HEADERS = encode_varint(0)
_RECORD_ATTRIBUTES = b"\x00"
_HEADER_KEY_ENCODING = "utf-8"
_HEADER_KEY_ERRORS = "surrogateescape"


@attrs.frozen(slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


# ---------------------------------------------------------------- decoding


RecordFields = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]
"""(offset, timestamp, key, value, headers): one decoded record without a Record object."""


def decode_batch(
    batch: bytes | bytearray | memoryview,
    *,
    max_decompressed_size_bytes: int = MAX_DECOMPRESSED_SIZE_BYTES,
) -> tuple[BatchHeader, list[Record]]:
    """Check one whole magic-2 batch (CRC included) and decode all its records.

    Raises InvalidBatchError naming the problem: a bad header or CRC, an
    unknown codec, corrupt compressed data, or malformed records.
    """
    header, fields = decode_batch_fields(
        batch, max_decompressed_size_bytes=max_decompressed_size_bytes
    )
    return header, [Record(*record) for record in fields]


def decode_batch_fields(
    batch: bytes | bytearray | memoryview,
    *,
    max_decompressed_size_bytes: int = MAX_DECOMPRESSED_SIZE_BYTES,
) -> tuple[BatchHeader, list[RecordFields]]:
    """decode_batch, but each record is a plain (offset, timestamp, key, value, headers) tuple.

    For hot paths (the consumer) that build their own record objects: it
    saves one object per record. Same checks and errors as decode_batch.
    """
    header = validate_batch(batch)
    body_view = memoryview(batch)[BATCH_HEADER_SIZE:]
    if header.records_count < 0:
        raise InvalidBatchError(f"negative record count {header.records_count}")
    if header.records_count == 0:
        if len(body_view):
            raise InvalidBatchError(
                f"batch with no records has {len(body_view)} bytes of records section"
            )
        return header, []
    try:
        body = decompress(
            header.compression, body_view, max_size_bytes=max_decompressed_size_bytes
        )
    except (UnsupportedCompressionError, CorruptCompressedDataError) as error:
        raise InvalidBatchError(
            f"records of batch at offset {header.base_offset}: {error}"
        ) from error
    log_append_time = header.max_timestamp if header.is_log_append_time else None
    records = decode_record_fields(
        body, header.records_count, header.base_offset, header.base_timestamp, log_append_time
    )
    return header, records


def decode_records(
    body: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None = None,
) -> list[Record]:
    """Decode exactly `count` records filling all of `body` (the uncompressed records section)."""
    fields = decode_record_fields(body, count, base_offset, base_timestamp, log_append_time)
    return [Record(*record) for record in fields]


def decode_record_fields(
    body: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None = None,
) -> list[RecordFields]:
    """decode_records as (offset, timestamp, key, value, headers) tuples.

    One loop with every field inline (no call per record): each varint takes
    the one-byte fast path (a table lookup) before falling back to
    decode_varint, as nearly every field of a real record is one byte.
    """
    end = len(body)
    if count * MIN_RECORD_SIZE_BYTES > end:
        raise InvalidBatchError(
            f"batch declares {count} records but its {end} byte records section "
            f"holds at most {end // MIN_RECORD_SIZE_BYTES}"
        )
    records: list[RecordFields] = []
    append = records.append
    single = SINGLE_BYTE_VALUES
    min_length = MIN_RECORD_SIZE_BYTES - 1
    no_headers: tuple[tuple[str, bytes | None], ...] = ()
    # With LogAppendTime every record gets log_append_time.
    fixed_timestamp = log_append_time is not None
    append_time = log_append_time if log_append_time is not None else 0
    position = 0
    index = start = 0
    try:
        # count is bounded by end / MIN_RECORD_SIZE_BYTES (checked above).
        for index in range(count):  # noqa: B007 (the error messages name it)
            start = position
            byte = body[position]
            if byte < 0x80:
                length = single[byte]
                position += 1
            else:
                length, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
            record_end = position + length
            if length < min_length:
                raise InvalidBatchError(
                    f"record at byte {start} declares length {length}, below the "
                    f"{min_length} bytes its fields need at least"
                )
            if record_end > end:
                raise InvalidBatchError(
                    f"record at byte {start} declares length {length} "
                    f"but {end - position} bytes remain"
                )
            position += 1  # attributes: no record-level attribute is defined
            byte = body[position]
            if byte < 0x80:
                timestamp_delta = single[byte]
                position += 1
            else:
                timestamp_delta, position = decode_varint(body, position, VARLONG_MAX_SIZE_BYTES)
            byte = body[position]
            if byte < 0x80:
                offset_delta = single[byte]
                position += 1
            else:
                offset_delta, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
            byte = body[position]
            if byte < 0x80:
                size = single[byte]
                position += 1
            else:
                size, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
            key: bytes | None = None
            if size >= 0 and position + size <= record_end:
                key = body[position : position + size]
                position += size
            elif size != -1:
                raise InvalidBatchError(
                    f"key at byte {position} declares length {size} "
                    f"but its record has {record_end - position} bytes left"
                )
            byte = body[position]
            if byte < 0x80:
                size = single[byte]
                position += 1
            else:
                size, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
            value: bytes | None = None
            if size >= 0 and position + size <= record_end:
                value = body[position : position + size]
                position += size
            elif size != -1:
                raise InvalidBatchError(
                    f"value at byte {position} declares length {size} "
                    f"but its record has {record_end - position} bytes left"
                )
            byte = body[position]
            if byte < 0x80:
                header_count = single[byte]
                position += 1
            else:
                header_count, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
            headers = no_headers
            if header_count:
                headers, position = _read_headers(body, position, record_end, header_count)
            if position != record_end:
                raise InvalidBatchError(
                    f"record at byte {start} declares {length} bytes but its fields take "
                    f"{position - (record_end - length)}"
                )
            append((
                base_offset + offset_delta,
                append_time if fixed_timestamp else base_timestamp + timestamp_delta,
                key,
                value,
                headers,
            ))
    except (VarintError, InvalidBatchError) as error:
        raise InvalidBatchError(f"record {index} of {count}: {error}") from None
    except IndexError:
        raise InvalidBatchError(
            f"record {index} of {count} at byte {start} runs past the end of the "
            f"{end} byte records section"
        ) from None
    if position != end:
        raise InvalidBatchError(
            f"{end - position} bytes of trailing data after the {count} declared records"
        )
    return records


def _read_bytes(body: bytes, position: int, limit: int, field: str) -> tuple[bytes | None, int]:
    """A length-prefixed byte string (-1 = null) that must end by `limit`."""
    byte = body[position]
    if byte < 0x80:
        size = SINGLE_BYTE_VALUES[byte]
        position += 1
    else:
        size, position = decode_varint(body, position, VARINT_MAX_SIZE_BYTES)
    if size == -1:
        return None, position
    if size < -1 or position + size > limit:
        raise InvalidBatchError(
            f"{field} at byte {position} declares length {size} "
            f"but its record has {limit - position} bytes left"
        )
    return body[position : position + size], position + size


def _read_headers(
    body: bytes, position: int, limit: int, count: int
) -> tuple[tuple[tuple[str, bytes | None], ...], int]:
    if count < 0 or count * MIN_HEADER_SIZE_BYTES > limit - position:
        raise InvalidBatchError(
            f"record declares {count} headers but has {limit - position} bytes left"
        )
    headers: list[tuple[str, bytes | None]] = []
    # count is bounded by the bytes left in the record (checked above).
    for _ in range(count):
        key, position = _read_bytes(body, position, limit, "header key")
        if key is None:
            raise InvalidBatchError(f"header key at byte {position} is null")
        value, position = _read_bytes(body, position, limit, "header value")
        headers.append((key.decode(_HEADER_KEY_ENCODING, _HEADER_KEY_ERRORS), value))
    return tuple(headers), position


# ---------------------------------------------------------------- building


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    compression: Compression | int = Compression.NONE,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    transactional: bool = False,
    control: bool = False,
    log_append_time: int | None = None,
    last_offset_delta: int | None = None,
    base_timestamp: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """A complete, CRC-valid magic-2 batch holding `records`.

    Offset deltas are record.offset - base_offset. last_offset_delta defaults
    to the last record's delta (0 with no records), base_timestamp to the first
    record's timestamp (-1 with no records). max_timestamp is the largest
    record timestamp, or `log_append_time` (which also sets the LogAppendTime
    attribute) when given. Raises ValueError for values that do not fit.
    """
    if base_timestamp is None:
        base_timestamp = records[0].timestamp if records else NO_TIMESTAMP
    body, last_record_delta = encode_records(records, base_offset, base_timestamp)
    if last_offset_delta is None:
        last_offset_delta = max(last_record_delta, 0)
    elif last_offset_delta < last_record_delta:
        raise ValueError(
            f"last_offset_delta {last_offset_delta} is below the last record's "
            f"offset delta {last_record_delta}"
        )
    max_timestamp = max((record.timestamp for record in records), default=base_timestamp)
    return seal_batch(
        body,
        len(records),
        last_offset_delta=last_offset_delta,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        base_offset=base_offset,
        compression=compression,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        partition_leader_epoch=partition_leader_epoch,
        transactional=transactional,
        control=control,
        log_append_time=log_append_time,
        compression_level=compression_level,
    )


def seal_batch(
    records_section: bytes | bytearray | memoryview,
    records_count: int,
    *,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    base_offset: int = 0,
    compression: Compression | int = Compression.NONE,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    transactional: bool = False,
    control: bool = False,
    log_append_time: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """A complete batch around already-encoded records (encode_record_into's output).

    Compresses the records section when a codec is given (and there are
    records), writes the 61-byte header and the CRC. `log_append_time`, when
    given, replaces max_timestamp and sets the LogAppendTime attribute.
    Raises ValueError for header values that do not fit.
    """
    codec = as_compression(compression)
    attributes = int(codec)
    if transactional:
        attributes |= TRANSACTIONAL_FLAG
    if control:
        attributes |= CONTROL_FLAG
    if log_append_time is not None:
        attributes |= TIMESTAMP_TYPE_LOG_APPEND
        max_timestamp = log_append_time
    body = records_section
    if records_count and codec is not Compression.NONE:
        body = compress(codec, bytes(records_section), level=compression_level)
    batch = bytearray(BATCH_HEADER_SIZE + len(body))
    fields = (
        base_offset,
        len(batch) - BATCH_LENGTH_PREFIX_SIZE,
        partition_leader_epoch,
        MAGIC_V2,
        0,  # crc, computed below over the finished batch
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        records_count,
    )
    try:
        _HEADER.pack_into(batch, 0, *fields)
    except struct.error as error:
        raise ValueError(f"a batch header field is out of range ({fields}): {error}") from None
    batch[BATCH_HEADER_SIZE:] = body
    struct.pack_into(">I", batch, CRC_AT, compute_crc(batch))
    return bytes(batch)


def encode_records(
    records: Sequence[Record], base_offset: int, base_timestamp: int
) -> tuple[bytes, int]:
    """The uncompressed records section and the last record's offset delta (-1 if none)."""
    buffer = bytearray()
    previous_offset = base_offset - 1
    # One pass over the caller's sequence: its length bounds the loop.
    for record in records:
        if record.offset <= previous_offset:
            raise ValueError(
                f"record offset {record.offset} does not follow {previous_offset}: offsets "
                f"in a batch must increase and start at or after base offset {base_offset}"
            )
        previous_offset = record.offset
        offset_delta = record.offset - base_offset
        if offset_delta > INT32_MAX:
            raise ValueError(
                f"record offset {record.offset} is more than 2^31-1 past base offset {base_offset}"
            )
        timestamp_delta = record.timestamp - base_timestamp
        if not INT64_MIN <= timestamp_delta <= INT64_MAX:
            raise ValueError(
                f"record timestamp {record.timestamp} is too far from base {base_timestamp}"
            )
        encode_record_into(
            buffer, offset_delta, timestamp_delta, record.key, record.value, record.headers
        )
    return bytes(buffer), previous_offset - base_offset


# Zigzag varint bytes of 0 .. _VARINT_TABLE_SIZE - 1 (one or two bytes each):
# offset deltas, small timestamp deltas and the lengths of typical records.
_VARINT_TABLE_SIZE = 8192
_VARINTS: tuple[bytes, ...] = tuple(encode_varint(value) for value in range(_VARINT_TABLE_SIZE))


def encode_record_into(
    buffer: bytearray,
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> int:
    """Append one encoded record (length prefix included) to `buffer`; return its size.

    The one record encoder: build_batch uses it, and so does the producer,
    which encodes each record once, at send time, into its partition's open
    batch. Small values take their varints from a table. Raises ValueError for
    an offset delta outside 0..2^31-1, a timestamp delta outside int64, or a
    record over 2^31-1 bytes; the buffer is unchanged then.
    """
    table = _VARINTS
    size = _VARINT_TABLE_SIZE
    if 0 <= timestamp_delta < size:
        timestamp_bytes = table[timestamp_delta]
    else:
        timestamp_bytes = encode_varint(timestamp_delta)  # ValueError outside int64
    if 0 <= offset_delta < size:
        offset_bytes = table[offset_delta]
    elif 0 <= offset_delta <= INT32_MAX:
        offset_bytes = encode_varint(offset_delta)
    else:
        raise ValueError(f"offset delta {offset_delta} is outside 0..2^31-1")
    if key is None:
        key_length = _NULL_LENGTH
        key = b""
    else:
        length = len(key)
        key_length = table[length] if length < size else encode_varint(length)
    if value is None:
        value_length = _NULL_LENGTH
        value = b""
    else:
        length = len(value)
        value_length = table[length] if length < size else encode_varint(length)
    header_bytes = _encode_headers(headers) if headers else _NO_HEADERS
    fields = b"".join(
        (
            _RECORD_ATTRIBUTES,
            timestamp_bytes,
            offset_bytes,
            key_length,
            key,
            value_length,
            value,
            header_bytes,
        )
    )
    length = len(fields)
    if length < size:
        prefix = table[length]
    elif length <= INT32_MAX:
        prefix = encode_varint(length)
    else:
        raise ValueError(f"record of {length} bytes is larger than 2^31-1 bytes")
    buffer += prefix
    buffer += fields
    return len(prefix) + length


def _encode_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    parts = [encode_varint(len(headers))]
    append = parts.append
    for header_key, header_value in headers:
        key_bytes = header_key.encode(_HEADER_KEY_ENCODING, _HEADER_KEY_ERRORS)
        append(encode_varint(len(key_bytes)))
        append(key_bytes)
        if header_value is None:
            append(_NULL_LENGTH)
        else:
            append(encode_varint(len(header_value)))
            append(header_value)
    return b"".join(parts)


# ---------------------------------------------------------------- control records


def build_control_record(
    offset: int, timestamp: int, *, commit: bool, coordinator_epoch: int
) -> Record:
    """A transaction marker record: commit or abort, from a coordinator epoch."""
    key = _CONTROL_KEY.pack(
        CONTROL_RECORD_VERSION, CONTROL_TYPE_COMMIT if commit else CONTROL_TYPE_ABORT
    )
    try:
        value = _CONTROL_VALUE.pack(CONTROL_RECORD_VERSION, coordinator_epoch)
    except struct.error:
        raise ValueError(f"coordinator epoch {coordinator_epoch} does not fit in int32") from None
    return Record(offset, timestamp, key, value)


def build_transaction_marker_batch(
    offset: int,
    timestamp: int,
    *,
    producer_id: int,
    producer_epoch: int,
    commit: bool,
    coordinator_epoch: int,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """The one-record control batch that ends a transaction on one partition."""
    record = build_control_record(
        offset, timestamp, commit=commit, coordinator_epoch=coordinator_epoch
    )
    return build_batch(
        [record],
        base_offset=offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        partition_leader_epoch=partition_leader_epoch,
        transactional=True,
        control=True,
    )


def parse_control_record(record: Record) -> tuple[bool, int]:
    """(is_commit, coordinator_epoch) of a transaction marker record.

    Fields past the version-0 layout are ignored, as a newer version may add them.
    """
    key = record.key
    if key is None or len(key) < _CONTROL_KEY.size:
        raise InvalidBatchError(f"control record at offset {record.offset} has a short key {key!r}")
    version, control_type = _CONTROL_KEY.unpack_from(key)
    if version < 0:
        raise InvalidBatchError(
            f"control record at offset {record.offset} has negative version {version}"
        )
    if control_type not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
        raise InvalidBatchError(
            f"control record at offset {record.offset} has unknown type {control_type}"
        )
    value = record.value
    if value is None or len(value) < _CONTROL_VALUE.size:
        raise InvalidBatchError(
            f"transaction marker at offset {record.offset} has a short value {value!r}"
        )
    _value_version, coordinator_epoch = _CONTROL_VALUE.unpack_from(value)
    return control_type == CONTROL_TYPE_COMMIT, coordinator_epoch
