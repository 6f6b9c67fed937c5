"""JoinGroup (key 11): a member joins (or rejoins) a group and votes for protocols;
the reply names the generation, the chosen protocol and, for the leader only, every
member's metadata.

We serve v0-v7. v0 has no rebalance_timeout_ms (the session timeout stands in),
v2 adds throttle_time_ms, v4 makes a new member rejoin with the id we hand out
(error 79), v5 static membership, v6 is flexible, v7 returns protocol_type and lets
protocol_name be null. reason (v8) and skip_assignment (v9) are above our range.
"""

from __future__ import annotations

from flowlog.protocol.schema import BYTES, INT16, INT32, STRING, Api, Array, Field, Struct

_REQUEST_PROTOCOL = Struct(
    "JoinGroupRequestProtocol",
    [
        Field("name", STRING),
        # Opaque to the broker; for "consumer" groups see flowlog.protocol.group_protocol.
        Field("metadata", BYTES),
    ],
)

_RESPONSE_MEMBER = Struct(
    "JoinGroupResponseMember",
    [
        Field("member_id", STRING),
        Field(
            "group_instance_id", STRING, versions="5+", nullable="5+", default=None, ignorable=True
        ),
        Field("metadata", BYTES),
    ],
)

API = Api(
    key=11,
    name="JoinGroup",
    valid_versions="0-7",
    flexible_versions="6+",
    request=Struct(
        "JoinGroupRequest",
        [
            Field("group_id", STRING),
            Field("session_timeout_ms", INT32),
            Field("rebalance_timeout_ms", INT32, versions="1+", default=-1, ignorable=True),
            Field("member_id", STRING),
            Field("group_instance_id", STRING, versions="5+", nullable="5+", default=None),
            Field("protocol_type", STRING),
            Field("protocols", Array(_REQUEST_PROTOCOL)),
        ],
    ),
    response=Struct(
        "JoinGroupResponse",
        [
            Field("throttle_time_ms", INT32, versions="2+", ignorable=True),
            Field("error_code", INT16),
            Field("generation_id", INT32, default=-1),
            Field(
                "protocol_type", STRING, versions="7+", nullable="7+", default=None, ignorable=True
            ),
            # Non-null before v7, so the default must be "" rather than null.
            Field("protocol_name", STRING, nullable="7+", default=""),
            Field("leader", STRING),
            Field("member_id", STRING),
            Field("members", Array(_RESPONSE_MEMBER)),
        ],
    ),
)
JoinGroupRequest = API.request_type
JoinGroupResponse = API.response_type
