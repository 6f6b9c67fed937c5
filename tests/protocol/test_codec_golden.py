"""Our codec against kafka-python's independent encoders and decoders (golden bytes).

kafka.protocol.old holds kafka-python's hand-written schemas; kafka.protocol.metadata
its generated ones (used for the flexible versions).
"""

from __future__ import annotations

import struct
from typing import Any

from kafka.protocol.metadata import ApiVersionsRequest as KpApiVersionsRequest
from kafka.protocol.metadata import MetadataRequest as KpMetadataRequest
from kafka.protocol.old import api_versions as kp_api_versions
from kafka.protocol.old import metadata as kp_metadata
from kafka.protocol.old import produce as kp_produce

from flowlog.protocol import codec
from flowlog.protocol.messages.api_versions import ApiVersionsResponse
from flowlog.protocol.messages.metadata import MetadataRequest, MetadataResponse
from flowlog.protocol.messages.produce import ProduceRequest


def _decode(header: codec.RequestHeader, body: bytes) -> Any:
    """Frame kafka-python's body with a request header written by hand, then decode it."""
    client_id = (header.client_id or "").encode()
    head = struct.pack(">hhih", header.api_key, header.api_version, header.correlation_id,
                       len(client_id)) + client_id
    if codec.find_api(header.api_key).is_flexible(header.api_version):
        head += b"\x00"
    decoded_header, offset = codec.decode_request_header(head + body)
    assert (decoded_header, offset) == (header, len(head))
    return codec.decode_request(decoded_header, head + body, offset)


def test_api_versions_v0_request_and_response() -> None:
    assert kp_api_versions.ApiVersionsRequest_v0().encode() == b""
    ours = ApiVersionsResponse(
        error_code=0,
        api_keys=[ApiVersionsResponse.ApiVersion(api_key=18, min_version=0, max_version=4)],
    )
    frame = codec.encode_response(18, 0, 99, ours)
    theirs = kp_api_versions.ApiVersionsResponse_v0.decode(frame[4:])
    assert theirs.error_code == 0
    assert [tuple(entry) for entry in theirs.api_versions] == [(18, 0, 4)]


def test_api_versions_v3_request_from_kafka_python() -> None:
    body = bytes(KpApiVersionsRequest[3](
        client_software_name="kafka-python", client_software_version="3.0"
    ).encode(version=3))
    decoded = _decode(codec.RequestHeader(18, 3, 1, "kp"), body)
    assert decoded.client_software_name == "kafka-python"
    assert decoded.client_software_version == "3.0"


def test_api_versions_v3_response_header_is_v0_and_kafka_python_reads_it() -> None:
    ours = ApiVersionsResponse(
        api_keys=[ApiVersionsResponse.ApiVersion(api_key=0, min_version=0, max_version=9)],
        finalized_features_epoch=5,
        supported_features=[
            ApiVersionsResponse.SupportedFeatureKey(name="metadata.version", min_version=1, max_version=20)
        ],
    )
    frame = codec.encode_response(18, 3, 5, ours)
    assert frame[:4] == b"\x00\x00\x00\x05" and frame[4:6] == b"\x00\x00"  # no header tag byte
    theirs = kp_api_versions.ApiVersionsResponse_v3.decode(frame[4:])
    assert [tuple(entry)[:3] for entry in theirs.api_versions] == [(0, 0, 9)]


def test_metadata_v1_both_directions() -> None:
    body = kp_metadata.MetadataRequest_v1(topics=["alpha", "beta"]).encode()
    decoded = _decode(codec.RequestHeader(3, 1, 1, "kp"), body)
    assert [topic.name for topic in decoded.topics] == ["alpha", "beta"]
    null_topics = _decode(codec.RequestHeader(3, 1, 1, "kp"), kp_metadata.MetadataRequest_v1(topics=None).encode())
    assert null_topics.topics is None

    response = MetadataResponse(
        brokers=[MetadataResponse.MetadataResponseBroker(node_id=1, host="h", port=9092, rack=None)],
        controller_id=1,
        topics=[MetadataResponse.MetadataResponseTopic(
            name="alpha", is_internal=False,
            partitions=[MetadataResponse.MetadataResponsePartition(
                partition_index=0, leader_id=1, replica_nodes=[1], isr_nodes=[1])],
        )],
    )
    frame = codec.encode_response(3, 1, 3, response)
    theirs = kp_metadata.MetadataResponse_v1.decode(frame[4:])
    assert [tuple(b) for b in theirs.brokers] == [(1, "h", 9092, None)]
    assert theirs.controller_id == 1
    error_code, name, internal, partitions = theirs.topics[0]
    assert (error_code, name, internal) == (0, "alpha", False)
    assert [tuple(p) for p in partitions] == [(0, 0, 1, [1], [1])]


def test_metadata_v12_flexible_request_from_kafka_python() -> None:
    body = bytes(KpMetadataRequest[12](
        topics=[KpMetadataRequest.MetadataRequestTopic(name="alpha")],
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=True,
    ).encode(version=12))
    decoded = _decode(codec.RequestHeader(3, 12, 1, "kp"), body)
    assert decoded == MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name="alpha")],
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=True,
    )
    ours = codec.encode_request(codec.RequestHeader(3, 12, 1, "kp"), decoded)
    assert ours.endswith(body)


def test_produce_v3_request_both_ways() -> None:
    records = b"\x00" * 70
    theirs = kp_produce.ProduceRequest_v3(
        transactional_id=None, required_acks=-1, timeout=1500,
        topics=[("alpha", [(0, records)])],
    ).encode()
    decoded = _decode(codec.RequestHeader(0, 3, 1, "kp"), theirs)
    assert decoded.acks == -1 and decoded.timeout_ms == 1500
    assert decoded.transactional_id is None
    partition = decoded.topic_data[0].partition_data[0]
    assert decoded.topic_data[0].name == "alpha"
    assert (partition.index, bytes(partition.records)) == (0, records)
    ours = ProduceRequest(
        acks=-1, timeout_ms=1500,
        topic_data=[ProduceRequest.TopicProduceData(
            name="alpha",
            partition_data=[ProduceRequest.PartitionProduceData(index=0, records=records)])],
    )
    frame = codec.encode_request(codec.RequestHeader(0, 3, 1, "kp"), ours)
    assert frame.endswith(theirs)
