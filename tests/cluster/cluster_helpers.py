"""Helpers for cluster tests: polling the metadata clients see, raw requests, controller RPC."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
from confluent_kafka.admin import AdminClient

from flowlog.controller.controller_rpc import (
    ControllerReply,
    ControllerRequest,
    OperationRequest,
    decode_reply,
    encode_request,
)
from flowlog.protocol.codec import RequestHeader, decode_response
from flowlog.protocol.codec import encode_request as encode_kafka
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.produce import ProduceRequest
from flowlog.protocol.records import Record, build_batch

T = TypeVar("T")

# Settings that keep failure detection in seconds (Kafka's defaults are 9 s sessions).
FAST_CLUSTER = {
    "broker.session.timeout.ms": "2000",
    "broker.heartbeat.interval.ms": "300",
    "controller.quorum.election.timeout.ms": "500",
    "leader.imbalance.check.interval.seconds": "1",
}


@contextlib.contextmanager
def brokers_output_on_failure(cluster: Any) -> Iterator[None]:
    """A failure prints the brokers' logs (replication decisions are logged at INFO)."""
    try:
        yield
    except BaseException:
        for node_id, broker in cluster.brokers.items():
            print(f"----- broker {node_id} -----")
            print("".join(broker.output)[-20_000:])
        raise


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy (tests may poll; the broker may not)."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as error:  # noqa: BLE001 - a node may be down mid-probe
            last = None
            problem = error
        else:
            problem = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r}, error: {problem!r})")


def topic_layout(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int], list[int]]] | None:
    """partition -> (leader, replicas, isr) as confluent-kafka sees it from `bootstrap`."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(topic, timeout=5)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None and not found.partitions:
        return None
    return {
        index: (partition.leader, list(partition.replicas), list(partition.isrs))
        for index, partition in found.partitions.items()
    }


def controller_id(bootstrap: str) -> int:
    """Metadata's controller id: a live broker that forwards admin requests."""
    return int(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5).controller_id)


def quorum_leader(bootstrap: str) -> int:
    """The controller quorum's leader as DescribeQuorum names it (-1: none known)."""
    leader: int = describe_json(bootstrap)["controller"]["leader"]
    return leader


def describe_json(bootstrap: str) -> dict[str, Any]:
    """`flowlog cluster describe --json` as a user would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "flowlog", "cluster", "describe", "--bootstrap", bootstrap,
         "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    document: dict[str, Any] = orjson.loads(done.stdout)
    return document


def _frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def read_frame(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, 4)
    (size,) = struct.unpack(">I", header)
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = sock.recv(count)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def controller_call(port: int, request: ControllerRequest) -> ControllerReply:
    """One controller RPC to the node whose controller listener is on `port`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_frame(encode_request(request)))
        return decode_reply(read_frame(sock))


def kafka_call(port: int, api_key: int, version: int, body: Any, timeout_s: float = 10) -> Any:
    """One Kafka request to the broker on `port`; its decoded response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        frame = encode_kafka(RequestHeader(api_key, version, 1, "test"), body)
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        _, response = decode_response(api_key, version, read_frame(sock))
    return response


def produce_one(port: int, topic: str, partition: int, value: bytes) -> int:
    """Produce v9 one record to the broker on `port`; the partition's error code."""
    batch = build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None, value=value)])
    request = ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=partition, records=batch)])])
    response = kafka_call(port, 0, 9, request)
    return int(response.responses[0].partition_responses[0].error_code)


def controller_request(
    controller_ports: list[int | None], name: str, arguments: dict[str, Any]
) -> list[Any]:
    """A controller operation sent the way a broker would: to any voter, then to the
    leader it names. Returns the (unstructured) results."""
    request = OperationRequest(name, arguments)
    for port in controller_ports:
        if port is None:
            continue
        try:
            reply = controller_call(port, request)
        except OSError:
            continue
        if reply.error_code == ErrorCode.NOT_CONTROLLER and reply.leader_id >= 0:
            reply = controller_call(_port_of(controller_ports, reply.leader_id), request)
        if reply.error_code == ErrorCode.NONE:
            return list(reply.results)
    raise AssertionError(f"no controller answered {name}")


def _port_of(controller_ports: list[int | None], node_id: int) -> int:
    port = controller_ports[node_id - 1]
    assert port is not None
    return port
