"""LeaveGroup (key 13): members leave a group at once instead of timing out.

v0-v2 name one member_id; v3 (KIP-345) batches `members`, each with an optional
group_instance_id, and answers per member. v1 adds throttle_time_ms, v4 is
flexible, v5 adds a free-text reason per member.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, STRING, Api, Array, Field, Struct

_MEMBER_IDENTITY = Struct(
    "MemberIdentity",
    [
        Field("member_id", STRING, versions="3+"),
        Field("group_instance_id", STRING, versions="3+", nullable="3+", default=None),
        Field("reason", STRING, versions="5+", nullable="5+", default=None, ignorable=True),
    ],
)

_MEMBER_RESPONSE = Struct(
    "MemberResponse",
    [
        Field("member_id", STRING, versions="3+"),
        # Kafka's default for this nullable string is "", not null.
        Field("group_instance_id", STRING, versions="3+", nullable="3+", default=""),
        Field("error_code", INT16, versions="3+"),
    ],
)

API = Api(
    key=13,
    name="LeaveGroup",
    valid_versions="0-5",
    flexible_versions="4+",
    request=Struct(
        "LeaveGroupRequest",
        [
            Field("group_id", STRING),
            Field("member_id", STRING, versions="0-2"),
            Field("members", Array(_MEMBER_IDENTITY), versions="3+"),
        ],
    ),
    response=Struct(
        "LeaveGroupResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("error_code", INT16),
            Field("members", Array(_MEMBER_RESPONSE), versions="3+"),
        ],
    ),
)
LeaveGroupRequest = API.request_type
LeaveGroupResponse = API.response_type
