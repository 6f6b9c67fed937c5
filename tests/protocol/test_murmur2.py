"""murmur2 must place keys exactly where the Java client, kafka-python and aiokafka do."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from flowlog.protocol.murmur2 import murmur2, partition_for_key


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


# Java's Utils.murmur2 results as signed ints (Kafka's UtilsTest and the protocol brief).
JAVA_VECTORS = [
    (b"kafka", _signed32(0xD067CF64)),
    (b"", 0x106E08D9),
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS)
def test_java_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_kafka_over_twelve_partitions_is_partition_four() -> None:
    assert partition_for_key(b"kafka", 12) == 4


def test_result_is_a_signed_int32_and_partition_is_in_range() -> None:
    assert murmur2(b"kafka") < 0
    assert all(0 <= partition_for_key(b"key-%d" % i, 7) < 7 for i in range(200))


def test_partition_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="partition count must be positive, got 0"):
        partition_for_key(b"k", 0)


def test_accepts_bytearray_and_memoryview() -> None:
    assert murmur2(bytearray(b"foobar")) == murmur2(memoryview(b"foobar")) == -790332482


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=64), partition_count=st.integers(min_value=1, max_value=1000))
def test_matches_kafka_python_and_aiokafka(key: bytes, partition_count: int) -> None:
    # kafka-python returns the same 32 bits as an unsigned int.
    expected = _signed32(kafka_python_murmur2(key) & 0xFFFFFFFF)
    assert murmur2(key) == expected
    assert murmur2(key) == _signed32(aiokafka_murmur2(key) & 0xFFFFFFFF)
    assert partition_for_key(key, partition_count) == (
        (kafka_python_murmur2(key) & 0x7FFFFFFF) % partition_count
    )
