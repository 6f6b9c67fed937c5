"""Bad input gets the protocol's error answer or a closed connection, and harms nobody else."""

from __future__ import annotations

import struct

import pytest
from raw_client import RawConnection, produce

from flowlog.protocol.codec import decode_response
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.api_versions import ApiVersionsRequest
from flowlog.protocol.messages.metadata import MetadataRequest
from flowlog.protocol.records import Record, build_batch


def assert_healthy(bootstrap: str) -> None:
    with RawConnection(bootstrap) as connection:
        response = connection.call(3, 12, MetadataRequest(topics=None))
        assert [b.node_id for b in response.brokers] == [1]


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
    with RawConnection(broker.bootstrap) as bystander, RawConnection(broker.bootstrap) as bad:
        bad.send_raw(payload)
        assert bad.is_closed_by_peer()
        # A client connected before the bad one is still served on its connection.
        response = bystander.call(18, 3, ApiVersionsRequest(client_software_name="t",
                                                             client_software_version="1"))
        assert response.error_code == ErrorCode.NONE
    assert broker.is_running()
    assert_healthy(broker.bootstrap)


def test_truncated_frame_then_disconnect(broker) -> None:  # type: ignore[no-untyped-def]
    with RawConnection(broker.bootstrap) as connection:
        connection.send_raw(struct.pack(">i", 100) + b"\x00\x03\x00")
    assert_healthy(broker.bootstrap)


def test_api_versions_above_ours_gets_error_35_and_v0_body(broker) -> None:  # type: ignore[no-untyped-def]
    with RawConnection(broker.bootstrap) as connection:
        frame = struct.pack(">hhih", 18, 99, 5, 4) + b"test" + b"\x00garbage-body"
        connection.send_raw(struct.pack(">i", len(frame)) + frame)
        correlation_id, body = decode_response(18, 0, connection.receive_frame())
    assert correlation_id == 5
    assert body.error_code == ErrorCode.UNSUPPORTED_VERSION  # type: ignore[attr-defined]
    assert [(k.api_key, k.min_version) for k in body.api_keys] == [(18, 0)]  # type: ignore[attr-defined]


def test_batch_with_bad_crc_is_refused_and_not_stored(broker) -> None:  # type: ignore[no-untyped-def]
    batch = bytearray(build_batch([Record(offset=0, timestamp=1, key=b"k", value=b"v")]))
    batch[-1] ^= 0xFF  # flip a byte inside the CRC-covered records
    with RawConnection(broker.bootstrap) as connection:
        answer = produce(connection, "crc", 0, bytes(batch))
        assert answer.error_code == ErrorCode.CORRUPT_MESSAGE
        good = build_batch([Record(offset=0, timestamp=1, key=b"k", value=b"v")])
        answer = produce(connection, "crc", 0, good)
        # Offset 0: the corrupt batch took no offset.
        assert (answer.error_code, answer.base_offset) == (ErrorCode.NONE, 0)
