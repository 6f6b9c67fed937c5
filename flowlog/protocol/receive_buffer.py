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
INITIAL_BUFFER_BYTES = 16 * 1024
# A frame above the connection's buffer gets a buffer of its own: at once up to this
# size, beyond it doubling with the bytes that actually arrive, so a size prefix alone
# cannot make the broker allocate socket.request.max.bytes.
LARGE_FRAME_STEP_BYTES = 1024 * 1024
# After this many receives in a row under half the initial size, with nothing
# pending, a grown buffer goes back to the initial size (a producer gone quiet).
SHRINK_AFTER_QUIET_RECEIVES = 64


class ReceiveBuffer:
    def __init__(self, max_frame_bytes: int, buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 initial_bytes: int = INITIAL_BUFFER_BYTES,
                 large_frame_step_bytes: int = LARGE_FRAME_STEP_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        if min(buffer_bytes, initial_bytes) < SIZE_PREFIX_BYTES:
            raise ValueError(f"buffer sizes must be at least {SIZE_PREFIX_BYTES} bytes")
        self.max_frame_bytes = max_frame_bytes
        self.large_frame_step_bytes = large_frame_step_bytes
        # The connection's own buffer starts small (an idle or metadata-only client
        # holds 16 KiB) and doubles, up to buffer_bytes, whenever a receive fills it
        # or a frame needs more; it shrinks back once receives stay small. A frame
        # above buffer_bytes gets a buffer of its own.
        self._standard_max = max(buffer_bytes, initial_bytes)
        self._initial_bytes = initial_bytes
        self._quiet_receives = 0
        self._standard = bytearray(initial_bytes)
        self._buffer = self._standard
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte not handed out yet
        self._end = 0  # end of the bytes received
        self._space_bytes = 0  # size of the last space() handed out
        self._filled = False  # the last receive filled all of it: more is coming

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet handed out as (part of) a frame."""
        return self._end - self._start

    @property
    def capacity(self) -> int:
        """Size of the connection's own buffer now."""
        return len(self._standard)

    @property
    def allocated_bytes(self) -> int:
        """Size of the buffer in use (the connection's, or a large frame's own)."""
        return len(self._buffer)

    def space(self) -> memoryview:
        """Where the next bytes go (never empty); then call received(count).

        Frames handed out before this call must no longer be used.
        """
        pending = self._end - self._start
        needed = self._pending_frame_size() if pending else 0
        self._grow_standard(needed)
        if pending == 0:
            self._start = self._end = 0
            if (self._quiet_receives >= SHRINK_AFTER_QUIET_RECEIVES
                    and len(self._standard) > self._initial_bytes):
                self._standard = bytearray(self._initial_bytes)
            self._use(self._standard)
        else:
            # The unfinished frame goes to the front of a buffer that can hold all of it.
            if needed <= len(self._standard):
                target = self._standard
            else:  # a large frame: its own buffer, grown with what arrives
                size = min(needed, max(self.large_frame_step_bytes, 2 * pending))
                target = self._buffer if len(self._buffer) >= size else bytearray(size)
            if target is not self._buffer or self._start > 0:
                # memoryview slice assignment is a memmove: overlap is safe.
                memoryview(target)[:pending] = self._view[self._start:self._end]
                self._use(target)
                self._start, self._end = 0, pending
        self._space_bytes = len(self._buffer) - self._end
        return self._view[self._end:]

    def received(self, count: int) -> None:
        """`count` bytes were written at the start of the last space()."""
        if not 0 <= count <= self._space_bytes:
            raise ValueError(f"received {count} bytes into {self._space_bytes} of space")
        self._end += count
        self._space_bytes -= count
        self._filled = count > 0 and self._space_bytes == 0
        self._quiet_receives = self._quiet_receives + 1 if 2 * count < self._initial_bytes else 0

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

    def _grow_standard(self, needed: int) -> None:
        """Double the connection's buffer after a receive that filled it, or make it
        hold a frame of `needed` bytes, within buffer_bytes."""
        size = len(self._standard)
        wanted = size * 2 if self._filled else size
        if size < needed <= self._standard_max:
            wanted = max(wanted, needed)
        wanted = min(wanted, self._standard_max)
        self._filled = False
        if wanted > size:
            self._standard = bytearray(wanted)  # the old one goes once nothing views it

    def _use(self, buffer: bytearray) -> None:
        if buffer is not self._buffer:
            self._buffer = buffer
            self._view = memoryview(buffer)
