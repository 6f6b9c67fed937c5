"""Zigzag varints, the integer encoding inside magic-2 records.

Each value is zigzag-mapped (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...) so small
negative numbers stay short, then written 7 bits at a time, least significant
group first, with the high bit set on every byte but the last. Kafka's int32
"varint" and int64 "varlong" agree on every int32 value, so one encoder serves
both; decoders take the byte limit of the field (5 or 10).

These are not the unsigned varints of flexible message versions.
"""

from __future__ import annotations

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
VARINT_MAX_SIZE_BYTES = 5
VARLONG_MAX_SIZE_BYTES = 10

# Zigzag-decoded value of each single-byte varint; decoders index this first.
SINGLE_BYTE_VALUES: tuple[int, ...] = tuple((raw >> 1) ^ -(raw & 1) for raw in range(0x80))
_SINGLE_BYTE_ENCODINGS: tuple[bytes, ...] = tuple(bytes((raw,)) for raw in range(0x80))


class VarintError(ValueError):
    """Bytes that do not hold a well-formed zigzag varint."""


def zigzag_encode(value: int) -> int:
    """The unsigned zigzag form of a signed int64."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} does not fit in a signed 64-bit varlong")
    return (value << 1) ^ (value >> 63)


def encode_varint(value: int) -> bytes:
    """The zigzag varint bytes of a signed int64 (1 to 10 bytes)."""
    unsigned = zigzag_encode(value)
    if unsigned < 0x80:
        return _SINGLE_BYTE_ENCODINGS[unsigned]
    if unsigned < 0x4000:
        return bytes((unsigned & 0x7F | 0x80, unsigned >> 7))
    output = bytearray()
    # At most 10 groups of 7 bits in a 64-bit value.
    while unsigned >= 0x80:
        output.append(unsigned & 0x7F | 0x80)
        unsigned >>= 7
    output.append(unsigned)
    return bytes(output)


def varint_size(value: int) -> int:
    """How many bytes encode_varint(value) takes."""
    return (max(zigzag_encode(value).bit_length(), 1) + 6) // 7


def decode_varint(
    buffer: bytes, at: int, max_size_bytes: int = VARLONG_MAX_SIZE_BYTES
) -> tuple[int, int]:
    """Decode the varint starting at `at`; return (value, position after it).

    Raises VarintError when the buffer ends inside the varint or it runs
    longer than `max_size_bytes`.
    """
    # Fast paths: one- and two-byte varints (|value| < 8192) are nearly all of them.
    if at + 1 < len(buffer):
        first = buffer[at]
        if first < 0x80:
            return SINGLE_BYTE_VALUES[first], at + 1
        second = buffer[at + 1]
        if second < 0x80 and max_size_bytes >= 2:
            unsigned = (first & 0x7F) | (second << 7)
            return (unsigned >> 1) ^ -(unsigned & 1), at + 2
    unsigned = 0
    shift = 0
    end = min(len(buffer), at + max_size_bytes)
    position = at
    while position < end:
        byte = buffer[position]
        position += 1
        unsigned |= (byte & 0x7F) << shift
        if byte < 0x80:
            if unsigned >> 64:
                raise VarintError(f"varint at byte {at} does not fit in 64 bits")
            return (unsigned >> 1) ^ -(unsigned & 1), position
        shift += 7
    if position - at >= max_size_bytes:
        raise VarintError(f"varint at byte {at} is longer than {max_size_bytes} bytes")
    raise VarintError(f"varint at byte {at} is cut off by the end of the data")
