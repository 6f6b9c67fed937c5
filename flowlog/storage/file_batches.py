"""Reading and writing record batches laid end to end in a segment file."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from flowlog.protocol.record_batch import (
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_PREFIX_SIZE,
    MIN_BATCH_LENGTH,
    BatchHeader,
    parse_header,
    read_batch_length,
)

# Scans read the file in chunks of this size (a bigger batch is read whole).
READ_CHUNK_BYTES = 1 << 20
# A regular file accepts a whole writev unless the disk fills; retry a short write this often.
WRITE_ATTEMPTS_MAX = 16


def read_header_at(fd: int, position: int) -> BatchHeader | None:
    """The header of the batch at `position`, or None if the file ends inside it."""
    data = os.pread(fd, BATCH_HEADER_SIZE, position)
    if len(data) < BATCH_HEADER_SIZE:
        return None
    return parse_header(data)


def iter_stored_batches(fd: int, start: int, end: int) -> Iterator[tuple[int, memoryview]]:
    """(position, bytes) of each complete batch between `start` and `end`.

    Stops at the first batch whose length field is impossible or which runs past
    `end`; checks nothing else (callers validate what they need).
    """
    position = start
    while end - position >= BATCH_HEADER_SIZE:
        chunk = os.pread(fd, min(READ_CHUNK_BYTES, end - position), position)
        view = memoryview(chunk)
        at = 0
        while len(view) - at >= BATCH_HEADER_SIZE:
            length = read_batch_length(view, at)
            if length < MIN_BATCH_LENGTH:
                return
            size = length + BATCH_LENGTH_PREFIX_SIZE
            if at + size > len(view):
                break
            yield position + at, view[at : at + size]
            at += size
        if at == 0:
            # One batch bigger than the chunk: read it whole, or stop if it runs past the end.
            length = read_batch_length(view, 0)
            size = length + BATCH_LENGTH_PREFIX_SIZE
            if position + size > end:
                return
            whole = os.pread(fd, size, position)
            if len(whole) < size:
                return
            yield position, memoryview(whole)
            at = size
        position += at


def write_all(fd: int, buffers: Sequence[bytes | bytearray | memoryview], size: int) -> None:
    """writev every byte of `buffers` (total `size`) to `fd`, retrying short writes."""
    pending = [memoryview(buffer) for buffer in buffers]
    remaining = size
    for _ in range(WRITE_ATTEMPTS_MAX):
        written = os.writev(fd, pending)
        remaining -= written
        if remaining == 0:
            return
        while written:
            head = pending[0]
            if written >= len(head):
                written -= len(head)
                pending.pop(0)
            else:
                pending[0] = head[written:]
                written = 0
    raise OSError(f"short writes: {remaining} of {size} bytes still unwritten")
