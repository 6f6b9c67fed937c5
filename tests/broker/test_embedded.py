"""The in-process broker: the async context manager and the pytest plugin's fixture."""

from __future__ import annotations

import struct

import trio
from confluent_kafka import Consumer, Producer, TopicPartition

import flowlog
from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.messages.api_versions import ApiVersionsRequest


async def test_embedded_broker_answers_api_versions() -> None:
    async with flowlog.embedded_broker() as broker:
        host, port = broker.bootstrap.rsplit(":", 1)
        assert host == "127.0.0.1"
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            frame = encode_request(RequestHeader(18, 3, 11, "t"), ApiVersionsRequest(
                client_software_name="t", client_software_version="1"))
            await stream.send_all(struct.pack(">i", len(frame)) + frame)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
                data += await stream.receive_some(65536)
        correlation_id, response = decode_response(18, 3, data[4:])
        assert correlation_id == 11
        keys = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
        assert keys[0] == (0, 9) and keys[1] == (4, 12) and keys[18] == (0, 4)


def test_pytest_plugin_fixture_serves_a_sync_client(flowlog_broker) -> None:  # type: ignore[no-untyped-def]
    producer = Producer({"bootstrap.servers": flowlog_broker.bootstrap})
    producer.produce("plugin", key=b"k", value=b"hello")
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": flowlog_broker.bootstrap, "group.id": "x",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("plugin", 0, 0)])
    message = None
    for _ in range(60):
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            break
    consumer.close()
    assert message is not None and message.value() == b"hello"
