"""Consumer-group, transaction and SASL messages, and the consumer protocol payloads,
checked byte for byte against kafka-python.

kafka-python 3 ships two independent encoders: classes generated from Kafka's JSON
schemas (every version, flexible ones included) and older hand-written structs
(non-flexible versions only). Each case below is encoded by them and by us, and
each side decodes the other's bytes. The consumer protocol payloads are also
compared with kafka-python and round-tripped with hypothesis.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.protocol import sasl as kp_sasl
from kafka.protocol.admin import groups as kp_admin_groups
from kafka.protocol.consumer import group as kp_group
from kafka.protocol.consumer import metadata as kp_consumer_metadata
from kafka.protocol.metadata import find_coordinator as kp_find_coordinator
from kafka.protocol.old import commit as kp_old_commit
from kafka.protocol.old import group as kp_old_group
from kafka.protocol.old.consumer_protocol import (
    ConsumerProtocolMemberAssignment_v0,
    ConsumerProtocolMemberMetadata_v0,
)
from kafka.protocol.producer import transaction as kp_transaction

from flowlog.protocol import codec, group_protocol
from flowlog.protocol.declarations import Array, Struct
from flowlog.protocol.errors import DecodeError, EncodeError, UnsupportedVersionError
from flowlog.protocol.group_protocol import (
    Assignment,
    InvalidConsumerProtocolPayload,
    Subscription,
    TopicPartitions,
)
from flowlog.protocol.message_class import Message
from flowlog.protocol.messages import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    delete_groups,
    describe_groups,
    end_txn,
    find_coordinator,
    heartbeat,
    join_group,
    leave_group,
    list_groups,
    offset_commit,
    offset_delete,
    offset_fetch,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    txn_offset_commit,
)
from flowlog.protocol.schema import Api

CORRELATION_ID = 7
CLIENT_ID = "interop-test"

# Our field name -> kafka-python's, by dotted path, where Kafka later renamed a field
# that we keep under its name from the versions we declare.
OFFSET_COMMIT_RENAMES = {"generation_id": "generation_id_or_member_epoch"}
ADD_PARTITIONS_REQUEST_RENAMES = {
    "transactional_id": "v3_and_below_transactional_id",
    "producer_id": "v3_and_below_producer_id",
    "producer_epoch": "v3_and_below_producer_epoch",
    "topics": "v3_and_below_topics",
}
ADD_PARTITIONS_RESPONSE_RENAMES = {
    "results": "results_by_topic_v3_and_below",
    "results.results": "results_by_partition",
    "results.results.error_code": "partition_error_code",
}


@attrs.frozen
class Case:
    """One message at one version, with every field of that version given."""

    api: Api
    kafka_python_class: Any
    version: int
    response: bool
    values: dict[str, Any]
    renames: dict[str, str] = attrs.field(factory=dict)

    def kafka_python_values(self) -> dict[str, Any]:
        values = _rename(self.values, self.renames)
        if self.api is describe_groups.API and self.response and self.version >= 3:
            values = _authorized_operations_as_bit_sets(values)
        return values

    @property
    def test_id(self) -> str:
        side = "Response" if self.response else "Request"
        return f"{self.api.name}{side}-v{self.version}"


def request(
    api: Api, theirs: Any, version: int, renames: dict[str, str] | None = None, **values: Any
) -> Case:
    return Case(api, theirs, version, False, values, renames or {})


def response(
    api: Api, theirs: Any, version: int, renames: dict[str, str] | None = None, **values: Any
) -> Case:
    return Case(api, theirs, version, True, values, renames or {})


def _authorized_operations_as_bit_sets(values: dict[str, Any]) -> dict[str, Any]:
    """kafka-python shows DescribeGroups' authorized_operations as a set of bit numbers."""
    groups = []
    for group in values["groups"]:
        bits = group["authorized_operations"] & 0xFFFFFFFF
        as_set = {bit for bit in range(32) if bits >> bit & 1}
        groups.append(dict(group, authorized_operations=None if as_set == {31} else as_set))
    return dict(values, groups=groups)


def _protocols() -> list[dict[str, Any]]:
    return [{"name": "range", "metadata": b"\x00\x01sub"}, {"name": "sticky", "metadata": b""}]


def _commit_topics(version: int) -> list[dict[str, Any]]:
    partition: dict[str, Any] = {"partition_index": 3, "committed_offset": 1234567890123}
    if version >= 6:
        partition["committed_leader_epoch"] = 9
    partition["committed_metadata"] = "meta"
    null_metadata = dict(partition, partition_index=4, committed_metadata=None)
    return [{"name": "orders", "partitions": [partition, null_metadata]}]


def _fetched_partition(version: int) -> dict[str, Any]:
    partition: dict[str, Any] = {"partition_index": 0, "committed_offset": -1}
    if version >= 5:
        partition["committed_leader_epoch"] = -1
    partition.update(metadata=None, error_code=0)
    return partition


