"""SyncGroup (key 14): after JoinGroup the leader sends every member's assignment;
each member (leader included) gets its own back.

v1 adds throttle_time_ms, v3 static membership, v4 is flexible, v5 (KIP-559) sends
protocol_type and protocol_name both ways so either side can check them.
"""

from __future__ import annotations

from flowlog.protocol.schema import BYTES, INT16, INT32, STRING, Api, Array, Field, Struct

_ASSIGNMENT = Struct(
    "SyncGroupRequestAssignment",
    [
        Field("member_id", STRING),
        # Opaque to the broker; for "consumer" groups see flowlog.protocol.group_protocol.
        Field("assignment", BYTES),
    ],
)

API = Api(
    key=14,
    name="SyncGroup",
    valid_versions="0-5",
    flexible_versions="4+",
    request=Struct(
        "SyncGroupRequest",
        [
            Field("group_id", STRING),
            Field("generation_id", INT32),
            Field("member_id", STRING),
            Field("group_instance_id", STRING, versions="3+", nullable="3+", default=None),
            Field(
                "protocol_type", STRING, versions="5+", nullable="5+", default=None, ignorable=True
            ),
            Field(
                "protocol_name", STRING, versions="5+", nullable="5+", default=None, ignorable=True
            ),
            Field("assignments", Array(_ASSIGNMENT)),
        ],
    ),
    response=Struct(
        "SyncGroupResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("error_code", INT16),
            Field(
                "protocol_type", STRING, versions="5+", nullable="5+", default=None, ignorable=True
            ),
            Field(
                "protocol_name", STRING, versions="5+", nullable="5+", default=None, ignorable=True
            ),
            Field("assignment", BYTES),
        ],
    ),
)
SyncGroupRequest = API.request_type
SyncGroupResponse = API.response_type
