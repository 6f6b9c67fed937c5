"""Kafka's default key partitioner hash: 32-bit MurmurHash2 as the Java client computes it.

Java works in signed int32 with logical right shifts (>>>); the same bits come
out of unsigned 32-bit arithmetic masked after every multiply, which is what
this does, converting to signed at the end. Words are read little-endian.
The Java client, kafka-python, aiokafka and librdkafka's `murmur2_random`
partitioner all place a key at (murmur2(key) & 0x7fffffff) % partition_count.
librdkafka's default (`consistent_random`) uses CRC-32 instead and so places
keys differently.
"""

from __future__ import annotations

import struct

MURMUR2_SEED = 0x9747B28C
MURMUR2_MULTIPLIER = 0x5BD1E995
MURMUR2_SHIFT = 24
_MASK32 = 0xFFFFFFFF
# Positive hashes of recent bytes keys: keyed traffic repeats keys (users, hosts), and the
# pure-Python hash costs more than the rest of a produce. Cleared when full, so it is bounded.
_POSITIVE_HASH_CACHE: dict[bytes, int] = {}
POSITIVE_HASH_CACHE_ENTRIES_MAX = 65_536


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """The Java client's Utils.murmur2(data): a signed int32."""
    length = len(data)
    multiplier = MURMUR2_MULTIPLIER
    hash_value = (MURMUR2_SEED ^ length) & _MASK32
    word_count = length // 4
    for word in struct.unpack_from(f"<{word_count}I", data):
        word = (word * multiplier) & _MASK32
        word ^= word >> MURMUR2_SHIFT
        word = (word * multiplier) & _MASK32
        hash_value = ((hash_value * multiplier) & _MASK32) ^ word
    tail_start = word_count * 4
    tail_size = length - tail_start
    if tail_size:
        # The bytes after the last whole word, as Java's fall-through switch mixes them.
        tail = data[tail_start:]
        if tail_size == 3:
            hash_value ^= tail[2] << 16
        if tail_size >= 2:
            hash_value ^= tail[1] << 8
        hash_value ^= tail[0]
        hash_value = (hash_value * multiplier) & _MASK32
    hash_value ^= hash_value >> 13
    hash_value = (hash_value * multiplier) & _MASK32
    hash_value ^= hash_value >> 15
    return hash_value - (1 << 32) if hash_value & 0x80000000 else hash_value


def partition_for_key(key: bytes | bytearray | memoryview, partition_count: int) -> int:
    """The partition the Java client's default partitioner picks for a non-null key."""
    if partition_count <= 0:
        raise ValueError(f"partition count must be positive, got {partition_count}")
    if key.__class__ is not bytes:
        return (murmur2(key) & 0x7FFFFFFF) % partition_count
    positive = _POSITIVE_HASH_CACHE.get(key)
    if positive is None:
        if len(_POSITIVE_HASH_CACHE) >= POSITIVE_HASH_CACHE_ENTRIES_MAX:
            _POSITIVE_HASH_CACHE.clear()
        positive = _POSITIVE_HASH_CACHE[key] = murmur2(key) & 0x7FFFFFFF
    return positive % partition_count
