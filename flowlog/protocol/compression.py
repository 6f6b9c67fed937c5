"""Compression codecs for the records section of a magic-2 record batch.

The codec number lives in the low 3 bits of the batch attributes. What each
codec means on the wire, and what we write, was checked against the Java
client, librdkafka, kafka-python and aiokafka:

- gzip (1): one gzip member (RFC 1952). We write zlib with wbits 31 at level 6
  (Java's and librdkafka's default). We read with wbits 47 (gzip or zlib
  header, as librdkafka's inflate does) and accept concatenated members, as
  Java's GZIPInputStream does; trailing bytes that are not a gzip member are an
  error.
- snappy (2): Java writes snappy-java's "xerial" framing: the 8-byte magic
  0x82 'SNAPPY' 0x00, int32 version and int32 compatible-version (both 1),
  then blocks of int32 compressed length + raw snappy, each block holding at
  most 32 KiB of input. librdkafka writes raw snappy. Every client reads both:
  Java's SnappyInputStream falls back to raw when the magic is absent;
  librdkafka, kafka-python and aiokafka look for the 8-byte magic. We write the
  xerial framing, the reference client's format, and read both. We ignore the
  two version fields as kafka-python does (some producers write them
  little-endian).
- lz4 (3): the LZ4 frame format (KIP-57). Java's reader decompresses each block
  on its own, so we write independent blocks (cramjam's default is linked
  blocks, which Java cannot read) without a content checksum; we read any
  standard frame.
- zstd (4): standard zstd frames, level 3 by default (Kafka's default).
- 5-7 are reserved: UnsupportedCompressionError.

Decompression output is bounded (MAX_DECOMPRESSED_SIZE_BYTES unless the caller
passes a smaller limit) so a small "zip bomb" batch cannot exhaust memory.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum

import cramjam


class Compression(IntEnum):
    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


# Kafka's max.message.bytes tops out well below this; a decompressed batch
# bigger than this is an attack or a bug, not data.
MAX_DECOMPRESSED_SIZE_BYTES = 256 * 1024 * 1024

GZIP_DEFAULT_LEVEL = 6
ZSTD_DEFAULT_LEVEL = 3
# snappy-java's default block size: the amount of input per xerial block.
SNAPPY_XERIAL_BLOCK_SIZE_BYTES = 32 * 1024
SNAPPY_XERIAL_MAGIC = b"\x82SNAPPY\x00"
SNAPPY_XERIAL_HEADER = SNAPPY_XERIAL_MAGIC + struct.pack(">ii", 1, 1)
SNAPPY_XERIAL_HEADER_SIZE = len(SNAPPY_XERIAL_HEADER)

# zlib: 16 + MAX_WBITS writes a gzip header; 32 + MAX_WBITS reads gzip or zlib.
_GZIP_WRITE_WBITS = 16 + zlib.MAX_WBITS
_GZIP_READ_WBITS = 32 + zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"
# First output buffer for lz4/zstd is this many times the input (then doubled).
_INITIAL_EXPANSION_RATIO = 4
_INITIAL_OUTPUT_SIZE_BYTES = 64 * 1024
# cramjam's message when decompress_into runs out of output space.
_CRAMJAM_OUTPUT_FULL = "failed to write whole buffer"
_INT32 = struct.Struct(">i")


class UnsupportedCompressionError(ValueError):
    """A codec number that is not one of Kafka's codecs 0-4."""


class CorruptCompressedDataError(ValueError):
    """Compressed bytes that the codec cannot decode."""


class DecompressedSizeLimitError(CorruptCompressedDataError):
    """Compressed bytes that would decompress past the size limit."""


def as_compression(codec: Compression | int) -> Compression:
    """The Compression for `codec`, or UnsupportedCompressionError."""
    try:
        return Compression(codec)
    except ValueError:
        raise UnsupportedCompressionError(
            f"compression codec {codec} is not supported; Kafka defines 0 (none), 1 (gzip), "
            "2 (snappy), 3 (lz4) and 4 (zstd)"
        ) from None


def compress(
    codec: Compression | int, data: bytes | memoryview, *, level: int | None = None
) -> bytes:
    """Compress `data` with `codec` in the format every Kafka client reads.

    `level` is codec-specific (gzip 1-9, lz4 0-16, zstd 1-22); None picks
    Kafka's default.
    """
    compression = as_compression(codec)
    if compression is Compression.NONE:
        return bytes(data)
    if compression is Compression.GZIP:
        compressor = zlib.compressobj(
            GZIP_DEFAULT_LEVEL if level is None else level, zlib.DEFLATED, _GZIP_WRITE_WBITS
        )
        return compressor.compress(data) + compressor.flush()
    if compression is Compression.SNAPPY:
        return _snappy_xerial_compress(memoryview(data))
    if compression is Compression.LZ4:
        lz4_compressor = cramjam.lz4.Compressor(
            level=level, content_checksum=False, block_linked=False
        )
        lz4_compressor.compress(bytes(data))
        return bytes(lz4_compressor.finish())
    return bytes(
        cramjam.zstd.compress(bytes(data), level=ZSTD_DEFAULT_LEVEL if level is None else level)
    )


