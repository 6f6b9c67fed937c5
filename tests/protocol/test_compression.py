"""Compression codecs: round trips, formats other clients write, corrupt input, size bounds."""

from __future__ import annotations

import struct
import zlib

import cramjam
import pytest
from aiokafka import codec as aiokafka_codec
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kafka_python_codec

from flowlog.protocol.compression import (
    SNAPPY_XERIAL_MAGIC,
    Compression,
    CorruptCompressedDataError,
    DecompressedSizeLimitError,
    UnsupportedCompressionError,
    compress,
    decompress,
)

CODECS = list(Compression)
COMPRESSED_CODECS = [codec for codec in Compression if codec is not Compression.NONE]


@settings(max_examples=100, deadline=None)
@given(codec=st.sampled_from(CODECS), data=st.binary(max_size=5000))
def test_round_trip_every_codec(codec: Compression, data: bytes) -> None:
    assert decompress(codec, compress(codec, data)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_large_repetitive_data(codec: Compression) -> None:
    # Far beyond the first output buffer, so the lz4/zstd buffer must grow.
    data = b"flowlog record payload " * 500_000
    compressed = compress(codec, memoryview(data))
    assert decompress(codec, memoryview(compressed)) == data


def test_codec_accepts_plain_int() -> None:
    assert decompress(1, compress(1, b"abc")) == b"abc"


@pytest.mark.parametrize("codec", [5, 6, 7, 8, -1])
def test_unknown_codec_is_rejected(codec: int) -> None:
    with pytest.raises(UnsupportedCompressionError, match=f"codec {codec}"):
        compress(codec, b"x")
    with pytest.raises(UnsupportedCompressionError, match=f"codec {codec}"):
        decompress(codec, b"x")


# ---- formats other clients write


def test_gzip_reads_zlib_header_and_concatenated_members() -> None:
    assert decompress(Compression.GZIP, zlib.compress(b"zlib-wrapped")) == b"zlib-wrapped"
    two_members = compress(Compression.GZIP, b"first ") + compress(Compression.GZIP, b"second")
    assert decompress(Compression.GZIP, two_members) == b"first second"


def test_gzip_output_is_a_gzip_stream() -> None:
    compressed = compress(Compression.GZIP, b"payload")
    assert compressed[:2] == b"\x1f\x8b"
    assert kafka_python_codec.gzip_decode(compressed) == b"payload"


def test_snappy_reads_raw_snappy_as_librdkafka_writes() -> None:
    raw = bytes(cramjam.snappy.compress_raw(b"raw snappy " * 100))
    assert decompress(Compression.SNAPPY, raw) == b"raw snappy " * 100


def test_snappy_writes_xerial_framing_in_32_kib_blocks() -> None:
    data = bytes(range(256)) * 1000  # 256000 bytes: 8 blocks
    compressed = compress(Compression.SNAPPY, data)
    assert compressed[:8] == SNAPPY_XERIAL_MAGIC
    assert struct.unpack_from(">ii", compressed, 8) == (1, 1)
    assert aiokafka_codec.snappy_decode(compressed) == data
    assert decompress(Compression.SNAPPY, compressed) == data


def test_snappy_reads_xerial_from_aiokafka_and_little_endian_versions() -> None:
    data = b"xerial " * 20_000
    from_aiokafka = aiokafka_codec.snappy_encode(data, xerial_compatible=True)
    assert decompress(Compression.SNAPPY, from_aiokafka) == data
    # Some producers write the two version fields little-endian; readers ignore them.
    little_endian = SNAPPY_XERIAL_MAGIC + struct.pack("<ii", 1, 1) + bytes(from_aiokafka[16:])
    assert decompress(Compression.SNAPPY, little_endian) == data


def test_snappy_empty_input_is_raw_snappy() -> None:
    compressed = compress(Compression.SNAPPY, b"")
    assert aiokafka_codec.snappy_decode(compressed) == b""
    assert decompress(Compression.SNAPPY, compressed) == b""


def test_lz4_writes_independent_blocks_and_reads_aiokafka_frames() -> None:
    data = bytes(range(256)) * 2000
    compressed = compress(Compression.LZ4, data)
    flags = compressed[4]
    assert flags & 0x20, "block independence bit must be set for Java readers"
    assert aiokafka_codec.lz4_decode(compressed) == data
    assert decompress(Compression.LZ4, aiokafka_codec.lz4_encode(data)) == data


def test_zstd_reads_aiokafka_frames() -> None:
    data = b"zstd " * 10_000
    assert decompress(Compression.ZSTD, aiokafka_codec.zstd_encode(data)) == data
    assert aiokafka_codec.zstd_decode(compress(Compression.ZSTD, data)) == data


# ---- corrupt input


@pytest.mark.parametrize("codec", COMPRESSED_CODECS)
def test_garbage_is_a_clear_error(codec: Compression) -> None:
    with pytest.raises(CorruptCompressedDataError, match=codec.name.lower()):
        decompress(codec, b"\x07this is not compressed data at all\xff\xff\xff")


@pytest.mark.parametrize("codec", COMPRESSED_CODECS)
def test_truncated_stream_is_a_clear_error(codec: Compression) -> None:
    compressed = compress(codec, bytes(range(256)) * 100)
    with pytest.raises(CorruptCompressedDataError):
        decompress(codec, compressed[: len(compressed) // 2])


@pytest.mark.parametrize("codec", COMPRESSED_CODECS)
def test_empty_input_is_a_clear_error(codec: Compression) -> None:
    with pytest.raises(CorruptCompressedDataError):
        decompress(codec, b"")


def test_gzip_trailing_garbage_is_rejected() -> None:
    with pytest.raises(CorruptCompressedDataError, match="after the end of the gzip stream"):
        decompress(Compression.GZIP, compress(Compression.GZIP, b"data") + b"junk")


def test_snappy_xerial_block_length_past_end_is_rejected() -> None:
    framed = compress(Compression.SNAPPY, b"data" * 100)
    broken = framed[:16] + struct.pack(">i", 10_000) + framed[20:]
    with pytest.raises(CorruptCompressedDataError, match="declares 10000 bytes"):
        decompress(Compression.SNAPPY, broken)


@settings(max_examples=150, deadline=None)
@given(
    codec=st.sampled_from(COMPRESSED_CODECS),
    flip_at=st.integers(min_value=0),
    flip_mask=st.integers(min_value=1, max_value=255),
)
def test_flipped_byte_never_escapes_as_another_error(
    codec: Compression, flip_at: int, flip_mask: int
) -> None:
    data = b"some moderately compressible payload " * 50
    corrupted = bytearray(compress(codec, data))
    corrupted[flip_at % len(corrupted)] ^= flip_mask
    try:
        decompress(codec, bytes(corrupted))
    except CorruptCompressedDataError:
        pass  # zstd without checksums may also decode garbage without noticing


# ---- size bound


@pytest.mark.parametrize("codec", CODECS)
def test_output_beyond_the_limit_is_refused(codec: Compression) -> None:
    bomb = compress(codec, bytes(4 * 1024 * 1024))
    with pytest.raises(DecompressedSizeLimitError, match="1000000 byte limit"):
        decompress(codec, bomb, max_size_bytes=1_000_000)


@pytest.mark.parametrize("codec", CODECS)
def test_output_exactly_at_the_limit_is_accepted(codec: Compression) -> None:
    data = bytes(200_000)
    assert decompress(codec, compress(codec, data), max_size_bytes=len(data)) == data


def test_snappy_declared_length_is_checked_before_allocating() -> None:
    # A raw snappy preamble claiming 2^31 bytes, with no data behind it.
    claim = bytes([0x80, 0x80, 0x80, 0x80, 0x08])
    with pytest.raises(DecompressedSizeLimitError):
        decompress(Compression.SNAPPY, claim, max_size_bytes=1024)
