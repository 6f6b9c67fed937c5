"""Run-time helpers for the wire primitives that generated code calls.

Fixed-size types are packed with precompiled `struct.Struct`s; these helpers
cover the unsigned varints of flexible versions (lengths, tag counts) and the
length prefixes of strings, bytes and arrays. The zigzag varints of record
fields live in flowlog/protocol/varint.py.
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

# An unsigned varint carrying a 32-bit value takes at most 5 bytes.
UNSIGNED_VARINT_MAX_BYTES: Final = 5
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
