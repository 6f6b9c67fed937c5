"""Request and response headers, and whole-message encode/decode over `ALL_APIS`.

Header rules: a request header is v2 (v1 + tagged fields) iff the request's
version is flexible, else v1; client_id keeps its int16 length in both. A
response header is v1 (correlation id + tagged fields) iff flexible, else v0,
except ApiVersions, whose response header is always v0 so that a client that
does not yet know our versions can parse it. Frames here carry no size prefix
(see framing.py), except encode_response_frame's, which the broker sends as is.

Zero copy: a RECORDS field of a response may hold a file slice (anything with
len(), send(socket_fd, sent), read() and close(), such as storage's FileSlice)
instead of bytes. encode_response_frame then returns the frame as a list of
chunks, bytes and slices in wire order, whose size prefix counts the slices'
lengths; the caller sends them in order and closes the slices.
"""

from __future__ import annotations

import struct
from typing import Any, Final, Protocol, TypeAlias

import attrs

from flowlog.protocol import primitives
from flowlog.protocol.errors import DecodeError, EncodeError, UnsupportedVersionError
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.schema import Api

API_VERSIONS_KEY: Final = 18
_REQUEST_HEADER_FIXED: Final = struct.Struct(">hhi")
_CORRELATION_ID: Final = primitives.INT32
_EMPTY_TAGGED_FIELDS: Final = b"\x00"
_FRAME_SIZE: Final = primitives.INT32
_BYTES_LIKE: Final = (bytes, bytearray, memoryview)


class ByteSlice(Protocol):
    """A byte range sent without copying it through Python (storage's FileSlice)."""

    def __len__(self) -> int: ...

    def send(self, socket_fd: int, sent: int = 0) -> int: ...

    def read(self) -> bytes: ...

    def close(self) -> None: ...


# One piece of a response frame: bytes to send as they are, or a slice to sendfile.
ResponseChunk: TypeAlias = bytes | ByteSlice


