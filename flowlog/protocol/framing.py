"""Split a byte stream into Kafka frames (int32 size + payload), without I/O.

Feed whatever the socket gave; take whole frames out. Chunks are kept in a
list and joined once per frame, so a large frame arriving in many small
pieces is copied a bounded number of times, not once per piece.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Final

SIZE_PREFIX: Final = struct.Struct(">i")
SIZE_PREFIX_BYTES: Final = SIZE_PREFIX.size


class FramingError(ValueError):
    """The peer's byte stream is not valid Kafka framing; the connection must close."""


class FrameTooLargeError(FramingError):
    pass


class InvalidFrameLengthError(FramingError):
    pass


def frame_prefix(length: int) -> bytes:
    """The int32 size prefix of a frame whose payload is `length` bytes."""
    if not 0 <= length <= 0x7FFFFFFF:
        raise ValueError(f"frame length {length} is outside 0..2147483647")
    return SIZE_PREFIX.pack(length)


class FrameDecoder:
    """Incremental frame splitter: `feed(data)`, then `next_frame()` until None."""

    def __init__(self, max_frame_bytes: int) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered_bytes = 0
        # Payload size of the frame being assembled, once its prefix is known.
        self._expected_bytes: int | None = None

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        # Copy mutable input: the caller may reuse its receive buffer.
        chunk = bytes(data) if isinstance(data, bytearray) else data
        self._chunks.append(chunk)
        self._buffered_bytes += len(chunk)

    def next_frame(self) -> bytes | memoryview | None:
        """The next complete frame payload (no prefix), or None if more bytes are needed."""
        if self._expected_bytes is None:
            if self._buffered_bytes < SIZE_PREFIX_BYTES:
                return None
            (length,) = SIZE_PREFIX.unpack(self._take(SIZE_PREFIX_BYTES))
            if length < 0:
                raise InvalidFrameLengthError(f"frame size prefix is negative ({length})")
            if length > self.max_frame_bytes:
                raise FrameTooLargeError(
                    f"frame of {length} bytes exceeds the limit of {self.max_frame_bytes} bytes"
                )
            self._expected_bytes = length
        if self._buffered_bytes < self._expected_bytes:
            return None
        frame = self._take(self._expected_bytes)
        self._expected_bytes = None
        return frame

    def _take(self, count: int) -> bytes | memoryview:
        """Remove and return the first `count` buffered bytes (count <= buffered)."""
        if count == 0:
            return b""
        first = self._chunks[0]
        if len(first) >= count:
            # Common case: the whole piece sits in one chunk, so slice without joining.
            view = memoryview(first)
            self._chunks.popleft()
            if len(first) > count:
                self._chunks.appendleft(view[count:])
            self._buffered_bytes -= count
            return view[:count] if len(first) > count else first
        pieces: list[bytes | memoryview] = []
        needed = count
        while needed:
            chunk = self._chunks.popleft()
            if len(chunk) > needed:
                pieces.append(memoryview(chunk)[:needed])
                self._chunks.appendleft(memoryview(chunk)[needed:])
                needed = 0
            else:
                pieces.append(chunk)
                needed -= len(chunk)
        self._buffered_bytes -= count
        return b"".join(pieces)
