"""FileSlice: a byte range of a segment file, for sending with os.sendfile (zero copy).

PartitionLog.read_slice returns one instead of bytes. It owns a duplicate of
the segment's file descriptor, so the range stays readable (and is never another
file's) after retention deletes the segment, compaction replaces it or the log
closes. Only a truncation of the same segment (a follower or epoch truncation)
can shorten it; send() and read() raise SliceTruncatedError then, because the
slice's length was already promised to the peer.

Sending from trio: the socket is non-blocking, so send() raises BlockingIOError
when the socket buffer is full; wait with trio.lowlevel.wait_writable(socket)
and call it again with the bytes sent so far.
"""

from __future__ import annotations

import os
from types import TracebackType

from flowlog.storage.errors import SliceTruncatedError


class FileSlice:
    __slots__ = ("fd", "position", "length")

    def __init__(self, fd: int, position: int, length: int) -> None:
        self.fd = fd  # owned: close() releases it
        self.position = position
        self.length = length

    def __len__(self) -> int:
        return self.length

    def send(self, socket_fd: int, sent: int = 0) -> int:
        """os.sendfile the bytes from `sent` on to `socket_fd`; returns how many this
        call sent (may be fewer than asked). BlockingIOError: the socket is full."""
        remaining = self.length - sent
        if remaining <= 0:
            return 0
        count = os.sendfile(socket_fd, self.fd, self.position + sent, remaining)
        if count == 0:
            raise SliceTruncatedError(
                f"segment ends before the slice: {sent} of {self.length} bytes sent")
        return count

    def read(self) -> bytes:
        """The bytes of the slice (one pread): the copying fallback."""
        data = os.pread(self.fd, self.length, self.position)
        if len(data) != self.length:
            raise SliceTruncatedError(
                f"segment ends before the slice: {len(data)} of {self.length} bytes read")
        return data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> FileSlice:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # A slice dropped without close() must not leak its descriptor.
        if self.fd >= 0:
            os.close(self.fd)

    def __repr__(self) -> str:
        return f"FileSlice(fd={self.fd}, position={self.position}, length={self.length})"
