"""Finding and administering groups: FindCoordinator (10) v0-4, ListGroups (16) v0-4,
DescribeGroups (15) v0-5, DeleteGroups (42) v0-2.

A group's coordinator is the leader of its __consumer_offsets partition, read from
the committed metadata (so every broker gives the same answer); the topic is created
on the first lookup if missing. No leader: COORDINATOR_NOT_AVAILABLE, which clients
retry. Transaction coordinators (key_type 1) do not exist yet: the same error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.broker.coordinator_log import OffsetsTopicError
from flowlog.broker.group_records import OFFSETS_TOPIC
from flowlog.broker.group_types import GroupState
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.delete_groups import DeleteGroupsResponse
from flowlog.protocol.messages.describe_groups import (
    AUTHORIZED_OPERATIONS_OMITTED,
    DescribeGroupsResponse,
)
from flowlog.protocol.messages.find_coordinator import FindCoordinatorResponse
from flowlog.protocol.messages.list_groups import ListGroupsResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1
FIND_COORDINATOR_BATCH_VERSION = 4
# Kafka's AclOperation codes a group supports: READ (3), DELETE (6), DESCRIBE (8).
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)


async def _coordinator_of(
    broker: Broker, key_type: int, key: str
) -> tuple[ErrorCode, int, str, int]:
    """(error, node id, host, port) of the coordinator for a key of this type."""
    if key_type == GROUP_KEY_TYPE:
        offsets_log = broker.coordinator.offsets_log
        try:
            await offsets_log.ensure_topic()
        except OffsetsTopicError:
            # No controller right now, or too few brokers: clients retry this error.
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
        info = broker.metadata.partition_info(OFFSETS_TOPIC, offsets_log.partition_of(key))
        leader = None if info is None else broker.metadata.state.broker(info.leader)
        if leader is None or leader.fenced:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
        return ErrorCode.NONE, leader.node_id, leader.host, leader.port
    error = (
        ErrorCode.COORDINATOR_NOT_AVAILABLE
        if key_type == TRANSACTION_KEY_TYPE
        else ErrorCode.INVALID_REQUEST
    )
    return error, -1, "", -1


async def handle_find_coordinator(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    if context.header.api_version < FIND_COORDINATOR_BATCH_VERSION:
        error, node_id, host, port = await _coordinator_of(
            broker, request.key_type, request.key
        )
        return FindCoordinatorResponse(
            throttle_time_ms=0, error_code=error, error_message=None,
            node_id=node_id, host=host, port=port,
        )
    coordinators = []
    for key in request.coordinator_keys:
        error, node_id, host, port = await _coordinator_of(broker, request.key_type, key)
        coordinators.append(FindCoordinatorResponse.Coordinator(
            key=key, node_id=node_id, host=host, port=port, error_code=error, error_message=None,
        ))
    return FindCoordinatorResponse(throttle_time_ms=0, coordinators=coordinators)


async def handle_list_groups(broker: Broker, context: RequestContext, request: Any) -> object:
    states = None
    if request.states_filter:
        # Unknown state names match nothing, as in Kafka.
        known = {state.value.lower(): state for state in GroupState}
        states = {known[name.lower()] for name in request.states_filter if name.lower() in known}
    error, listings = broker.coordinator.list_groups(states)
    return ListGroupsResponse(
        throttle_time_ms=0,
        error_code=error,
        groups=[
            ListGroupsResponse.ListedGroup(
                group_id=listing.group_id,
                protocol_type=listing.protocol_type,
                group_state=listing.state.value,
            )
            for listing in listings
        ],
    )


async def handle_describe_groups(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    operations = (
        GROUP_AUTHORIZED_OPERATIONS
        if request.include_authorized_operations
        else AUTHORIZED_OPERATIONS_OMITTED
    )
    groups = []
    for group_id in request.groups:
        description = broker.coordinator.describe(group_id)
        groups.append(DescribeGroupsResponse.DescribedGroup(
            error_code=description.error_code,
            group_id=description.group_id,
            group_state=description.state,
            protocol_type=description.protocol_type,
            protocol_data=description.protocol_name,
            members=[
                DescribeGroupsResponse.DescribedGroupMember(
                    member_id=member.member_id,
                    group_instance_id=member.group_instance_id,
                    client_id=member.client_id,
                    client_host=member.client_host,
                    member_metadata=member.metadata,
                    member_assignment=member.assignment,
                )
                for member in description.members
            ],
            authorized_operations=operations,
        ))
    return DescribeGroupsResponse(throttle_time_ms=0, groups=groups)


async def handle_delete_groups(broker: Broker, context: RequestContext, request: Any) -> object:
    group_ids = list(dict.fromkeys(request.groups_names))
    errors = await broker.coordinator.delete_groups(group_ids)
    return DeleteGroupsResponse(
        throttle_time_ms=0,
        results=[
            DeleteGroupsResponse.DeletableGroupResult(group_id=group_id, error_code=error)
            for group_id, error in zip(group_ids, errors, strict=True)
        ],
    )
