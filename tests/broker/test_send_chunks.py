"""connection.send_chunks: bytes and FileSlices in order over a real socket, with a slow reader."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import trio

from flowlog.broker.connection import send_chunks
from flowlog.storage.errors import SliceTruncatedError
from flowlog.storage.file_slice import FileSlice

PAYLOAD_BYTES = 8 << 20


def _slice(path: Path, position: int, length: int) -> FileSlice:
    return FileSlice(os.open(path, os.O_RDONLY), position, length)


def _slow_reader(sock: socket.socket, into: list[bytes]) -> None:
    while chunk := sock.recv(64 * 1024):
        into.append(chunk)


async def test_chunks_arrive_in_order_through_a_full_socket(tmp_path: Path) -> None:
    data = os.urandom(PAYLOAD_BYTES)
    path = tmp_path / "segment"
    path.write_bytes(data)
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    received: list[bytes] = []
    reader = threading.Thread(target=_slow_reader, args=(theirs, received))
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    first, second = _slice(path, 0, 3 << 20), _slice(path, 5 << 20, 3 << 20)
    with first, second:
        reader.start()
        await send_chunks(stream, [b"head", first, b"middle", second, b"tail"])
    await stream.aclose()
    await trio.to_thread.run_sync(reader.join)
    theirs.close()
    assert b"".join(received) == (
        b"head" + data[: 3 << 20] + b"middle" + data[5 << 20 : 8 << 20] + b"tail")


async def test_a_truncated_slice_raises_after_sending_only_true_bytes(tmp_path: Path) -> None:
    path = tmp_path / "segment"
    path.write_bytes(b"x" * 1000)
    ours, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    with _slice(path, 0, 2000) as piece, pytest.raises(SliceTruncatedError):
        await send_chunks(stream, [b"head", piece])
    await stream.aclose()
    theirs.settimeout(5)
    assert b"".join(iter(lambda: theirs.recv(65536), b"")) == b"head" + b"x" * 1000
    theirs.close()
