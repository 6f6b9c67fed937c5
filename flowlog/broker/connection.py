"""One client connection: read frames, dispatch each request, answer in request order.

Kafka clients match responses to requests by order as well as by correlation
id, so a connection handles one request at a time (Kafka "mutes" a channel the
same way). Frames that are not well formed close the connection; nothing a
client sends can reach beyond it.

A response is one bytes object, or (Fetch with large reads) a list of chunks:
bytes go out with send_all, file slices with os.sendfile straight from the
segment file (zero copy). Slices a handler opened are listed on its context
and closed once the response is sent or abandoned (error, cancellation). A
slice whose segment was truncated under it cannot deliver the length already
promised: the connection is closed, never padded or filled with other bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import attrs
import trio

from flowlog.protocol.codec import (
    ByteSlice,
    DecodeError,
    RequestHeader,
    ResponseChunk,
    UnsupportedVersionError,
    decode_request,
    decode_request_header,
    encode_response_frame,
)
from flowlog.protocol.framing import FramingError
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.receive_buffer import ReceiveBuffer
from flowlog.storage.errors import SliceTruncatedError

log = logging.getLogger(__name__)

# Each connection's receive buffer: large enough for a produce burst in few syscalls.
RECEIVE_BUFFER_BYTES = 256 * 1024
API_VERSIONS_KEY = 18
# A response sent with sendfile yields to other tasks at least this often.
SEND_YIELD_BYTES = 1 << 20


@attrs.define
class RequestContext:
    header: RequestHeader
    peer: str
    connection_id: int
    # File slices the handler opened (Fetch): the connection closes every one of
    # them once the response is sent or abandoned; closing twice is harmless.
    open_slices: list[ByteSlice] = attrs.field(factory=list)


# A handler answers a decoded request with a response body, or None for no answer
# (Produce with acks=0).
Handler = Callable[[RequestContext, Any], Awaitable[Any]]
# Answers requests that cannot be decoded at all (ApiVersions at a version we lack).
RawHandler = Callable[[RequestContext], Awaitable[tuple[int, Any]]]


class CloseConnection(Exception):
    """The peer sent something we will not answer; the connection ends."""


@attrs.define
class Dispatcher:
    handlers: dict[int, Handler]
    unsupported_api_versions: RawHandler
    max_frame_bytes: int
    connections_opened: int = 0
    requests_served: int = 0

    async def serve(self, stream: trio.abc.Stream, peer: str) -> None:
        self.connections_opened += 1
        connection_id = self.connections_opened
        frames = ReceiveBuffer(self.max_frame_bytes, RECEIVE_BUFFER_BYTES)
        receive_into = receiver(stream)
        try:
            async with stream:
                while True:
                    # Frames handed out below are answered before space() is asked again.
                    count = await receive_into(frames.space())
                    if not count:
                        return
                    frames.received(count)
                    while (frame := frames.next_frame()) is not None:
                        slices: list[ByteSlice] = []
                        try:
                            answer = await self._answer(frame, peer, connection_id, slices)
                            if answer is None:
                                pass
                            elif type(answer) is bytes:
                                await stream.send_all(answer)
                            else:
                                await send_chunks(stream, cast(list[ResponseChunk], answer))
                        finally:
                            for opened in slices:
                                opened.close()
        except FramingError as error:
            log.warning("closing connection from %s: %s", peer, error)
        except CloseConnection as error:
            log.warning("closing connection from %s: %s", peer, error)
        except SliceTruncatedError as error:
            # Part of the frame is out; the rest no longer exists. Closing is the
            # only answer that cannot hand the client wrong bytes.
            log.warning("closing connection from %s mid-response: %s", peer, error)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            # A bug must cost one connection, never the broker.
            log.exception("closing connection from %s after an internal error", peer)

    async def _answer(
        self, frame: bytes | memoryview, peer: str, connection_id: int,
        slices: list[ByteSlice],
    ) -> bytes | list[ResponseChunk] | None:
        """The whole response frame (size prefix included), or None for no answer."""
        try:
            header, body_at = decode_request_header(frame)
        except DecodeError as error:
            raise CloseConnection(f"bad request header: {error}") from None
        context = RequestContext(header, peer, connection_id, slices)
        api = ALL_APIS.get(header.api_key)
        handler = self.handlers.get(header.api_key)
        if api is None or handler is None:
            raise CloseConnection(f"unsupported API key {header.api_key}")
        if not api.min_version <= header.api_version <= api.max_version:
            if header.api_key == API_VERSIONS_KEY:
                # Kafka's fallback: answer with error 35 in a v0 body, unparsed request.
                version, body = await self.unsupported_api_versions(context)
                return encode_response_frame(header.api_key, version, header.correlation_id, body)
            raise CloseConnection(
                f"unsupported version {header.api_version} of {api.name} "
                f"(supported {api.min_version}-{api.max_version})"
            )
        try:
            request = decode_request(header, frame, body_at)
        except (DecodeError, UnsupportedVersionError) as error:
            raise CloseConnection(
                f"malformed {api.name} v{header.api_version}: {error} "
                f"(frame starts {bytes(frame[:64]).hex()})"
            ) from None
        try:
            response = await handler(context, request)
            self.requests_served += 1
            if response is None:
                return None
            return encode_response_frame(
                header.api_key, header.api_version, header.correlation_id, response
            )
        except Exception:
            log.exception("%s v%d failed", api.name, header.api_version)
            raise CloseConnection(f"internal error handling {api.name}") from None


def receiver(stream: trio.abc.Stream) -> Callable[[memoryview], Awaitable[int]]:
    """An async receive_into(space) -> bytes received (0 at end of stream) for `stream`.

    A socket stream receives straight into the space (recv_into): the bytes land
    where the frame will be parsed and written from. Other streams (wrapped or
    in-memory) go through receive_some and one copy.
    """
    socket = getattr(stream, "socket", None)
    if socket is None:
        async def receive_copied(space: memoryview) -> int:
            data = await stream.receive_some(len(space))
            space[:len(data)] = data
            return len(data)
        return receive_copied

    async def receive_direct(space: memoryview) -> int:
        try:
            return cast(int, await socket.recv_into(space))
        except OSError as error:
            # A reset peer ends the connection as an end of stream would, as
            # SocketStream.receive_some reports it.
            raise trio.BrokenResourceError(f"receive failed: {error}") from error
    return receive_direct


async def send_chunks(stream: trio.abc.Stream, chunks: list[ResponseChunk]) -> None:
    """Send a chunked response in order: bytes with send_all, slices with sendfile.

    Without a socket underneath (a wrapped or in-memory stream) a slice is read
    and sent as bytes.
    """
    socket = getattr(stream, "socket", None)
    for chunk in chunks:
        if isinstance(chunk, bytes):
            await stream.send_all(chunk)
        elif socket is None:
            await stream.send_all(chunk.read())
        else:
            await send_slice(socket, chunk)


async def send_slice(socket: trio.socket.SocketType, piece: ByteSlice) -> None:
    """os.sendfile all of `piece` to a non-blocking trio socket.

    A full socket buffer waits for writability; a short send continues from
    where it stopped. Cancellation is honoured after every call, and the task
    yields to others at least every SEND_YIELD_BYTES, so a fast reader of a huge
    response cannot starve other connections and a client that stops reading
    parks only its own task.
    """
    fd = socket.fileno()
    length = len(piece)
    sent = 0
    unyielded = 0
    while sent < length:
        try:
            count = piece.send(fd, sent)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(socket)
            unyielded = 0
            continue
        except OSError as error:
            # The peer went away mid-send (EPIPE, ECONNRESET): as send_all reports it.
            raise trio.BrokenResourceError(f"sendfile failed: {error}") from error
        sent += count
        unyielded += count
        if unyielded >= SEND_YIELD_BYTES:
            unyielded = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
