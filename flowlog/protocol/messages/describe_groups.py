"""DescribeGroups (key 15): state, protocol and members of groups (admin tools,
`kafka-consumer-groups --describe`).

v1 adds throttle_time_ms, v3 include_authorized_operations and the reply's
authorized_operations bit field, v4 static membership, v5 is flexible.
error_message (v6) is above our range.
"""

from __future__ import annotations

from flowlog.protocol.schema import (
    BOOL,
    BYTES,
    INT16,
    INT32,
    STRING,
    Api,
    Array,
    Field,
    Struct,
)

# Kafka's "not requested / unknown" value for authorized_operations (Integer.MIN_VALUE).
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

_MEMBER = Struct(
    "DescribedGroupMember",
    [
        Field("member_id", STRING),
        Field(
            "group_instance_id", STRING, versions="4+", nullable="4+", default=None, ignorable=True
        ),
        Field("client_id", STRING),
        Field("client_host", STRING),
        Field("member_metadata", BYTES),
        Field("member_assignment", BYTES),
    ],
)

_GROUP = Struct(
    "DescribedGroup",
    [
        Field("error_code", INT16),
        Field("group_id", STRING),
        Field("group_state", STRING),
        Field("protocol_type", STRING),
        # The chosen protocol's name, despite "data" in the name.
        Field("protocol_data", STRING),
        Field("members", Array(_MEMBER)),
        Field("authorized_operations", INT32, versions="3+", default=AUTHORIZED_OPERATIONS_OMITTED),
    ],
)

API = Api(
    key=15,
    name="DescribeGroups",
    valid_versions="0-5",
    flexible_versions="5+",
    request=Struct(
        "DescribeGroupsRequest",
        [
            Field("groups", Array(STRING)),
            Field("include_authorized_operations", BOOL, versions="3+"),
        ],
    ),
    response=Struct(
        "DescribeGroupsResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("groups", Array(_GROUP)),
        ],
    ),
)
DescribeGroupsRequest = API.request_type
DescribeGroupsResponse = API.response_type
