"""encode_response_frame: one bytes object, or chunks around file slices (zero-copy Fetch)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from flowlog.protocol import codec
from flowlog.protocol.errors import EncodeError
from flowlog.protocol.messages.fetch import FetchResponse
from flowlog.protocol.messages.metadata import MetadataResponse


class FakeSlice:
    """Stands for storage's FileSlice: len(), send(), read(), close()."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def send(self, socket_fd: int, sent: int = 0) -> int:
        raise AssertionError("not sent in these tests")

    def read(self) -> bytes:
        return self.data

    def close(self) -> None:
        pass


def _fetch(records: list[Any]) -> Any:
    return FetchResponse(throttle_time_ms=0, error_code=0, session_id=0, responses=[
        FetchResponse.FetchableTopicResponse(topic="t", partitions=[
            FetchResponse.PartitionData(
                partition_index=i, error_code=0, high_watermark=10, last_stable_offset=10,
                log_start_offset=0, aborted_transactions=None, preferred_read_replica=-1,
                records=r)
            for i, r in enumerate(records)])])


def _joined(chunks: bytes | list[Any]) -> bytes:
    if isinstance(chunks, bytes):
        return chunks
    return b"".join(c if isinstance(c, bytes) else c.read() for c in chunks)


@pytest.mark.parametrize("version", [4, 11, 12])
def test_bytes_responses_are_one_frame_with_its_prefix(version: int) -> None:
    body = _fetch([b"x" * 100, None, b""])
    frame = codec.encode_response_frame(1, version, 7, body)
    plain = codec.encode_response(1, version, 7, body)
    assert frame == struct.pack(">i", len(plain)) + plain
    metadata = MetadataResponse(brokers=[], topics=[])
    assert codec.encode_response_frame(3, 12, 8, metadata) == (
        struct.pack(">i", len(codec.encode_response(3, 12, 8, metadata)))
        + codec.encode_response(3, 12, 8, metadata))


@pytest.mark.parametrize("version", [4, 11, 12])
def test_slices_become_chunks_counted_in_the_size_prefix(version: int) -> None:
    datas = [b"a" * 5000, b"", b"b" * 7000]
    slices = [FakeSlice(datas[0]), b"", FakeSlice(datas[2])]
    chunks = codec.encode_response_frame(1, version, 9, _fetch(slices))
    assert isinstance(chunks, list)
    # Bytes between slices are joined; only flexible versions have bytes (tagged
    # fields) after the last partition's records.
    tail = [bytes] if version >= 12 else []
    assert [type(c) for c in chunks] == [bytes, FakeSlice, bytes, FakeSlice, *tail]
    assert chunks[1] is slices[0] and chunks[3] is slices[2]
    expected = codec.encode_response_frame(1, version, 9, _fetch(datas))
    assert _joined(chunks) == expected
    (size,) = struct.unpack(">i", _joined(chunks)[:4])
    assert size == len(expected) - 4
    correlation_id, decoded = codec.decode_response(1, version, _joined(chunks)[4:])
    assert correlation_id == 9
    assert [bytes(p.records) for p in decoded.responses[0].partitions] == datas


def test_a_part_that_is_neither_bytes_nor_a_slice_is_an_encode_error() -> None:
    class Sized:
        def __len__(self) -> int:
            return 3

    with pytest.raises(EncodeError):
        codec.encode_response_frame(1, 12, 1, _fetch([Sized()]))