CASES = [
    # JoinGroup: v0 lacks rebalance_timeout_ms; v5 instance ids; v6 flexible; v7 null names.
    request(join_group.API, kp_group.JoinGroupRequest, 0, group_id="g", session_timeout_ms=10000,
            member_id="", protocol_type="consumer", protocols=_protocols()),
    request(join_group.API, kp_group.JoinGroupRequest, 5, group_id="g", session_timeout_ms=10000,
            rebalance_timeout_ms=300000, member_id="m-1", group_instance_id="static-1",
            protocol_type="consumer", protocols=_protocols()),
    request(join_group.API, kp_group.JoinGroupRequest, 7, group_id="g", session_timeout_ms=45000,
            rebalance_timeout_ms=300000, member_id="", group_instance_id=None,
            protocol_type="consumer", protocols=_protocols()),
    response(join_group.API, kp_group.JoinGroupResponse, 0, error_code=0, generation_id=1,
             protocol_name="range", leader="m-1", member_id="m-1",
             members=[{"member_id": "m-1", "metadata": b"abc"}]),
    response(join_group.API, kp_group.JoinGroupResponse, 6, throttle_time_ms=0, error_code=0,
             generation_id=4, protocol_name="range", leader="m-1", member_id="m-2",
             members=[{"member_id": "m-1", "group_instance_id": None, "metadata": b"x"},
                      {"member_id": "m-2", "group_instance_id": "i-2", "metadata": b""}]),
    response(join_group.API, kp_group.JoinGroupResponse, 7, throttle_time_ms=5, error_code=79,
             generation_id=-1, protocol_type=None, protocol_name=None, leader="",
             member_id="client-uuid", members=[]),
    # SyncGroup: v3 instance id, v4 flexible, v5 protocol type and name.
    request(sync_group.API, kp_group.SyncGroupRequest, 0, group_id="g", generation_id=3,
            member_id="m-1", assignments=[{"member_id": "m-1", "assignment": b"\x00\x00"}]),
    request(sync_group.API, kp_group.SyncGroupRequest, 5, group_id="g", generation_id=3,
            member_id="m-1", group_instance_id="i-1", protocol_type="consumer",
            protocol_name="range", assignments=[]),
    response(sync_group.API, kp_group.SyncGroupResponse, 1, throttle_time_ms=0, error_code=27,
             assignment=b""),
    response(sync_group.API, kp_group.SyncGroupResponse, 5, throttle_time_ms=0, error_code=0,
             protocol_type="consumer", protocol_name=None, assignment=b"\x00\x01"),
    # Heartbeat.
    request(heartbeat.API, kp_group.HeartbeatRequest, 0, group_id="g", generation_id=2,
            member_id="m"),
    request(heartbeat.API, kp_group.HeartbeatRequest, 4, group_id="g", generation_id=2,
            member_id="m", group_instance_id=None),
    response(heartbeat.API, kp_group.HeartbeatResponse, 0, error_code=27),
    response(heartbeat.API, kp_group.HeartbeatResponse, 4, throttle_time_ms=10, error_code=0),
    # LeaveGroup: one member in v0-v2, a batch from v3, flexible v4, reasons v5.
    request(leave_group.API, kp_group.LeaveGroupRequest, 1, group_id="g", member_id="m"),
    request(leave_group.API, kp_group.LeaveGroupRequest, 3, group_id="g",
            members=[{"member_id": "m", "group_instance_id": None}]),
    request(leave_group.API, kp_group.LeaveGroupRequest, 5, group_id="g",
            members=[{"member_id": "", "group_instance_id": "i", "reason": "shutdown"},
                     {"member_id": "m", "group_instance_id": None, "reason": None}]),
    response(leave_group.API, kp_group.LeaveGroupResponse, 0, error_code=25),
    response(leave_group.API, kp_group.LeaveGroupResponse, 4, throttle_time_ms=0, error_code=0,
             members=[{"member_id": "m", "group_instance_id": None, "error_code": 0}]),
    # OffsetCommit: retention only v2-v4, leader epoch v6, instance id v7, flexible v8.
    request(offset_commit.API, kp_group.OffsetCommitRequest, 2, OFFSET_COMMIT_RENAMES,
            group_id="g", generation_id=-1, member_id="", retention_time_ms=-1,
            topics=_commit_topics(2)),
    request(offset_commit.API, kp_group.OffsetCommitRequest, 7, OFFSET_COMMIT_RENAMES,
            group_id="g", generation_id=5, member_id="m", group_instance_id="i",
            topics=_commit_topics(7)),
    request(offset_commit.API, kp_group.OffsetCommitRequest, 8, OFFSET_COMMIT_RENAMES,
            group_id="g", generation_id=5, member_id="m", group_instance_id=None,
            topics=_commit_topics(8)),
    response(offset_commit.API, kp_group.OffsetCommitResponse, 2,
             topics=[{"name": "orders", "partitions": [{"partition_index": 3, "error_code": 0}]}]),
    response(offset_commit.API, kp_group.OffsetCommitResponse, 8, throttle_time_ms=0,
             topics=[{"name": "orders", "partitions": [{"partition_index": 3, "error_code": 22}]}]),
    # OffsetFetch: one group in v1-v7 (null topics from v2), groups batched in v8.
    request(offset_fetch.API, kp_group.OffsetFetchRequest, 1, group_id="g",
            topics=[{"name": "orders", "partition_indexes": [0, 1, 2]}]),
    request(offset_fetch.API, kp_group.OffsetFetchRequest, 2, group_id="g", topics=None),
    request(offset_fetch.API, kp_group.OffsetFetchRequest, 7, group_id="g", topics=None,
            require_stable=True),
    request(offset_fetch.API, kp_group.OffsetFetchRequest, 8, require_stable=False,
            groups=[{"group_id": "a", "topics": None},
                    {"group_id": "b", "topics": [{"name": "t", "partition_indexes": [5]}]}]),
    response(offset_fetch.API, kp_group.OffsetFetchResponse, 1,
             topics=[{"name": "orders", "partitions": [_fetched_partition(1)]}]),
    response(offset_fetch.API, kp_group.OffsetFetchResponse, 6, throttle_time_ms=0,
             topics=[{"name": "orders", "partitions": [_fetched_partition(6)]}], error_code=0),
    response(offset_fetch.API, kp_group.OffsetFetchResponse, 8, throttle_time_ms=0,
             groups=[{"group_id": "a", "error_code": 0, "topics": [{"name": "t", "partitions": [
                 {"partition_index": 5, "committed_offset": 42, "committed_leader_epoch": 3,
                  "metadata": "", "error_code": 0}]}]}]),
    # FindCoordinator: key_type v1, flexible v3, batched keys v4.
    request(find_coordinator.API, kp_find_coordinator.FindCoordinatorRequest, 0, key="g"),
    request(find_coordinator.API, kp_find_coordinator.FindCoordinatorRequest, 3, key="txn-1",
            key_type=1),
    request(find_coordinator.API, kp_find_coordinator.FindCoordinatorRequest, 4, key_type=0,
            coordinator_keys=["g1", "g2"]),
    response(find_coordinator.API, kp_find_coordinator.FindCoordinatorResponse, 0, error_code=0,
             node_id=1, host="localhost", port=9092),
    response(find_coordinator.API, kp_find_coordinator.FindCoordinatorResponse, 3,
             throttle_time_ms=0, error_code=15, error_message=None, node_id=-1, host="", port=-1),
    response(find_coordinator.API, kp_find_coordinator.FindCoordinatorResponse, 4,
             throttle_time_ms=0, coordinators=[
                 {"key": "g1", "node_id": 1, "host": "h", "port": 9092, "error_code": 0,
                  "error_message": None}]),
    # DescribeGroups: authorized operations v3, instance ids v4, flexible v5.
    request(describe_groups.API, kp_admin_groups.DescribeGroupsRequest, 0, groups=["g"]),
    request(describe_groups.API, kp_admin_groups.DescribeGroupsRequest, 5, groups=["g", "h"],
            include_authorized_operations=True),
    response(describe_groups.API, kp_admin_groups.DescribeGroupsResponse, 0, groups=[
        {"error_code": 0, "group_id": "g", "group_state": "Stable", "protocol_type": "consumer",
         "protocol_data": "range", "members": [
             {"member_id": "m", "client_id": "c", "client_host": "/127.0.0.1",
              "member_metadata": b"md", "member_assignment": b"as"}]}]),
    response(describe_groups.API, kp_admin_groups.DescribeGroupsResponse, 5, throttle_time_ms=0,
             groups=[
        {"error_code": 0, "group_id": "g", "group_state": "Empty", "protocol_type": "",
         "protocol_data": "", "members": [
             {"member_id": "m", "group_instance_id": "i", "client_id": "c",
              "client_host": "h", "member_metadata": b"", "member_assignment": b""}],
         "authorized_operations": -(2**31)},
        {"error_code": 16, "group_id": "h", "group_state": "", "protocol_type": "",
         "protocol_data": "", "members": [], "authorized_operations": 0b1000_0000_1000}]),
    # ListGroups: flexible v3, states v4.
    request(list_groups.API, kp_admin_groups.ListGroupsRequest, 0),
    request(list_groups.API, kp_admin_groups.ListGroupsRequest, 4,
            states_filter=["Stable", "Empty"]),
    response(list_groups.API, kp_admin_groups.ListGroupsResponse, 1, throttle_time_ms=0,
             error_code=0, groups=[{"group_id": "g", "protocol_type": "consumer"}]),
    response(list_groups.API, kp_admin_groups.ListGroupsResponse, 4, throttle_time_ms=0,
             error_code=0,
             groups=[{"group_id": "g", "protocol_type": "consumer", "group_state": "Stable"}]),
    # SASL.
    request(sasl_handshake.API, kp_sasl.SaslHandshakeRequest, 1, mechanism="PLAIN"),
    response(sasl_handshake.API, kp_sasl.SaslHandshakeResponse, 0, error_code=33,
             mechanisms=["PLAIN", "SCRAM-SHA-256"]),
    request(sasl_authenticate.API, kp_sasl.SaslAuthenticateRequest, 0,
            auth_bytes=b"\x00user\x00pw"),
    request(sasl_authenticate.API, kp_sasl.SaslAuthenticateRequest, 2, auth_bytes=b"token"),
    response(sasl_authenticate.API, kp_sasl.SaslAuthenticateResponse, 0, error_code=58,
             error_message="bad password", auth_bytes=b""),
    response(sasl_authenticate.API, kp_sasl.SaslAuthenticateResponse, 2, error_code=0,
             error_message=None, auth_bytes=b"final", session_lifetime_ms=3600000),
    # DeleteGroups and OffsetDelete.
    request(delete_groups.API, kp_admin_groups.DeleteGroupsRequest, 0, groups_names=["a", "b"]),
    request(delete_groups.API, kp_admin_groups.DeleteGroupsRequest, 2, groups_names=["a"]),
    response(delete_groups.API, kp_admin_groups.DeleteGroupsResponse, 2, throttle_time_ms=0,
             results=[{"group_id": "a", "error_code": 68}]),
    request(offset_delete.API, kp_group.OffsetDeleteRequest, 0, group_id="g",
            topics=[{"name": "t", "partitions": [{"partition_index": 0}]}]),
    response(offset_delete.API, kp_group.OffsetDeleteResponse, 0, error_code=0,
             throttle_time_ms=0, topics=[{"name": "t", "partitions": [
                 {"partition_index": 0, "error_code": 86}]}]),
    # Transactions.
    request(add_partitions_to_txn.API, kp_transaction.AddPartitionsToTxnRequest, 0,
            ADD_PARTITIONS_REQUEST_RENAMES, transactional_id="tx", producer_id=1000,
            producer_epoch=2, topics=[{"name": "t", "partitions": [0, 1]}]),
    request(add_partitions_to_txn.API, kp_transaction.AddPartitionsToTxnRequest, 3,
            ADD_PARTITIONS_REQUEST_RENAMES, transactional_id="tx", producer_id=1000,
            producer_epoch=2, topics=[{"name": "t", "partitions": [7]}]),
    response(add_partitions_to_txn.API, kp_transaction.AddPartitionsToTxnResponse, 3,
             ADD_PARTITIONS_RESPONSE_RENAMES, throttle_time_ms=0, results=[
                 {"name": "t", "results": [{"partition_index": 7, "error_code": 0}]}]),
    request(add_offsets_to_txn.API, kp_transaction.AddOffsetsToTxnRequest, 0,
            transactional_id="tx", producer_id=1, producer_epoch=0, group_id="g"),
    request(add_offsets_to_txn.API, kp_transaction.AddOffsetsToTxnRequest, 3,
            transactional_id="tx", producer_id=1, producer_epoch=0, group_id="g"),
    response(add_offsets_to_txn.API, kp_transaction.AddOffsetsToTxnResponse, 3,
             throttle_time_ms=0, error_code=0),
    request(end_txn.API, kp_transaction.EndTxnRequest, 1, transactional_id="tx",
            producer_id=1, producer_epoch=0, committed=True),
    request(end_txn.API, kp_transaction.EndTxnRequest, 3, transactional_id="tx",
            producer_id=1, producer_epoch=0, committed=False),
    response(end_txn.API, kp_transaction.EndTxnResponse, 3, throttle_time_ms=0, error_code=48),
    request(txn_offset_commit.API, kp_transaction.TxnOffsetCommitRequest, 0,
            transactional_id="tx", group_id="g", producer_id=1, producer_epoch=0,
            topics=[{"name": "t", "partitions": [
                {"partition_index": 0, "committed_offset": 5, "committed_metadata": None}]}]),
    request(txn_offset_commit.API, kp_transaction.TxnOffsetCommitRequest, 3,
            transactional_id="tx", group_id="g", producer_id=1, producer_epoch=0,
            generation_id=4, member_id="m", group_instance_id=None,
            topics=[{"name": "t", "partitions": [
                {"partition_index": 0, "committed_offset": 5, "committed_leader_epoch": 2,
                 "committed_metadata": ""}]}]),
    response(txn_offset_commit.API, kp_transaction.TxnOffsetCommitResponse, 3,
             throttle_time_ms=0, topics=[{"name": "t", "partitions": [
                 {"partition_index": 0, "error_code": 0}]}]),
]  # fmt: skip


