"""Run-time helpers for the wire primitives that generated code calls.

Fixed-size types are packed with precompiled `struct.Struct`s; these helpers
cover the variable-length integers (unsigned varints for flexible lengths,
zigzag varints/varlongs) and the length prefixes of strings, bytes and arrays.
"""

from __future__ import annotations

import struct
from typing import Final

INT8: Final = struct.Struct(">b")
INT16: Final = struct.Struct(">h")
INT32: Final = struct.Struct(">i")
INT64: Final = struct.Struct(">q")
UINT16: Final = struct.Struct(">H")
FLOAT64: Final = struct.Struct(">d")

# An unsigned varint carrying a 32-bit value takes at most 5 bytes; a 64-bit one 10.
UNSIGNED_VARINT_MAX_BYTES: Final = 5
VARLONG_MAX_BYTES: Final = 10
UNSIGNED_VARINT_MAX: Final = 0xFFFFFFFF

NULL_INT16_LENGTH: Final = INT16.pack(-1)
NULL_INT32_LENGTH: Final = INT32.pack(-1)
# Single-byte unsigned varints 0..127, looked up instead of encoded.
SMALL_UNSIGNED_VARINTS: Final = tuple(bytes((value,)) for value in range(128))


class MalformedError(ValueError):
    """Bad wire bytes; the generated decoder adds message, version and field and re-raises."""


def write_unsigned_varint(value: int) -> bytes:
    if value < 128:
        if value < 0:
            raise ValueError(f"unsigned varint cannot encode negative {value}")
        return SMALL_UNSIGNED_VARINTS[value]
    if value > UNSIGNED_VARINT_MAX:
        raise ValueError(f"unsigned varint {value} does not fit in 32 bits")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_unsigned_varint(buffer: memoryview | bytes, offset: int) -> tuple[int, int]:
    """(value, next offset) of the unsigned varint at `offset`; at most 5 bytes."""
    value = 0
    shift = 0
    for index in range(offset, offset + UNSIGNED_VARINT_MAX_BYTES):
        if index >= len(buffer):
            raise MalformedError("truncated unsigned varint")
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > UNSIGNED_VARINT_MAX:
                raise MalformedError("unsigned varint does not fit in 32 bits")
            return value, index + 1
        shift += 7
    raise MalformedError(f"unsigned varint longer than {UNSIGNED_VARINT_MAX_BYTES} bytes")


def unsigned_varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _zigzag_encode(value: int, bits: int) -> int:
    return (value << 1) ^ (value >> (bits - 1))


def write_varint(value: int) -> bytes:
    """Zigzag int32 as a varint (record fields use these)."""
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"varint {value} does not fit in 32 bits")
    return _write_unbounded(_zigzag_encode(value, 32) & 0xFFFFFFFF)


def write_varlong(value: int) -> bytes:
    """Zigzag int64 as a varint."""
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"varlong {value} does not fit in 64 bits")
    return _write_unbounded(_zigzag_encode(value, 64) & 0xFFFFFFFFFFFFFFFF)


def _write_unbounded(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_unbounded(buffer: memoryview | bytes, offset: int, max_bytes: int) -> tuple[int, int]:
    value = 0
    shift = 0
    for index in range(offset, offset + max_bytes):
        if index >= len(buffer):
            raise MalformedError("truncated varint")
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise MalformedError(f"varint longer than {max_bytes} bytes")


def read_varint(buffer: memoryview | bytes, offset: int) -> tuple[int, int]:
    raw, next_offset = _read_unbounded(buffer, offset, UNSIGNED_VARINT_MAX_BYTES)
    if raw > 0xFFFFFFFF:
        raise MalformedError("varint does not fit in 32 bits")
    return (raw >> 1) ^ -(raw & 1), next_offset


def read_varlong(buffer: memoryview | bytes, offset: int) -> tuple[int, int]:
    raw, next_offset = _read_unbounded(buffer, offset, VARLONG_MAX_BYTES)
    if raw > 0xFFFFFFFFFFFFFFFF:
        raise MalformedError("varlong does not fit in 64 bits")
    return (raw >> 1) ^ -(raw & 1), next_offset
