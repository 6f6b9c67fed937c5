"""A fetch parked on max_wait_ms answers as soon as data arrives, not at the deadline."""

from __future__ import annotations

import socket
import struct
import threading
import time

from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.messages.produce import ProduceRequest
from flowlog.protocol.records import Record, build_batch

MAX_WAIT_MS = 20_000


def _call(bootstrap: str, api_key: int, version: int, body: object) -> object:
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        frame = encode_request(RequestHeader(api_key, version, 1, "t"), body)
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
        return decode_response(api_key, version, sock.recv(size, socket.MSG_WAITALL))[1]


def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    batch = build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None, value=value)])
    _call(bootstrap, 0, 9, ProduceRequest(acks=1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch)])]))


def test_parked_fetch_wakes_on_append(broker) -> None:  # type: ignore[no-untyped-def]
    _produce(broker.bootstrap, "poll", b"first")
    fetch = FetchRequest(replica_id=-1, max_wait_ms=MAX_WAIT_MS, min_bytes=1, max_bytes=1 << 20,
                         topics=[FetchRequest.FetchTopic(topic="poll", partitions=[
                             FetchRequest.FetchPartition(partition=0, fetch_offset=1,
                                                         partition_max_bytes=1 << 20)])])
    result: dict[str, object] = {}

    def fetcher() -> None:
        started = time.monotonic()
        result["response"] = _call(broker.bootstrap, 1, 12, fetch)
        result["elapsed_s"] = time.monotonic() - started

    thread = threading.Thread(target=fetcher)
    thread.start()
    time.sleep(1.0)  # let the fetch park on the empty partition
    assert thread.is_alive(), "fetch answered before any data arrived"
    _produce(broker.bootstrap, "poll", b"second")
    thread.join(MAX_WAIT_MS / 1000)
    assert not thread.is_alive()
    # Woken by the append: far sooner than the 20 s deadline.
    assert result["elapsed_s"] < MAX_WAIT_MS / 1000 / 2  # type: ignore[operator]
    partition = result["response"].responses[0].partitions[0]  # type: ignore[attr-defined]
    assert b"second" in bytes(partition.records)