# ---------------------------------------------------------------- conversions


def _build_ours(message_class: type[Message], top: type[Message], values: dict[str, Any]) -> Any:
    fields = {field.name: field for field in message_class.STRUCT.fields}
    arguments: dict[str, Any] = {}
    for name, value in values.items():
        field_type = fields[name].type
        if isinstance(field_type, Array) and isinstance(field_type.element, Struct):
            element_class = getattr(top, field_type.element.name)
            arguments[name] = (
                None if value is None else [_build_ours(element_class, top, item) for item in value]
            )
        elif isinstance(field_type, Struct):
            arguments[name] = _build_ours(getattr(top, field_type.name), top, value)
        else:
            arguments[name] = value
    return message_class(**arguments)


def _plain_ours(message: Any, version: int) -> dict[str, Any]:
    """The fields of `message` that exist in `version`, as nested dicts."""
    plain: dict[str, Any] = {}
    for field in message.STRUCT.fields:
        if not field.is_present(version):
            continue
        value = getattr(message, field.name)
        if isinstance(value, list):
            value = [
                _plain_ours(item, version) if isinstance(item, Message) else item for item in value
            ]
        elif isinstance(value, Message):
            value = _plain_ours(value, version)
        elif isinstance(value, memoryview):
            value = bytes(value)
        plain[field.name] = value
    return plain


