"""Bad bytes from a peer raise DecodeError (naming message, version, field), never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol import codec
from flowlog.protocol.errors import DecodeError, EncodeError, UnsupportedVersionError
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.messages.heartbeat import HeartbeatRequest
from flowlog.protocol.messages.metadata import MetadataRequest, MetadataResponse
from flowlog.protocol.messages.produce import ProduceRequest, ProduceResponse

DECODERS = [
    (api.key, version, response)
    for api in ALL_APIS.values()
    for version in range(api.min_version, api.max_version + 1)
    for response in (False, True)
]


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(DECODERS), data=st.binary(max_size=48))
def test_random_bytes_raise_only_decode_error(case: tuple[int, int, bool], data: bytes) -> None:
    key, version, response = case
    decoder = ALL_APIS[key].decoder(version, response=response)
    try:
        decoder(memoryview(data), 0)
    except DecodeError:
        pass


def _produce_frame() -> tuple[codec.RequestHeader, bytes]:
    header = codec.RequestHeader(0, 9, 1, "c")
    body = ProduceRequest(acks=1, topic_data=[ProduceRequest.TopicProduceData(
        name="topic", partition_data=[ProduceRequest.PartitionProduceData(index=0, records=b"x" * 30)])])
    return header, codec.encode_request(header, body)


def test_every_truncation_of_a_valid_request_fails_cleanly() -> None:
    header, frame = _produce_frame()
    _, offset = codec.decode_request_header(frame)
    for cut in range(offset, len(frame)):
        with pytest.raises(DecodeError, match="ProduceRequest v9"):
            codec.decode_request(header, frame[:cut], offset)


def test_string_length_past_the_end_names_the_field() -> None:
    header = codec.RequestHeader(3, 1, 1, None)
    frame = codec.encode_request(header, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="abc")]))
    _, offset = codec.decode_request_header(frame)
    broken = frame[: offset + 4] + b"\x7f\xff" + b"abc"
    with pytest.raises(DecodeError, match=r"MetadataRequest v1: .*MetadataRequestTopic\.name.*exceeds"):
        codec.decode_request(header, broken, offset)


def test_absurd_array_count_fails_fast() -> None:
    header = codec.RequestHeader(3, 1, 1, None)
    frame = codec.encode_request(header, MetadataRequest(topics=[]))
    _, offset = codec.decode_request_header(frame)
    broken = frame[:offset] + b"\x7f\xff\xff\xff" + b"\x00" * 16
    with pytest.raises(DecodeError, match="2147483647 elements cannot fit"):
        codec.decode_request(header, broken, offset)


def test_trailing_bytes_after_a_request_are_ignored_as_kafka_does() -> None:
    header, frame = _produce_frame()
    _, offset = codec.decode_request_header(frame)
    assert codec.decode_request(header, frame + b"\x01\x00\x00", offset) == codec.decode_request(
        header, frame, offset
    )


def test_trailing_bytes_after_a_response_are_rejected() -> None:
    body = MetadataResponse(brokers=[], topics=[])
    frame = codec.encode_response(3, 1, 9, body)
    with pytest.raises(DecodeError, match="unexpected bytes"):
        codec.decode_response(3, 1, frame + b"\x00")


def test_unknown_key_and_bad_version_still_decode_the_header() -> None:
    frame = b"\x03\xe7\x00\x63\x00\x00\x00\x05\xff\xff" + b"junk"
    header, offset = codec.decode_request_header(frame)
    assert header == codec.RequestHeader(999, 99, 5, None) and offset == 10
    with pytest.raises(UnsupportedVersionError, match="unknown API key 999"):
        codec.decode_request(header, frame, offset)
    header, offset = codec.decode_request_header(b"\x00\x12\x00\x63\x00\x00\x00\x05\x00\x01a\x00")
    assert (header.api_key, header.client_id, offset) == (18, "a", 11)  # v1 layout: no tag byte read
    with pytest.raises(UnsupportedVersionError, match="ApiVersions v99"):
        codec.decode_request(header, b"", offset)


def test_setting_a_field_the_version_lacks_is_refused_unless_ignorable() -> None:
    header = codec.RequestHeader(12, 2, 1, None)
    with pytest.raises(UnsupportedVersionError, match="group_instance_id does not exist"):
        codec.encode_request(header, HeartbeatRequest(group_instance_id="static-1"))
    # log_start_offset is ignorable: silently dropped below v5.
    response = ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="t", partition_responses=[ProduceResponse.PartitionProduceResponse(log_start_offset=5)])])
    _, decoded = codec.decode_response(0, 3, codec.encode_response(0, 3, 1, response))
    assert decoded.responses[0].partition_responses[0].log_start_offset == -1


def test_bad_local_values_raise_encode_error_naming_the_field() -> None:
    header = codec.RequestHeader(0, 9, 1, None)
    with pytest.raises(EncodeError, match="ProduceRequest.*acks"):
        codec.encode_request(header, ProduceRequest(acks=70000))
    with pytest.raises(EncodeError, match="expected a ProduceRequest"):
        codec.encode_request(header, MetadataRequest())
