"""Byte layouts of window and session keys, and the checkpoint's values.

All integers are big-endian and unsigned, so the unsigned byte order of the
encoded keys is: segment, then key length, then key, then time. The length
prefix keeps a key apart from any key it is a prefix of (b"a" vs b"ab"), and
makes "all times of one key in one segment" one contiguous range.

    window:  [segment 8][key length 4][key][window start 8]
    session: [segment of end 8][key length 4][key][end 8][start 8]
"""

from __future__ import annotations

import struct

MAX_TIMESTAMP_MS = 2**63 - 1
MAX_KEY_BYTES = 2**32 - 1

SEGMENT = struct.Struct(">Q")
SEGMENT_AND_LENGTH = struct.Struct(">QI")
TIME = struct.Struct(">Q")
END_AND_START = struct.Struct(">QQ")
SIGNED_64 = struct.Struct(">q")
SEGMENT_BYTES = SEGMENT.size
HEADER_BYTES = SEGMENT_AND_LENGTH.size


def check_timestamp(timestamp_ms: int) -> None:
    """Stored times are never negative (Kafka Streams drops such records before a store)."""
    if not 0 <= timestamp_ms <= MAX_TIMESTAMP_MS:
        raise ValueError(f"timestamp must be in [0, 2**63), got {timestamp_ms}")


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes, got {type(key).__name__}")
    if len(key) > MAX_KEY_BYTES:
        raise ValueError(f"key longer than {MAX_KEY_BYTES} bytes")


def check_value(value: bytes | None) -> None:
    if value is not None and not isinstance(value, bytes):
        raise TypeError(f"value must be bytes or None, got {type(value).__name__}")


def segment_prefix(segment: int) -> bytes:
    """Every key of a segment starts with this; segment_prefix(s + 1) bounds it above."""
    return SEGMENT.pack(segment)


def key_prefix(segment: int, key: bytes) -> bytes:
    """Every entry of one key in one segment starts with this."""
    return SEGMENT_AND_LENGTH.pack(segment, len(key)) + key


def window_key(segment: int, key: bytes, start_ms: int) -> bytes:
    return key_prefix(segment, key) + TIME.pack(start_ms)


def decode_window_key(stored: bytes) -> tuple[bytes, int]:
    """(key, window start) of a stored window key."""
    _, length = SEGMENT_AND_LENGTH.unpack_from(stored)
    (start_ms,) = TIME.unpack_from(stored, HEADER_BYTES + length)
    return stored[HEADER_BYTES : HEADER_BYTES + length], start_ms


def decode_segment(stored: bytes) -> int:
    (segment,) = SEGMENT.unpack_from(stored)
    return int(segment)


def session_key(segment: int, key: bytes, end_ms: int, start_ms: int) -> bytes:
    return key_prefix(segment, key) + END_AND_START.pack(end_ms, start_ms)


def decode_session_key(stored: bytes) -> tuple[bytes, int, int]:
    """(key, start, end) of a stored session key."""
    _, length = SEGMENT_AND_LENGTH.unpack_from(stored)
    end_ms, start_ms = END_AND_START.unpack_from(stored, HEADER_BYTES + length)
    return stored[HEADER_BYTES : HEADER_BYTES + length], start_ms, end_ms


def encode_offset(offset: int) -> bytes:
    return SIGNED_64.pack(offset)


def decode_offset(stored: bytes) -> int:
    (offset,) = SIGNED_64.unpack(stored)
    return int(offset)