def decompress(
    codec: Compression | int,
    data: bytes | memoryview,
    *,
    max_size_bytes: int = MAX_DECOMPRESSED_SIZE_BYTES,
) -> bytes:
    """Decompress `data` written by any Kafka client with `codec`.

    Raises CorruptCompressedDataError for undecodable input and
    DecompressedSizeLimitError when the output would exceed `max_size_bytes`.
    """
    compression = as_compression(codec)
    if compression is Compression.NONE:
        if len(data) > max_size_bytes:
            raise DecompressedSizeLimitError(
                f"uncompressed data of {len(data)} bytes exceeds the {max_size_bytes} byte limit"
            )
        return bytes(data)
    if compression is Compression.GZIP:
        return _gzip_decompress(data, max_size_bytes)
    if compression is Compression.SNAPPY:
        return _snappy_decompress(memoryview(data), max_size_bytes)
    return _cramjam_bounded_decompress(compression, bytes(data), max_size_bytes)


def _gzip_decompress(data: bytes | memoryview, max_size_bytes: int) -> bytes:
    output = bytearray()
    remaining: bytes | memoryview = data
    # Each member consumes at least its 18-byte header and trailer, so this
    # loop runs at most len(data) / 18 times.
    while True:
        decompressor = zlib.decompressobj(_GZIP_READ_WBITS)
        try:
            output += decompressor.decompress(remaining, max_size_bytes - len(output) + 1)
        except zlib.error as error:
            raise CorruptCompressedDataError(f"corrupt gzip data: {error}") from None
        if len(output) > max_size_bytes:
            raise DecompressedSizeLimitError(
                f"gzip data decompresses past the {max_size_bytes} byte limit"
            )
        if not decompressor.eof:
            raise CorruptCompressedDataError("gzip data ends before the end of its stream")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(output)
        if remaining[:2] != _GZIP_MAGIC:
            raise CorruptCompressedDataError(
                f"{len(remaining)} bytes after the end of the gzip stream are not a gzip member"
            )


def _snappy_xerial_compress(data: memoryview) -> bytes:
    if not data:
        # An xerial header with no block is only 16 bytes, which librdkafka and
        # kafka-python would take for raw snappy; raw snappy of nothing is one byte.
        return bytes(cramjam.snappy.compress_raw(b""))
    parts = [SNAPPY_XERIAL_HEADER]
    for start in range(0, len(data), SNAPPY_XERIAL_BLOCK_SIZE_BYTES):
        block = bytes(cramjam.snappy.compress_raw(
            bytes(data[start : start + SNAPPY_XERIAL_BLOCK_SIZE_BYTES])
        ))
        parts.append(_INT32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_decompress(data: memoryview, max_size_bytes: int) -> bytes:
    if len(data) >= SNAPPY_XERIAL_HEADER_SIZE and data[:8] == SNAPPY_XERIAL_MAGIC:
        return _snappy_xerial_decompress(data, max_size_bytes)
    return _snappy_raw_decompress(bytes(data), max_size_bytes, max_size_bytes)


def _snappy_xerial_decompress(data: memoryview, max_size_bytes: int) -> bytes:
    blocks: list[bytes] = []
    total_size_bytes = 0
    position = SNAPPY_XERIAL_HEADER_SIZE
    end = len(data)
    # Every block takes at least its 4-byte length, so this loop is bounded by len(data).
    while position < end:
        if end - position < _INT32.size:
            raise CorruptCompressedDataError(
                f"snappy xerial block length at byte {position} is cut off"
            )
        block_size_bytes = _INT32.unpack_from(data, position)[0]
        position += _INT32.size
        if block_size_bytes <= 0 or block_size_bytes > end - position:
            raise CorruptCompressedDataError(
                f"snappy xerial block at byte {position} declares {block_size_bytes} bytes "
                f"but {end - position} remain"
            )
        block = _snappy_raw_decompress(
            bytes(data[position : position + block_size_bytes]),
            max_size_bytes - total_size_bytes,
            max_size_bytes,
        )
        total_size_bytes += len(block)
        blocks.append(block)
        position += block_size_bytes
    return b"".join(blocks)


def _snappy_raw_decompress(data: bytes, room_bytes: int, max_size_bytes: int) -> bytes:
    try:
        # Raw snappy starts with its uncompressed length: check it before allocating.
        size_bytes = cramjam.snappy.decompress_raw_len(data)
        if size_bytes > room_bytes:
            raise DecompressedSizeLimitError(
                f"snappy data decompresses past the {max_size_bytes} byte limit"
            )
        return bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as error:
        raise CorruptCompressedDataError(f"corrupt snappy data: {error}") from None


def _cramjam_bounded_decompress(
    compression: Compression, data: bytes, max_size_bytes: int
) -> bytes:
    """lz4 or zstd into a buffer that doubles up to the limit.

    Neither frame format must declare its content size, so the output size is
    found by trying; each retry redoes the work, costing at most twice the
    final decompression.
    """
    module = cramjam.lz4 if compression is Compression.LZ4 else cramjam.zstd
    capacity = min(
        max(len(data) * _INITIAL_EXPANSION_RATIO, _INITIAL_OUTPUT_SIZE_BYTES), max_size_bytes
    )
    # Capacity doubles each round, so this runs at most log2(limit / initial) + 1 times.
    while True:
        output = bytearray(capacity)
        try:
            size_bytes = module.decompress_into(data, output)
        except cramjam.DecompressionError as error:
            if _CRAMJAM_OUTPUT_FULL not in str(error):
                raise CorruptCompressedDataError(
                    f"corrupt {compression.name.lower()} data: {error}"
                ) from None
            if capacity >= max_size_bytes:
                raise DecompressedSizeLimitError(
                    f"{compression.name.lower()} data decompresses past the "
                    f"{max_size_bytes} byte limit"
                ) from None
            capacity = min(capacity * 2, max_size_bytes)
            continue
        del output[size_bytes:]
        return bytes(output)
