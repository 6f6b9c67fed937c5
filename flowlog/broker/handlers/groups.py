"""Group membership: JoinGroup (11) v0-7, SyncGroup (14) v0-5, Heartbeat (12) v0-4,
LeaveGroup (13) v0-5.

The handlers map wire fields to group_types values and back; the coordinator
decides. JoinGroup and SyncGroup may park until the rebalance completes; the
connection waits with them, as Kafka's muted channel does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.broker.group_types import (
    JoinRequest,
    MemberIdentity,
    Protocol,
    SyncRequest,
)
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.heartbeat import HeartbeatResponse
from flowlog.protocol.messages.join_group import JoinGroupResponse
from flowlog.protocol.messages.leave_group import LeaveGroupResponse
from flowlog.protocol.messages.sync_group import SyncGroupResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

# Versions where a field appears (see the message declarations).
JOIN_STATIC_MEMBERSHIP_VERSION = 5
JOIN_NULLABLE_PROTOCOL_NAME_VERSION = 7
SYNC_STATIC_MEMBERSHIP_VERSION = 3
SYNC_PROTOCOL_CHECK_VERSION = 5
HEARTBEAT_STATIC_MEMBERSHIP_VERSION = 3
LEAVE_BATCH_VERSION = 3


def client_host(context: RequestContext) -> str:
    """The peer's address as Kafka shows it in DescribeGroups ("/127.0.0.1")."""
    return "/" + context.peer.rsplit(":", 1)[0].strip("[]")


async def handle_join_group(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    joined = JoinRequest(
        member_id=request.member_id,
        group_instance_id=(
            request.group_instance_id if version >= JOIN_STATIC_MEMBERSHIP_VERSION else None
        ),
        client_id=context.header.client_id or "",
        client_host=client_host(context),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=request.rebalance_timeout_ms,
        protocol_type=request.protocol_type,
        protocols=tuple(Protocol(p.name, bytes(p.metadata)) for p in request.protocols),
        api_version=version,
    )
    response = await broker.coordinator.join(request.group_id, joined)
    protocol_name = response.protocol_name
    if protocol_name is None and version < JOIN_NULLABLE_PROTOCOL_NAME_VERSION:
        protocol_name = ""
    return JoinGroupResponse(
        throttle_time_ms=0,
        error_code=response.error_code,
        generation_id=response.generation_id,
        protocol_type=response.protocol_type,
        protocol_name=protocol_name,
        leader=response.leader,
        member_id=response.member_id,
        members=[
            JoinGroupResponse.JoinGroupResponseMember(
                member_id=member.member_id,
                group_instance_id=member.group_instance_id,
                metadata=member.metadata,
            )
            for member in response.members
        ],
    )


async def handle_sync_group(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    checks_protocol = version >= SYNC_PROTOCOL_CHECK_VERSION
    synced = SyncRequest(
        member_id=request.member_id,
        generation_id=request.generation_id,
        group_instance_id=(
            request.group_instance_id if version >= SYNC_STATIC_MEMBERSHIP_VERSION else None
        ),
        protocol_type=request.protocol_type if checks_protocol else None,
        protocol_name=request.protocol_name if checks_protocol else None,
        assignments=tuple((a.member_id, bytes(a.assignment)) for a in request.assignments),
    )
    response = await broker.coordinator.sync(request.group_id, synced)
    return SyncGroupResponse(
        throttle_time_ms=0,
        error_code=response.error_code,
        protocol_type=response.protocol_type,
        protocol_name=response.protocol_name,
        assignment=response.assignment,
    )


async def handle_heartbeat(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    error = broker.coordinator.heartbeat(
        request.group_id,
        request.member_id,
        request.generation_id,
        request.group_instance_id if version >= HEARTBEAT_STATIC_MEMBERSHIP_VERSION else None,
    )
    return HeartbeatResponse(throttle_time_ms=0, error_code=error)


async def handle_leave_group(broker: Broker, context: RequestContext, request: Any) -> object:
    version = context.header.api_version
    if version < LEAVE_BATCH_VERSION:
        identities = [MemberIdentity(request.member_id)]
    else:
        identities = [MemberIdentity(m.member_id, m.group_instance_id) for m in request.members]
    error, member_errors = await broker.coordinator.leave(request.group_id, identities)
    if version < LEAVE_BATCH_VERSION:
        # One member: its error is the answer.
        if error == ErrorCode.NONE and member_errors:
            error = member_errors[0]
        return LeaveGroupResponse(throttle_time_ms=0, error_code=error)
    return LeaveGroupResponse(
        throttle_time_ms=0,
        error_code=error,
        members=[
            LeaveGroupResponse.MemberResponse(
                member_id=identity.member_id,
                group_instance_id=identity.group_instance_id,
                error_code=member_error,
            )
            for identity, member_error in zip(identities, member_errors, strict=False)
        ],
    )