@attrs.frozen(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def find_api(api_key: int) -> Api:
    """The declaration of `api_key`; UnsupportedVersionError if we declare no such API."""
    api = ALL_APIS.get(api_key)
    if api is None:
        raise UnsupportedVersionError(f"unknown API key {api_key}")
    return api


def _is_flexible(api_key: int, api_version: int) -> bool:
    api = ALL_APIS.get(api_key)
    return api is not None and api_version in api.valid_versions and api.is_flexible(api_version)


def _skip_tagged_fields(buffer: memoryview, offset: int, where: str) -> int:
    try:
        count, offset = primitives.read_unsigned_varint(buffer, offset)
        if count * 2 > len(buffer) - offset:
            raise primitives.MalformedError(f"{count} tagged fields cannot fit")
        for _ in range(count):
            _tag, offset = primitives.read_unsigned_varint(buffer, offset)
            size, offset = primitives.read_unsigned_varint(buffer, offset)
            offset += size
            if offset > len(buffer):
                raise primitives.MalformedError(f"tagged field of {size} bytes exceeds the frame")
    except primitives.MalformedError as error:
        raise DecodeError(f"{where}: tagged fields: {error}") from error
    return offset


def decode_request_header(frame: bytes | memoryview) -> tuple[RequestHeader, int]:
    """Parse a request header; return it with the offset where the body starts.

    An unknown key or unsupported version still decodes (with the v1 layout),
    so the caller can answer UNSUPPORTED_VERSION without parsing the body.
    """
    buffer = memoryview(frame)
    if len(buffer) < _REQUEST_HEADER_FIXED.size + 2:
        raise DecodeError(f"request header needs at least 10 bytes, the frame has {len(buffer)}")
    api_key, api_version, correlation_id = _REQUEST_HEADER_FIXED.unpack_from(buffer, 0)
    offset = _REQUEST_HEADER_FIXED.size
    (length,) = primitives.INT16.unpack_from(buffer, offset)
    offset += 2
    client_id: str | None = None
    if length >= 0:
        if offset + length > len(buffer):
            raise DecodeError(
                f"request header: client_id length {length} exceeds the "
                f"{len(buffer) - offset} bytes left"
            )
        try:
            client_id = str(buffer[offset : offset + length], "utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(f"request header: client_id is not UTF-8: {error}") from error
        offset += length
    elif length != -1:
        raise DecodeError(f"request header: invalid client_id length {length}")
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    if _is_flexible(api_key, api_version):
        offset = _skip_tagged_fields(buffer, offset, "request header")
    return header, offset


def decode_request(header: RequestHeader, frame: bytes | memoryview, body_offset: int) -> Any:
    """Decode the request body that starts at `body_offset` of `frame`.

    Bytes after the body are ignored, as Kafka's broker ignores them: librdkafka
    2.16 sends three extra bytes after a Metadata v12 request body.
    """
    api = find_api(header.api_key)
    decoder = api.decoder(header.api_version, response=False)
    body, _ = decoder(memoryview(frame), body_offset)
    return body


def _encode_body(api: Api, version: int, body: Any, *, response: bool) -> list[Any]:
    expected = api.response_type if response else api.request_type
    if type(body) is not expected:
        raise EncodeError(f"{api.name} v{version}: expected a {expected.__name__}, got {body!r:.80}")
    parts: list[Any] = []
    api.encoder(version, response=response)(body, parts)
    return parts


def encode_request(header: RequestHeader, body: Any) -> bytes:
    """Header and body of a request, without the size prefix (client side)."""
    api = find_api(header.api_key)
    parts = _encode_body(api, header.api_version, body, response=False)
    head = [_REQUEST_HEADER_FIXED.pack(header.api_key, header.api_version, header.correlation_id)]
    if header.client_id is None:
        head.append(primitives.NULL_INT16_LENGTH)
    else:
        client_id = header.client_id.encode("utf-8")
        head.append(primitives.INT16.pack(len(client_id)))
        head.append(client_id)
    if api.is_flexible(header.api_version):
        head.append(_EMPTY_TAGGED_FIELDS)
    return b"".join(head + parts)


def _response_header_is_flexible(api: Api, api_version: int) -> bool:
    # ApiVersions answers with header v0 always: the client cannot know our versions yet.
    return api.key != API_VERSIONS_KEY and api.is_flexible(api_version)


def encode_response(api_key: int, api_version: int, correlation_id: int, body: Any) -> bytes:
    """Header and body of a response, without the size prefix."""
    api = find_api(api_key)
    parts = _encode_body(api, api_version, body, response=True)
    head = _CORRELATION_ID.pack(correlation_id)
    if _response_header_is_flexible(api, api_version):
        head += _EMPTY_TAGGED_FIELDS
    return b"".join([head, *parts])


def encode_response_frame(
    api_key: int, api_version: int, correlation_id: int, body: Any
) -> bytes | list[ResponseChunk]:
    """A whole response frame, size prefix included, built with one copy.

    One bytes object, unless the body holds slices (see the module doc): then a
    list of chunks, bytes and slices in wire order (consecutive bytes joined),
    whose size prefix counts each slice at its len().
    """
    api = find_api(api_key)
    parts = _encode_body(api, api_version, body, response=True)
    head = _CORRELATION_ID.pack(correlation_id)
    if _response_header_is_flexible(api, api_version):
        head += _EMPTY_TAGGED_FIELDS
    size = len(head) + sum(map(len, parts))
    if size > 0x7FFFFFFF:
        raise EncodeError(f"{api.name}Response v{api_version}: {size} bytes exceed a frame")
    try:
        return b"".join([_FRAME_SIZE.pack(size), head, *parts])
    except TypeError:
        pass  # a part is not bytes-like: a slice (or a bug, reported below)
    chunks: list[ResponseChunk] = []
    run: list[Any] = [_FRAME_SIZE.pack(size), head]
    for part in parts:
        if isinstance(part, _BYTES_LIKE):
            run.append(part)
        elif callable(getattr(part, "send", None)) and callable(getattr(part, "close", None)):
            chunks.append(b"".join(run))
            run = []
            chunks.append(part)
        else:
            raise EncodeError(
                f"{api.name}Response v{api_version}: cannot send a {type(part).__name__} part"
            )
    if run:
        chunks.append(b"".join(run))
    return chunks


def decode_response(api_key: int, api_version: int, frame: bytes | memoryview) -> tuple[int, Any]:
    """(correlation id, body) of a response frame without its size prefix (client side)."""
    api = find_api(api_key)
    decoder = api.decoder(api_version, response=True)
    buffer = memoryview(frame)
    if len(buffer) < _CORRELATION_ID.size:
        raise DecodeError(f"{api.name}Response: frame of {len(buffer)} bytes has no header")
    (correlation_id,) = _CORRELATION_ID.unpack_from(buffer, 0)
    offset = _CORRELATION_ID.size
    if _response_header_is_flexible(api, api_version):
        offset = _skip_tagged_fields(buffer, offset, f"{api.name}Response header")
    body, end = decoder(buffer, offset)
    if end != len(buffer):
        raise DecodeError(
            f"{api.name}Response v{api_version}: {len(buffer) - end} unexpected bytes after the body"
        )
    return correlation_id, body
