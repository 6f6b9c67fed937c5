"""Fetch responses sent with os.sendfile (FileSlice records): same bytes, never wrong bytes.

The broker runs with 1 MiB segments; a fetch over every partition from offset 0
returns one segment per partition, each far above ZERO_COPY_MIN_BYTES, so the
response is mostly slices, and it is larger than the socket buffers can hold,
so a client that does not read stalls the broker mid-response.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from raw_client import RawConnection, produce

from flowlog.broker.handlers.fetch import ZERO_COPY_MIN_BYTES
from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.messages.delete_records import DeleteRecordsRequest
from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.record_batch import iter_batch_spans
from flowlog.protocol.records import Record, build_batch, decode_batch

PARTITIONS = 8
SEGMENT_BYTES = 1 << 20
VALUE_BYTES = 1024
RECORDS_PER_BATCH = 64  # 64 KiB batches
BATCHES_PER_PARTITION = 40  # 2.5 MiB per partition, three segments
BROKER_CONFIG = {"num.partitions": str(PARTITIONS), "log.segment.bytes": str(SEGMENT_BYTES)}
FETCH_VERSION = 12


def _value(partition: int, offset: int) -> bytes:
    seed = struct.pack(">ii", partition, offset)
    return (seed * (VALUE_BYTES // len(seed)))[:VALUE_BYTES]


def _fill(bootstrap: str, topic: str) -> dict[int, list[bytes]]:
    """Produce distinct 1 KiB values to every partition; the values by partition."""
    produced: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    now = int(time.time() * 1000)
    with RawConnection(bootstrap) as connection:
        for partition in range(PARTITIONS):
            for _ in range(BATCHES_PER_PARTITION):
                first = len(produced[partition])
                values = [_value(partition, first + i) for i in range(RECORDS_PER_BATCH)]
                batch = build_batch([Record(offset=i, timestamp=now, key=None, value=v)
                                     for i, v in enumerate(values)])
                answer = produce(connection, topic, partition, batch)
                assert answer.error_code == 0, answer
                assert answer.base_offset == first
                produced[partition].extend(values)
    return produced


def _fetch_request(topic: str, offsets: dict[int, int]) -> Any:
    return FetchRequest(
        replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=256 << 20,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=64 << 20)
            for p, o in offsets.items()])])


def _request_frame(request: Any, correlation_id: int = 1) -> bytes:
    frame = encode_request(RequestHeader(1, FETCH_VERSION, correlation_id, "zc"), request)
    return struct.pack(">i", len(frame)) + frame


def _values(records: Any, from_offset: int) -> list[tuple[int, bytes]]:
    data = bytes(records or b"")
    spans = iter_batch_spans(data)
    assert sum(size for _, size in spans) == len(data), "a fetch returns whole batches"
    return [(r.offset, bytes(r.value or b"")) for start, size in spans
            for r in decode_batch(data[start:start + size])[1] if r.offset >= from_offset]


def test_multi_mib_fetch_over_many_partitions_returns_what_was_produced(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    topic = "zc-many"
    produced = _fill(broker.bootstrap, topic)
    seen: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    largest = 0
    with RawConnection(broker.bootstrap) as connection:
        while any(offsets[p] < len(produced[p]) for p in offsets):
            response = connection.call(1, FETCH_VERSION, _fetch_request(topic, offsets))
            for answer in response.responses[0].partitions:
                assert answer.error_code == 0
                assert answer.high_watermark == len(produced[answer.partition_index])
                largest = max(largest, len(answer.records or b""))
                for offset, value in _values(answer.records, offsets[answer.partition_index]):
                    assert offset == len(seen[answer.partition_index])
                    seen[answer.partition_index].append(value)
                offsets[answer.partition_index] = len(seen[answer.partition_index])
    assert seen == produced
    assert largest >= ZERO_COPY_MIN_BYTES  # the zero-copy path was taken


def test_confluent_and_kafka_python_read_large_fetches_intact(broker_factory) -> None:  # type: ignore[no-untyped-def]
    confluent_kafka = pytest.importorskip("confluent_kafka")
    kafka = pytest.importorskip("kafka")
    broker = broker_factory(BROKER_CONFIG)
    topic = "zc-clients"
    produced = _fill(broker.bootstrap, topic)
    total = sum(len(v) for v in produced.values())

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": "zc", "enable.auto.commit": False,
        "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 8 << 20,
    })
    consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 60
    count = 0
    while count < total and time.monotonic() < deadline:
        for message in consumer.consume(10_000, 1.0):
            assert message.error() is None, message.error()
            assert message.offset() == len(got[message.partition()])
            got[message.partition()].append(message.value())
            count += 1
    consumer.close()
    assert got == produced

    old = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                              fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20,
                              consumer_timeout_ms=10_000)
    old.assign([kafka.TopicPartition(topic, p) for p in range(PARTITIONS)])
    for p in range(PARTITIONS):
        old.seek(kafka.TopicPartition(topic, p), 0)
    got = {p: [] for p in range(PARTITIONS)}
    count = 0
    deadline = time.monotonic() + 60
    while count < total and time.monotonic() < deadline:
        for tp, messages in old.poll(timeout_ms=1000, max_records=100_000).items():
            for message in messages:
                assert message.offset == len(got[tp.partition])
                got[tp.partition].append(message.value)
                count += 1
    old.close()
    assert got == produced


def _stalled_fetch(bootstrap: str, frame: bytes) -> socket.socket:
    """A connection that sends `frame` and reads nothing (a tiny receive buffer)."""
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    sock.sendall(frame)
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} bytes")
        data += chunk
    return data


def _socket_buffers_max() -> int:
    """Most a loopback connection can buffer: sender's wmem plus receiver's rmem maxima."""
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return wmem + 4096 * 4  # the stalled client's receive buffer is tiny


def _reference(bootstrap: str, topic: str) -> tuple[bytes, bytes]:
    """(request frame, the whole response frame) of a fetch of every partition from 0."""
    frame = _request_frame(_fetch_request(topic, dict.fromkeys(range(PARTITIONS), 0)))
    with RawConnection(bootstrap) as connection:
        connection.send_raw(frame)
        size = struct.unpack(">i", connection.receive_exactly(4))[0]
        body = connection.receive_exactly(size)
    response = decode_response(1, FETCH_VERSION, body)[1]
    assert all(len(a.records) > ZERO_COPY_MIN_BYTES for a in response.responses[0].partitions)
    full = struct.pack(">i", size) + body
    assert len(full) > _socket_buffers_max(), "the response must not fit in the socket buffers"
    return frame, full


def _delete_records(bootstrap: str, topic: str) -> None:
    request = DeleteRecordsRequest(timeout_ms=5000, topics=[DeleteRecordsRequest.DeleteRecordsTopic(
        name=topic, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(partition_index=p, offset=-1)
                                for p in range(PARTITIONS)])])
    with RawConnection(bootstrap) as connection:
        response = connection.call(21, 2, request)
    for answer in response.topics[0].partitions:
        assert answer.error_code == 0


def test_stalled_reader_does_not_block_others_and_deleted_segments_send_their_bytes(
    broker_factory,  # type: ignore[no-untyped-def]
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    topic = "zc-stall"
    produced = _fill(broker.bootstrap, topic)
    frame, expected = _reference(broker.bootstrap, topic)
    stalled = _stalled_fetch(broker.bootstrap, frame)
    time.sleep(0.5)  # the broker is now parked mid-response on the full socket
    try:
        # Other connections are served meanwhile: fetch, produce, and delete the very
        # segments the stalled response's slices point into.
        started = time.monotonic()
        with RawConnection(broker.bootstrap, timeout_s=10) as other:
            response = other.call(1, FETCH_VERSION, _fetch_request(topic, {0: 0}))
            assert _values(response.responses[0].partitions[0].records, 0)[0][1] == produced[0][0]
            batch = build_batch([Record(offset=0, timestamp=0, key=None, value=b"more")])
            assert produce(other, topic, 1, batch).error_code == 0
        _delete_records(broker.bootstrap, topic)
        assert time.monotonic() - started < 5
        segment_dir = broker.data_dir / f"{topic}-0"
        assert not (segment_dir / f"{0:020d}.log").exists(), "the first segment was not deleted"
        # The slices own their descriptors: the deleted segments' bytes, exactly as promised.
        stalled.settimeout(30)
        assert _read_frame(stalled) == expected
    finally:
        stalled.close()
    assert broker.is_running()


def test_segment_truncated_under_a_pending_slice_closes_the_connection(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    topic = "zc-truncate"
    _fill(broker.bootstrap, topic)
    frame, expected = _reference(broker.bootstrap, topic)
    stalled = _stalled_fetch(broker.bootstrap, frame)
    time.sleep(0.5)
    try:
        # The last partition's slice is sent last: cut its segment short under it.
        os.truncate(broker.data_dir / f"{topic}-{PARTITIONS - 1}" / f"{0:020d}.log", 1000)
        received = _read_to_end(stalled)
    finally:
        stalled.close()
    # Closed mid-frame: what came is the true response's start, nothing else.
    assert 0 < len(received) < len(expected)
    assert expected.startswith(received)
    # The broker serves on.
    with RawConnection(broker.bootstrap) as connection:
        response = connection.call(1, FETCH_VERSION, _fetch_request(topic, {0: 0}))
        assert response.responses[0].partitions[0].error_code == 0
    assert broker.is_running()
    assert any("mid-response" in line for line in broker.output), "".join(broker.output[-20:])
