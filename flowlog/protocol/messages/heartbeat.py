"""Heartbeat (key 12): a group member's keep-alive; the reply's error code carries
"rebalance in progress" (27) and fencing errors.

v1 adds throttle_time_ms, v3 static membership (group_instance_id), v4 is flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, STRING, Api, Field, Struct

API = Api(
    key=12,
    name="Heartbeat",
    valid_versions="0-4",
    flexible_versions="4+",
    request=Struct(
        "HeartbeatRequest",
        [
            Field("group_id", STRING),
            Field("generation_id", INT32),
            Field("member_id", STRING),
            Field("group_instance_id", STRING, versions="3+", nullable="3+", default=None),
        ],
    ),
    response=Struct(
        "HeartbeatResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("error_code", INT16),
        ],
    ),
)
HeartbeatRequest = API.request_type
HeartbeatResponse = API.response_type
