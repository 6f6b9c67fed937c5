"""TCP transport between voters: length-prefixed frames of codec-encoded messages.

A frame is a uint32 big-endian length, then that many bytes of `codec.encode(message)`.
Each peer has one outbound connection, opened lazily and reopened after a failure; a
message that cannot be queued or sent is dropped (Raft retries what matters). A link
also reports when the peer's process is gone (see PeerLink). Inbound connections
deliver decoded messages to a callback; a bad frame closes the connection.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import trio

from flowlog.raft.codec import RaftDecodeError, decode, encode
from flowlog.raft.connection_errors import is_refusal
from flowlog.raft.messages import Message

FRAME_HEADER = struct.Struct(">I")
FRAME_SIZE_MAX_BYTES = 256 * 1024 * 1024
# Messages waiting for one peer's connection; beyond this they are dropped.
OUTBOUND_QUEUE_MAX = 1024
RECONNECT_DELAY_S = 0.05
RECEIVE_CHUNK_BYTES = 64 * 1024


class FrameError(Exception):
    pass


def frame(message: Message) -> bytes:
    body = encode(message)
    return FRAME_HEADER.pack(len(body)) + body


class FrameReader:
    """Splits a byte stream into frames (sans-IO: feed bytes, take frames)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self._buffer)
            if size > FRAME_SIZE_MAX_BYTES:
                raise FrameError(f"frame of {size} bytes is over {FRAME_SIZE_MAX_BYTES}")
            end = FRAME_HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[FRAME_HEADER.size : end]))
            del self._buffer[:end]
        return frames


class PeerLink:
    """The outbound side to one peer.

    The peer never writes on this connection, so a read that ends means the connection
    did. If the redial that follows is refused (nothing listens at the address any
    more), the peer's process is gone: `on_gone()` is called, once per lost connection.
    A refusal before any connection was accepted proves nothing (the peer may not have
    started yet), nor does a dial that fails otherwise (a partition, a stalled host).
    """

    def __init__(self, host: str, port: int, on_gone: Callable[[], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.dropped_count = 0
        self._on_gone = on_gone
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](
            OUTBOUND_QUEUE_MAX
        )

    def send_nowait(self, message: Message) -> None:
        try:
            self._send_channel.send_nowait(frame(message))
        except trio.WouldBlock:
            self.dropped_count += 1

    async def run(self) -> None:
        """Connect, send queued frames, reconnect after failures; runs until cancelled."""
        lost_connection = False  # an accepted connection ended, no redial accepted since
        while True:
            try:
                stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as error:
                if lost_connection and is_refusal(error):
                    lost_connection = False
                    if self._on_gone is not None:
                        self._on_gone()
                await trio.sleep(RECONNECT_DELAY_S)
                continue
            lost_connection = True
            async with stream:
                await self._carry(stream)
            await trio.sleep(RECONNECT_DELAY_S)

    async def _carry(self, stream: trio.SocketStream) -> None:
        """Send queued frames until the connection fails or the peer closes it."""

        async def send_queued() -> None:
            try:
                async for data in self._receive_channel:
                    await stream.send_all(data)
            except (OSError, trio.BrokenResourceError):
                self.dropped_count += 1
            nursery.cancel_scope.cancel()

        async def watch_close() -> None:
            try:
                while await stream.receive_some(RECEIVE_CHUNK_BYTES):
                    pass  # The peer writes nothing here; ignore it if it ever does.
            except (OSError, trio.BrokenResourceError):
                pass
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_queued)
            nursery.start_soon(watch_close)


async def serve_connection(stream: trio.abc.Stream, deliver: Callable[[Message], None]) -> None:
    """Read frames from one inbound connection until it closes or sends garbage."""
    reader = FrameReader()
    async with stream:
        try:
            while True:
                data = await stream.receive_some(RECEIVE_CHUNK_BYTES)
                if not data:
                    return
                for body in reader.feed(data):
                    deliver(decode(body))
        except (FrameError, RaftDecodeError, OSError, trio.BrokenResourceError):
            return
