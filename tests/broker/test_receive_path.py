"""The connection's receive path: requests parsed in place from a writable buffer.

A produced batch reaches the handler as a writable view of the received bytes
(so the log can write its offsets in place), over a real socket and over a
plain trio stream, whatever the chunking and however large the request.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Any

import pytest
import trio
import trio.testing
from raw_client import produce_request

from flowlog.broker.connection import RECEIVE_BUFFER_BYTES, Dispatcher, RequestContext
from flowlog.protocol.codec import RequestHeader, encode_request

# Small, larger than the receive buffer, small again: every path of the buffer.
RECORDS_SIZES = [100, RECEIVE_BUFFER_BYTES + 12_345, 3_000, 50]


def produce_frames() -> tuple[bytes, list[bytes]]:
    """Pipelined acks=0 Produce v9 frames (no answers) and the records each carries."""
    records = [os.urandom(size) for size in RECORDS_SIZES]
    frames = []
    for correlation_id, blob in enumerate(records):
        frame = encode_request(RequestHeader(0, 9, correlation_id, "test"),
                               produce_request("t", 0, blob, acks=0))
        frames.append(struct.pack(">i", len(frame)) + frame)
    return b"".join(frames), records


def recording_dispatcher(seen: list[tuple[bool, bytes]]) -> Dispatcher:
    async def produce(context: RequestContext, request: Any) -> None:
        records = request.topic_data[0].partition_data[0].records
        seen.append((isinstance(records, memoryview) and not records.readonly, bytes(records)))

    async def unsupported(context: RequestContext) -> tuple[int, Any]:
        raise AssertionError("not reached")

    return Dispatcher(handlers={0: produce}, unsupported_api_versions=unsupported,
                      max_frame_bytes=1 << 22)


def send_in_pieces(sock: socket.socket, data: bytes, piece_bytes: int) -> None:
    for start in range(0, len(data), piece_bytes):
        sock.sendall(data[start:start + piece_bytes])
    sock.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("piece_bytes", [1_000, 64 * 1024, 1 << 22])
async def test_records_arrive_as_writable_views_over_a_socket(piece_bytes: int) -> None:
    data, records = produce_frames()
    seen: list[tuple[bool, bytes]] = []
    ours, theirs = socket.socketpair()
    sender = threading.Thread(target=send_in_pieces, args=(theirs, data, piece_bytes))
    sender.start()
    with trio.fail_after(30):
        await recording_dispatcher(seen).serve(
            trio.SocketStream(trio.socket.from_stdlib_socket(ours)), "peer")
    await trio.to_thread.run_sync(sender.join)
    theirs.close()
    assert seen == [(True, blob) for blob in records]


async def test_a_stream_without_a_socket_is_received_by_copy() -> None:
    data, records = produce_frames()
    seen: list[tuple[bool, bytes]] = []
    ours, theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(recording_dispatcher(seen).serve, ours, "peer")
        for start in range(0, len(data), 7_777):
            await theirs.send_all(data[start:start + 7_777])
        await theirs.aclose()
    assert seen == [(True, blob) for blob in records]
