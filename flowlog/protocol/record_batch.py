"""The Kafka v2 (magic 2) record batch header: layout, parsing, validation, rewriting.

A batch is stored and served as opaque bytes; only its 61-byte header is ever
looked at on the hot path. Offsets below are into the batch as it sits on the
wire or on disk.

    0  base_offset              int64   written by the broker on append
    8  batch_length             int32   bytes after this field
    12 partition_leader_epoch   int32   written by the broker; outside the CRC
    16 magic                    int8    always 2
    17 crc                      uint32  CRC-32C of bytes 21..end
    21 attributes               int16
    23 last_offset_delta        int32
    27 base_timestamp           int64
    35 max_timestamp            int64
    43 producer_id              int64
    51 producer_epoch           int16
    53 base_sequence            int32
    57 records_count            int32
    61 records...
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import crc32c

BATCH_HEADER_SIZE = 61
# Bytes before (and including) batch_length: what a reader needs to find the batch end.
BATCH_LENGTH_PREFIX_SIZE = 12
# batch_length counts from partition_leader_epoch on; a batch can't be shorter than its header.
MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - BATCH_LENGTH_PREFIX_SIZE
MAGIC_V2 = 2
CRC_START = 21

BASE_OFFSET_AT = 0
BATCH_LENGTH_AT = 8
LEADER_EPOCH_AT = 12
MAGIC_AT = 16
CRC_AT = 17
ATTRIBUTES_AT = 21
MAX_TIMESTAMP_AT = 35

# Attribute bits.
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_LOG_APPEND = 0x08
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20
DELETE_HORIZON_FLAG = 0x40

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_OFFSET_AND_EPOCH = struct.Struct(">qii")
# Hot-path aliases: a parsed header is tuple.__new__ over the unpacked fields.
_new_tuple = tuple.__new__
_unpack_header = _HEADER.unpack_from
_crc32c = crc32c.crc32c


class InvalidBatchError(ValueError):
    """A record batch whose bytes do not form a valid magic-2 batch."""


class CorruptBatchError(InvalidBatchError):
    """A record batch whose stored CRC does not match its contents."""


class BatchHeader(NamedTuple):
    """The 13 header fields in wire order.

    A NamedTuple rather than an attrs class: one is built per produced, recovered
    or scanned batch, and tuple.__new__ over struct.unpack_from output costs a
    fifth of a frozen attrs __init__ (13 object.__setattr__ calls).
    """

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Total bytes of the batch, header included."""
        return self.batch_length + BATCH_LENGTH_PREFIX_SIZE

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_LOG_APPEND)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record; int32 sequences wrap to 0 as Kafka's do."""
        if self.base_sequence < 0:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def parse_header(buffer: bytes | bytearray | memoryview, at: int = 0) -> BatchHeader:
    """Parse the 61-byte header starting at `at` without checking anything but its size."""
    if len(buffer) - at < BATCH_HEADER_SIZE:
        raise InvalidBatchError(
            f"record batch header needs {BATCH_HEADER_SIZE} bytes, got {len(buffer) - at}"
        )
    return _new_tuple(BatchHeader, _unpack_header(buffer, at))


def read_batch_length(buffer: bytes | bytearray | memoryview, at: int = 0) -> int:
    """The batch_length field of a batch starting at `at` (needs 12 bytes)."""
    return int(_INT32.unpack_from(buffer, at + BATCH_LENGTH_AT)[0])


def compute_crc(batch: bytes | bytearray | memoryview) -> int:
    """CRC-32C over the CRC-covered part of one whole batch."""
    return int(crc32c.crc32c(memoryview(batch)[CRC_START:]))


def validate_batch(batch: bytes | bytearray | memoryview, *, check_crc: bool = True) -> BatchHeader:
    """Check that `batch` is exactly one well-formed magic-2 batch; return its header.

    Raises InvalidBatchError (CorruptBatchError for a CRC mismatch) with a
    message that names what is wrong.
    """
    size = len(batch)
    if size < BATCH_HEADER_SIZE:
        raise InvalidBatchError(f"record batch header needs {BATCH_HEADER_SIZE} bytes, got {size}")
    header = _new_tuple(BatchHeader, _unpack_header(batch))
    if header.magic != MAGIC_V2:
        raise InvalidBatchError(f"unsupported record batch magic {header.magic}, only 2 is stored")
    batch_length = header.batch_length
    if batch_length < MIN_BATCH_LENGTH:
        raise InvalidBatchError(f"record batch length {batch_length} is below the header size")
    if batch_length + BATCH_LENGTH_PREFIX_SIZE != size:
        raise InvalidBatchError(
            f"record batch declares {batch_length + BATCH_LENGTH_PREFIX_SIZE} bytes but {size} "
            f"were given"
        )
    if header.last_offset_delta < 0:
        raise InvalidBatchError(f"negative last offset delta {header.last_offset_delta}")
    if check_crc:
        actual = _crc32c(memoryview(batch)[CRC_START:])
        if actual != header.crc:
            raise CorruptBatchError(
                f"record batch CRC mismatch: stored {header.crc:#010x}, computed {actual:#010x}"
            )
    return header


def iter_batch_spans(
    buffer: bytes | bytearray | memoryview, at: int = 0
) -> list[tuple[int, int]]:
    """(start, size) of each complete batch laid end to end in `buffer` from `at`.

    Stops at the first incomplete or impossible length; does not check CRCs.
    """
    spans: list[tuple[int, int]] = []
    end = len(buffer)
    while end - at >= BATCH_HEADER_SIZE:
        length = read_batch_length(buffer, at)
        if length < MIN_BATCH_LENGTH:
            break
        size = length + BATCH_LENGTH_PREFIX_SIZE
        if at + size > end:
            break
        spans.append((at, size))
        at += size
    return spans


def set_base_offset(batch: bytearray | memoryview, base_offset: int) -> None:
    """Write the assigned base offset in place (outside the CRC)."""
    _INT64.pack_into(batch, BASE_OFFSET_AT, base_offset)


def set_partition_leader_epoch(batch: bytearray | memoryview, epoch: int) -> None:
    """Write the partition leader epoch in place (outside the CRC)."""
    _INT32.pack_into(batch, LEADER_EPOCH_AT, epoch)


def offset_and_epoch_prefix(base_offset: int, batch_length: int, leader_epoch: int) -> bytes:
    """The first 16 bytes of a batch with a new base offset and leader epoch.

    Lets the log write `prefix + batch[16:]` with writev, without copying the batch.
    """
    return _OFFSET_AND_EPOCH.pack(base_offset, batch_length, leader_epoch)


# The same, bound once for the log's append path.
pack_offset_and_epoch = _OFFSET_AND_EPOCH.pack
pack_offset_and_epoch_into = _OFFSET_AND_EPOCH.pack_into


def set_log_append_time(batch: bytearray | memoryview, timestamp_ms: int) -> None:
    """Mark a batch LogAppendTime with `timestamp_ms` and recompute its CRC.

    Both the attribute bit and max_timestamp lie inside the CRC, so this is
    the one rewrite that is not free.
    """
    attributes = struct.unpack_from(">h", batch, ATTRIBUTES_AT)[0]
    struct.pack_into(">h", batch, ATTRIBUTES_AT, attributes | TIMESTAMP_TYPE_LOG_APPEND)
    _INT64.pack_into(batch, MAX_TIMESTAMP_AT, timestamp_ms)
    _UINT32.pack_into(batch, CRC_AT, compute_crc(batch))