def _rename(values: dict[str, Any], renames: dict[str, str], prefix: str = "") -> dict[str, Any]:
    renamed: dict[str, Any] = {}
    for name, value in values.items():
        path = f"{prefix}{name}"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = [_rename(item, renames, f"{path}.") for item in value]
        renamed[renames.get(path, name)] = value
    return renamed


def _build_kafka_python(container_class: Any, values: dict[str, Any], version: int) -> Any:
    fields = container_class._struct.fields
    arguments: dict[str, Any] = {}
    for name, value in values.items():
        field = fields[name]
        if field.is_struct_array() and value is not None:
            value = [_build_kafka_python(field.data_class, item, version) for item in value]
        arguments[name] = value
    return container_class(version=version, **arguments)


def _kafka_python_message(case: Case) -> Any:
    message = _build_kafka_python(case.kafka_python_class, case.kafka_python_values(), case.version)
    if case.response:
        message.with_header(correlation_id=CORRELATION_ID)
    else:
        message.with_header(correlation_id=CORRELATION_ID, client_id=CLIENT_ID)
    return message


def _our_message(case: Case) -> Any:
    top = case.api.response_type if case.response else case.api.request_type
    return _build_ours(top, top, case.values)


def _encode_ours(case: Case, message: Any) -> bytes:
    if case.response:
        return codec.encode_response(case.api.key, case.version, CORRELATION_ID, message)
    header = codec.RequestHeader(case.api.key, case.version, CORRELATION_ID, CLIENT_ID)
    return codec.encode_request(header, message)


