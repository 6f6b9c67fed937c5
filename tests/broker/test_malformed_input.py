"""Bad input gets the protocol's error answer or a closed connection, and harms nobody else."""

from __future__ import annotations

import socket
import struct

import pytest

from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.api_versions import ApiVersionsRequest
from flowlog.protocol.messages.metadata import MetadataRequest
from flowlog.protocol.messages.produce import ProduceRequest
from flowlog.protocol.records import Record, build_batch

TIMEOUT_S = 10.0


def connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
    return sock


def receive_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = sock.recv(count)
        if not chunk:
            raise ConnectionError("closed by broker")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def call(sock: socket.socket, api_key: int, version: int, body: object, correlation_id: int = 7) -> object:
    frame = encode_request(RequestHeader(api_key, version, correlation_id, "test"), body)
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    (size,) = struct.unpack(">i", receive_exactly(sock, 4))
    got_id, response = decode_response(api_key, version, receive_exactly(sock, size))
    assert got_id == correlation_id
    return response


def assert_closed(sock: socket.socket) -> None:
    sock.settimeout(TIMEOUT_S)
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def assert_healthy(bootstrap: str) -> None:
    with connect(bootstrap) as sock:
        response = call(sock, 3, 12, MetadataRequest(topics=None))
        assert [b.node_id for b in response.brokers] == [1]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x00\x00\x00\x08garbage!", id="garbage-header"),
        pytest.param(struct.pack(">i", -5) + b"abc", id="negative-length"),
        pytest.param(struct.pack(">i", 2**31 - 1), id="huge-length"),
        pytest.param(struct.pack(">i", 1020) + bytes(range(4, 256)) + bytes(range(256)) * 3,
                     id="garbage-frame"),
        pytest.param(struct.pack(">ihhi", 8, 999, 0, 1), id="unknown-api-key"),
        pytest.param(struct.pack(">ihhih", 10, 3, 99, 1, -1), id="unknown-metadata-version"),
        pytest.param(struct.pack(">ihhih", 12, 3, 12, 1, -1) + b"\xff\xff", id="truncated-body"),
    ],
)
def test_bad_frames_close_the_connection_only(broker, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    with connect(broker.bootstrap) as bystander, connect(broker.bootstrap) as sock:
        sock.sendall(payload)
        assert_closed(sock)
        # A client connected before the bad one is still served on its connection.
        response = call(bystander, 18, 3, ApiVersionsRequest(client_software_name="t",
                                                              client_software_version="1"))
        assert response.error_code == ErrorCode.NONE  # type: ignore[attr-defined]
    assert broker.is_running()
    assert_healthy(broker.bootstrap)


def test_truncated_frame_then_disconnect(broker) -> None:  # type: ignore[no-untyped-def]
    with connect(broker.bootstrap) as sock:
        sock.sendall(struct.pack(">i", 100) + b"\x00\x03\x00")
    assert_healthy(broker.bootstrap)


def test_api_versions_above_ours_gets_error_35_and_v0_body(broker) -> None:  # type: ignore[no-untyped-def]
    with connect(broker.bootstrap) as sock:
        frame = struct.pack(">hhih", 18, 99, 5, 4) + b"test" + b"\x00garbage-body"
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", receive_exactly(sock, 4))
        correlation_id, body = decode_response(18, 0, receive_exactly(sock, size))
    assert correlation_id == 5
    assert body.error_code == ErrorCode.UNSUPPORTED_VERSION  # type: ignore[attr-defined]
    assert [(k.api_key, k.min_version) for k in body.api_keys] == [(18, 0)]  # type: ignore[attr-defined]


def test_batch_with_bad_crc_is_refused_and_not_stored(broker) -> None:  # type: ignore[no-untyped-def]
    batch = bytearray(build_batch([Record(offset=0, timestamp=1, key=b"k", value=b"v")]))
    batch[-1] ^= 0xFF  # flip a byte inside the CRC-covered records
    with connect(broker.bootstrap) as sock:
        request = ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            ProduceRequest.TopicProduceData(name="crc", partition_data=[
                ProduceRequest.PartitionProduceData(index=0, records=bytes(batch))
            ])
        ])
        response = call(sock, 0, 9, request)
        answer = response.responses[0].partition_responses[0]  # type: ignore[attr-defined]
        assert answer.error_code == ErrorCode.CORRUPT_MESSAGE
        good = build_batch([Record(offset=0, timestamp=1, key=b"k", value=b"v")])
        request.topic_data[0].partition_data[0].records = good
        response = call(sock, 0, 9, request)
        answer = response.responses[0].partition_responses[0]  # type: ignore[attr-defined]
        assert (answer.error_code, answer.base_offset) == (ErrorCode.NONE, 0)
