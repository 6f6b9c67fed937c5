"""Kafka frames parsed in place from one reusable receive buffer, without I/O.

The broker receives straight into this buffer (recv_into) and hands each
request to its handler as a writable memoryview of it: no allocation per
receive, no copy per frame, and a produced batch can take its offsets in place
(PartitionLog.append writes one buffer instead of a new prefix plus the rest).

Contract: a frame returned by next_frame() is valid until the next call to
space(), which may move the bytes of an unfinished frame to the front of the
buffer. The broker answers a connection's requests one at a time, so it never
holds a frame across a receive. A frame larger than the buffer is received
into a bytearray of its own, dropped once that frame has been handed out.
"""

from __future__ import annotations

from flowlog.protocol.framing import (
    SIZE_PREFIX,
    SIZE_PREFIX_BYTES,
    FrameTooLargeError,
    InvalidFrameLengthError,
)

DEFAULT_BUFFER_BYTES = 256 * 1024


class ReceiveBuffer:
    def __init__(self, max_frame_bytes: int, buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        if buffer_bytes < SIZE_PREFIX_BYTES:
            raise ValueError(f"buffer_bytes must be at least {SIZE_PREFIX_BYTES}")
        self.max_frame_bytes = max_frame_bytes
        # Allocated (and zeroed) once per connection; big frames borrow a larger one.
        self._standard = bytearray(buffer_bytes)
        self._buffer = self._standard
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte not handed out yet
        self._end = 0  # end of the bytes received

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet handed out as (part of) a frame."""
        return self._end - self._start

    def space(self) -> memoryview:
        """Where the next bytes go (never empty); then call received(count).

        Frames handed out before this call must no longer be used.
        """
        pending = self._end - self._start
        if pending == 0:
            self._start = self._end = 0
            if self._buffer is not self._standard:
                self._use(self._standard)
        elif self._start > 0 or self._pending_frame_size() > len(self._buffer):
            self._move_pending_to_front(pending)
        return self._view[self._end:]

    def received(self, count: int) -> None:
        """`count` bytes were written at the start of the last space()."""
        if not 0 <= count <= len(self._buffer) - self._end:
            raise ValueError(f"received {count} bytes into {len(self._buffer) - self._end} of space")
        self._end += count

    def next_frame(self) -> memoryview | None:
        """The next complete frame's payload (no prefix), writable, or None if more
        bytes are needed. Raises FramingError for a negative or oversized length."""
        start = self._start
        if self._end - start < SIZE_PREFIX_BYTES:
            return None
        stop = start + SIZE_PREFIX_BYTES + self._frame_length(start)
        if stop > self._end:
            return None
        self._start = stop
        return self._view[start + SIZE_PREFIX_BYTES:stop]

    # --- internals -----------------------------------------------------------------------

    def _frame_length(self, at: int) -> int:
        (length,) = SIZE_PREFIX.unpack_from(self._buffer, at)
        if length < 0:
            raise InvalidFrameLengthError(f"frame size prefix is negative ({length})")
        if length > self.max_frame_bytes:
            raise FrameTooLargeError(
                f"frame of {length} bytes exceeds the limit of {self.max_frame_bytes} bytes")
        return length

    def _pending_frame_size(self) -> int:
        """Bytes the unfinished frame needs in all, prefix included (just the prefix
        while its length is not in yet)."""
        if self._end - self._start < SIZE_PREFIX_BYTES:
            return SIZE_PREFIX_BYTES
        return SIZE_PREFIX_BYTES + self._frame_length(self._start)

    def _move_pending_to_front(self, pending: int) -> None:
        """Put the unfinished frame at position 0 of a buffer that can hold all of it."""
        needed = self._pending_frame_size()
        if needed <= len(self._standard):
            target = self._standard
        elif needed <= len(self._buffer):
            target = self._buffer
        else:
            target = bytearray(needed)
        # memoryview slice assignment copies with memmove: overlap within one buffer is safe.
        memoryview(target)[:pending] = self._view[self._start:self._end]
        self._use(target)
        self._start, self._end = 0, pending

    def _use(self, buffer: bytearray) -> None:
        if buffer is not self._buffer:
            self._buffer = buffer
            self._view = memoryview(buffer)
