"""A minimal blocking Kafka client over our own codec, for protocol-level broker tests."""

from __future__ import annotations

import socket
import struct
from typing import Any

from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.init_producer_id import InitProducerIdRequest
from flowlog.protocol.messages.produce import ProduceRequest

TIMEOUT_S = 30.0


class RawConnection:
    def __init__(self, bootstrap: str, timeout_s: float = TIMEOUT_S) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self._correlation_id = 0

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive_exactly(self, count: int) -> bytes:
        chunks = []
        while count:
            chunk = self.sock.recv(count)
            if not chunk:
                raise ConnectionError("closed by broker")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def receive_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self.receive_exactly(4))
        return self.receive_exactly(size)

    def call(self, api_key: int, version: int, body: object) -> Any:
        self._correlation_id += 1
        frame = encode_request(RequestHeader(api_key, version, self._correlation_id, "test"), body)
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        correlation_id, response = decode_response(api_key, version, self.receive_frame())
        assert correlation_id == self._correlation_id
        return response

    def is_closed_by_peer(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def produce_request(topic: str, partition: int, batch: bytes, acks: int = -1) -> Any:
    return ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=partition, records=batch)])])


def produce(connection: RawConnection, topic: str, partition: int, batch: bytes) -> Any:
    """Produce v9 one batch; the partition's answer."""
    response = connection.call(0, 9, produce_request(topic, partition, batch))
    return response.responses[0].partition_responses[0]


def new_producer_id(connection: RawConnection) -> int:
    """InitProducerId v4 for an idempotent producer: a fresh id at epoch 0."""
    response = connection.call(22, 4, InitProducerIdRequest(transactional_id=None,
                                                            transaction_timeout_ms=60_000))
    assert response.error_code == ErrorCode.NONE
    assert response.producer_epoch == 0
    return int(response.producer_id)