def _decode_ours(case: Case, frame: bytes) -> Any:
    if case.response:
        correlation_id, body = codec.decode_response(case.api.key, case.version, frame)
        assert correlation_id == CORRELATION_ID
        return body
    header, body_offset = codec.decode_request_header(frame)
    assert header == codec.RequestHeader(case.api.key, case.version, CORRELATION_ID, CLIENT_ID)
    return codec.decode_request(header, frame, body_offset)


# ---------------------------------------------------------------- message interop


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.test_id)
def test_our_frame_equals_kafka_pythons(case: Case) -> None:
    ours = _encode_ours(case, _our_message(case))
    theirs = bytes(_kafka_python_message(case).encode(header=True))
    assert ours == theirs


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.test_id)
def test_we_decode_kafka_pythons_frame(case: Case) -> None:
    frame = bytes(_kafka_python_message(case).encode(header=True))
    decoded = _decode_ours(case, frame)
    assert _plain_ours(decoded, case.version) == case.values
    assert decoded == _our_message(case)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.test_id)
def test_kafka_python_decodes_our_frame(case: Case) -> None:
    frame = _encode_ours(case, _our_message(case))
    decoded = case.kafka_python_class.decode(frame, version=case.version, header=True)
    assert decoded.header.correlation_id == CORRELATION_ID
    assert decoded.to_dict(json=False) == case.kafka_python_values()


def test_every_api_of_this_module_has_a_flexible_case_where_it_has_flexible_versions() -> None:
    for api in {case.api for case in CASES}:
        versions = {case.version for case in CASES if case.api is api}
        if not api.flexible_versions.is_empty:
            assert any(api.is_flexible(version) for version in versions), api.name
        assert len(versions) >= 2 or api.min_version == api.max_version, api.name


