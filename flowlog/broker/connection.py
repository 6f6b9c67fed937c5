"""One client connection: read frames, dispatch each request, answer in request order.

Kafka clients match responses to requests by order as well as by correlation
id, so a connection handles one request at a time (Kafka "mutes" a channel the
same way). Frames that are not well formed close the connection; nothing a
client sends can reach beyond it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from flowlog.protocol.codec import (
    DecodeError,
    RequestHeader,
    UnsupportedVersionError,
    decode_request,
    decode_request_header,
    encode_response,
)
from flowlog.protocol.framing import FrameDecoder, FramingError, frame_prefix
from flowlog.protocol.messages import ALL_APIS

log = logging.getLogger(__name__)

# Bytes asked of the socket per read: large enough for a produce burst in few syscalls.
RECEIVE_CHUNK_BYTES = 256 * 1024
API_VERSIONS_KEY = 18


@attrs.define
class RequestContext:
    header: RequestHeader
    peer: str
    connection_id: int


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
        decoder = FrameDecoder(self.max_frame_bytes)
        try:
            async with stream:
                while True:
                    data = await stream.receive_some(RECEIVE_CHUNK_BYTES)
                    if not data:
                        return
                    decoder.feed(data)
                    while (frame := decoder.next_frame()) is not None:
                        answer = await self._answer(frame, peer, connection_id)
                        if answer is not None:
                            await stream.send_all(frame_prefix(len(answer)) + answer)
        except FramingError as error:
            log.warning("closing connection from %s: %s", peer, error)
        except CloseConnection as error:
            log.warning("closing connection from %s: %s", peer, error)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            # A bug must cost one connection, never the broker.
            log.exception("closing connection from %s after an internal error", peer)

    async def _answer(
        self, frame: bytes | memoryview, peer: str, connection_id: int
    ) -> bytes | None:
        try:
            header, body_at = decode_request_header(frame)
        except DecodeError as error:
            raise CloseConnection(f"bad request header: {error}") from None
        context = RequestContext(header=header, peer=peer, connection_id=connection_id)
        api = ALL_APIS.get(header.api_key)
        handler = self.handlers.get(header.api_key)
        if api is None or handler is None:
            raise CloseConnection(f"unsupported API key {header.api_key}")
        if not api.min_version <= header.api_version <= api.max_version:
            if header.api_key == API_VERSIONS_KEY:
                # Kafka's fallback: answer with error 35 in a v0 body, unparsed request.
                version, body = await self.unsupported_api_versions(context)
                return encode_response(header.api_key, version, header.correlation_id, body)
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
            return encode_response(
                header.api_key, header.api_version, header.correlation_id, response
            )
        except Exception:
            log.exception("%s v%d failed", api.name, header.api_version)
            raise CloseConnection(f"internal error handling {api.name}") from None