# Hand-written kafka-python structs: an encoder that owes nothing to Kafka's JSON files.
OLD_STRUCT_CASES = [
    (join_group.API, kp_old_group.JoinGroupRequest_v0(
        group="g", session_timeout=30000, member_id="", protocol_type="consumer",
        group_protocols=[("range", b"meta")]),
     {"group_id": "g", "session_timeout_ms": 30000, "member_id": "", "protocol_type": "consumer",
      "protocols": [{"name": "range", "metadata": b"meta"}]}),
    (join_group.API, kp_old_group.JoinGroupRequest_v5(
        group="g", session_timeout=30000, rebalance_timeout=60000, member_id="m",
        group_instance_id="i", protocol_type="consumer", group_protocols=[("range", b"")]),
     {"group_id": "g", "session_timeout_ms": 30000, "rebalance_timeout_ms": 60000,
      "member_id": "m", "group_instance_id": "i", "protocol_type": "consumer",
      "protocols": [{"name": "range", "metadata": b""}]}),
    (sync_group.API, kp_old_group.SyncGroupRequest_v3(
        group="g", generation_id=2, member_id="m", group_instance_id=None,
        group_assignment=[("m", b"assignment")]),
     {"group_id": "g", "generation_id": 2, "member_id": "m", "group_instance_id": None,
      "assignments": [{"member_id": "m", "assignment": b"assignment"}]}),
    (offset_commit.API, kp_old_commit.OffsetCommitRequest_v2(
        consumer_group="g", consumer_group_generation_id=3, consumer_id="m",
        retention_time=-1, topics=[("t", [(0, 100, "md")])]),
     {"group_id": "g", "generation_id": 3, "member_id": "m", "retention_time_ms": -1,
      "topics": [{"name": "t", "partitions": [
          {"partition_index": 0, "committed_offset": 100, "committed_metadata": "md"}]}]}),
    (offset_fetch.API, kp_old_commit.OffsetFetchRequest_v2(consumer_group="g", topics=None),
     {"group_id": "g", "topics": None}),
    (leave_group.API, kp_old_group.LeaveGroupRequest_v3(
        group="g", members=[("m", None), ("", "i")]),
     {"group_id": "g", "members": [{"member_id": "m", "group_instance_id": None},
                                   {"member_id": "", "group_instance_id": "i"}]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("api", "old_struct", "values"),
    OLD_STRUCT_CASES,
    ids=[f"{case[1].__class__.__name__}" for case in OLD_STRUCT_CASES],
)
def test_body_equals_kafka_python_hand_written_struct(
    api: Api, old_struct: Any, values: dict[str, Any]
) -> None:
    version = old_struct.API_VERSION
    body = old_struct.encode()
    header = codec.RequestHeader(api.key, version, CORRELATION_ID, None)
    frame = codec.encode_request(header, _build_ours(api.request_type, api.request_type, values))
    # A non-flexible request header with a null client id is 10 bytes.
    assert frame[10:] == body
    decoded = codec.decode_request(header, frame, 10)
    assert _plain_ours(decoded, version) == values


# ---------------------------------------------------------------- declaration details


def test_join_group_v0_has_no_rebalance_timeout() -> None:
    request_v0 = join_group.JoinGroupRequest(
        group_id="g", session_timeout_ms=1, member_id="", protocol_type="consumer", protocols=[]
    )
    assert request_v0.rebalance_timeout_ms == -1
    header = codec.RequestHeader(join_group.API.key, 0, 1, None)
    # group_id, session timeout, member_id, protocol_type, protocols: nothing else.
    assert codec.encode_request(header, request_v0)[10:] == (
        b"\x00\x01g" + b"\x00\x00\x00\x01" + b"\x00\x00" + b"\x00\x08consumer" + b"\x00\x00\x00\x00"
    )


def test_join_group_response_null_protocol_name_needs_v7() -> None:
    body = join_group.JoinGroupResponse(protocol_name=None)
    codec.encode_response(join_group.API.key, 7, 1, body)
    with pytest.raises(EncodeError):
        codec.encode_response(join_group.API.key, 6, 1, body)


def test_defaults_follow_kafka() -> None:
    assert join_group.JoinGroupResponse().protocol_name == ""
    assert join_group.JoinGroupResponse().generation_id == -1
    assert offset_commit.OffsetCommitRequest().retention_time_ms == -1
    assert (
        offset_commit.OffsetCommitRequest.OffsetCommitRequestPartition().committed_leader_epoch
        == -1
    )
    # An empty topic list, not null: null would mean "every partition".
    assert offset_fetch.OffsetFetchRequest().topics == []
    assert offset_fetch.OffsetFetchRequest.OffsetFetchRequestGroup().topics == []
    assert describe_groups.DescribeGroupsResponse.DescribedGroup().authorized_operations == -(2**31)
    assert txn_offset_commit.TxnOffsetCommitRequest().generation_id == -1


def test_retention_time_is_dropped_after_v4_and_static_membership_needs_v7() -> None:
    body = offset_commit.OffsetCommitRequest(group_id="g", retention_time_ms=1000)
    frame_v4 = codec.encode_request(codec.RequestHeader(8, 4, 1, None), body)
    frame_v5 = codec.encode_request(codec.RequestHeader(8, 5, 1, None), body)
    assert len(frame_v4) == len(frame_v5) + 8
    with_instance = offset_commit.OffsetCommitRequest(group_id="g", group_instance_id="i")
    with pytest.raises(UnsupportedVersionError):
        codec.encode_request(codec.RequestHeader(8, 6, 1, None), with_instance)


@pytest.mark.parametrize(
    ("api", "lowest", "highest", "first_flexible"),
    [
        (offset_commit.API, 2, 8, 8),
        (offset_fetch.API, 1, 8, 6),
        (find_coordinator.API, 0, 4, 3),
        (join_group.API, 0, 7, 6),
        (heartbeat.API, 0, 4, 4),
        (leave_group.API, 0, 5, 4),
        (sync_group.API, 0, 5, 4),
        (describe_groups.API, 0, 5, 5),
        (list_groups.API, 0, 4, 3),
        (sasl_handshake.API, 0, 1, None),
        (sasl_authenticate.API, 0, 2, 2),
        (delete_groups.API, 0, 2, 2),
        (offset_delete.API, 0, 0, None),
        (add_partitions_to_txn.API, 0, 3, 3),
        (add_offsets_to_txn.API, 0, 3, 3),
        (end_txn.API, 0, 3, 3),
        (txn_offset_commit.API, 0, 3, 3),
    ],
    ids=lambda value: value.name if isinstance(value, Api) else str(value),
)
def test_advertised_versions(
    api: Api, lowest: int, highest: int, first_flexible: int | None
) -> None:
    assert (api.min_version, api.max_version) == (lowest, highest)
    flexible = [version for version in range(lowest, highest + 1) if api.is_flexible(version)]
    expected = [] if first_flexible is None else list(range(first_flexible, highest + 1))
    assert flexible == expected


# ---------------------------------------------------------------- consumer protocol payloads

topic_names = st.text(max_size=20)
partition_lists = st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5)
topic_partitions = st.builds(TopicPartitions, topic=topic_names, partitions=partition_lists)
nullable_bytes = st.none() | st.binary(max_size=40)

subscriptions = st.builds(
    Subscription,
    topics=st.lists(topic_names, max_size=5),
    user_data=nullable_bytes,
    owned_partitions=st.lists(topic_partitions, max_size=4),
    generation_id=st.integers(-(2**31), 2**31 - 1),
    rack_id=st.none() | st.text(max_size=10),
    version=st.integers(0, group_protocol.LATEST_VERSION),
)
assignments = st.builds(
    Assignment,
    assigned_partitions=st.lists(topic_partitions, max_size=4),
    user_data=nullable_bytes,
    version=st.integers(0, group_protocol.LATEST_VERSION),
)


def _as_written(subscription: Subscription) -> Subscription:
    """What survives encoding at the subscription's version: later fields take defaults."""
    version = subscription.version
    return attrs.evolve(
        subscription,
        owned_partitions=subscription.owned_partitions if version >= 1 else (),
        generation_id=subscription.generation_id if version >= 2 else -1,
        rack_id=subscription.rack_id if version >= 3 else None,
    )


def _kafka_python_subscription(subscription: Subscription) -> Any:
    return kp_consumer_metadata.ConsumerProtocolSubscription(
        version=subscription.version,
        topics=list(subscription.topics),
        user_data=subscription.user_data,
        owned_partitions=[
            kp_consumer_metadata.ConsumerProtocolSubscription.TopicPartition(
                version=subscription.version, topic=entry.topic, partitions=list(entry.partitions)
            )
            for entry in subscription.owned_partitions
        ],
        generation_id=subscription.generation_id,
        rack_id=subscription.rack_id,
    )


@settings(max_examples=200, deadline=None)
@given(subscriptions)
def test_subscription_round_trip(subscription: Subscription) -> None:
    payload = group_protocol.encode_subscription(subscription)
    assert group_protocol.decode_subscription(payload) == _as_written(subscription)


@settings(max_examples=200, deadline=None)
@given(assignments)
def test_assignment_round_trip(assignment: Assignment) -> None:
    payload = group_protocol.encode_assignment(assignment)
    assert group_protocol.decode_assignment(payload) == assignment


@settings(max_examples=100, deadline=None)
@given(subscriptions)
def test_subscription_matches_kafka_python(subscription: Subscription) -> None:
    theirs = _kafka_python_subscription(_as_written(subscription))
    payload = group_protocol.encode_subscription(subscription)
    assert payload == bytes(theirs.encode(version=subscription.version))
    decoded = kp_consumer_metadata.ConsumerProtocolSubscription.decode(payload)
    assert decoded.to_dict(json=False) == theirs.to_dict(json=False)


@settings(max_examples=100, deadline=None)
@given(assignments)
def test_assignment_matches_kafka_python(assignment: Assignment) -> None:
    theirs = kp_consumer_metadata.ConsumerProtocolAssignment(
        version=assignment.version,
        assigned_partitions=[
            kp_consumer_metadata.ConsumerProtocolAssignment.TopicPartition(
                version=assignment.version, topic=entry.topic, partitions=list(entry.partitions)
            )
            for entry in assignment.assigned_partitions
        ],
        user_data=assignment.user_data,
    )
    payload = bytes(theirs.encode(version=assignment.version))
    assert group_protocol.encode_assignment(assignment) == payload
    assert group_protocol.decode_assignment(payload) == assignment


def test_kafka_python_hand_written_v0_structs() -> None:
    subscription = ConsumerProtocolMemberMetadata_v0(0, ["a", "b"], b"ud").encode()
    assert group_protocol.decode_subscription(subscription) == Subscription(
        topics=("a", "b"), user_data=b"ud", version=0
    )
    assignment = Assignment(
        assigned_partitions=[TopicPartitions("a", [0, 2]), TopicPartitions("b", [1])],
        user_data=None,
        version=0,
    )
    theirs = ConsumerProtocolMemberAssignment_v0(0, [("a", [0, 2]), ("b", [1])], None).encode()
    assert group_protocol.encode_assignment(assignment) == theirs


@settings(max_examples=100, deadline=None)
@given(
    subscriptions.filter(lambda subscription: subscription.version == 3),
    st.integers(4, 2**15 - 1),
    st.binary(max_size=20),
)
def test_newer_subscription_versions_read_the_known_fields(
    subscription: Subscription, newer_version: int, unknown_tail: bytes
) -> None:
    payload = group_protocol.encode_subscription(subscription)
    newer = struct.pack(">h", newer_version) + payload[2:] + unknown_tail
    assert group_protocol.decode_subscription(newer) == attrs.evolve(
        subscription, version=newer_version
    )


def test_newer_assignment_version_reads_the_known_fields() -> None:
    assignment = Assignment(assigned_partitions=[TopicPartitions("t", [3])], user_data=b"u")
    newer = b"\x00\x07" + group_protocol.encode_assignment(assignment)[2:] + b"future fields"
    decoded = group_protocol.decode_assignment(newer)
    assert decoded == attrs.evolve(assignment, version=7)
    with pytest.raises(EncodeError):
        group_protocol.encode_assignment(decoded)


@pytest.mark.parametrize(
    ("decode", "payload"),
    [
        (group_protocol.decode_subscription, b""),
        (group_protocol.decode_subscription, b"\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff"),
        # One topic promised, none present.
        (group_protocol.decode_subscription, b"\x00\x00\x00\x00\x00\x01"),
        # A null topic name.
        (group_protocol.decode_subscription, b"\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff"),
        # A null topic list.
        (group_protocol.decode_subscription, b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"),
        # A forged count that would loop two billion times.
        (group_protocol.decode_subscription, b"\x00\x00\x7f\xff\xff\xff"),
        # v1 without its owned partitions.
        (group_protocol.decode_subscription, b"\x00\x01\x00\x00\x00\x00\xff\xff\xff\xff"),
        # A topic name that is not UTF-8.
        (
            group_protocol.decode_subscription,
            b"\x00\x00\x00\x00\x00\x01\x00\x01\xff\xff\xff\xff\xff",
        ),
        (group_protocol.decode_assignment, b""),
        (group_protocol.decode_assignment, b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x02"),
        (group_protocol.decode_assignment, b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05ab"),
    ],
)
def test_malformed_payloads_are_rejected(decode: Callable[[bytes], object], payload: bytes) -> None:
    with pytest.raises(InvalidConsumerProtocolPayload) as raised:
        decode(payload)
    assert isinstance(raised.value, DecodeError)


@pytest.mark.parametrize("version", [-1, 4])
def test_unknown_versions_cannot_be_written(version: int) -> None:
    with pytest.raises(EncodeError, match="version"):
        group_protocol.encode_subscription(Subscription(topics=["t"], version=version))


def test_out_of_range_values_are_encode_errors() -> None:
    with pytest.raises(EncodeError):
        group_protocol.encode_assignment(
            Assignment(assigned_partitions=[TopicPartitions("t", [2**31])])
        )
    with pytest.raises(EncodeError):
        group_protocol.encode_subscription(Subscription(topics=["x" * 40000]))
