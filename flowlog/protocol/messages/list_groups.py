"""ListGroups (key 16): every group the broker coordinates.

v1 adds throttle_time_ms, v3 is flexible, v4 (KIP-518) filters by state and reports
each group's state. types_filter (v5) is above our range.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, STRING, Api, Array, Field, Struct

_LISTED_GROUP = Struct(
    "ListedGroup",
    [
        Field("group_id", STRING),
        Field("protocol_type", STRING),
        Field("group_state", STRING, versions="4+", ignorable=True),
    ],
)

API = Api(
    key=16,
    name="ListGroups",
    valid_versions="0-4",
    flexible_versions="3+",
    request=Struct(
        "ListGroupsRequest",
        [
            # Empty means "every state".
            Field("states_filter", Array(STRING), versions="4+"),
        ],
    ),
    response=Struct(
        "ListGroupsResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("error_code", INT16),
            Field("groups", Array(_LISTED_GROUP)),
        ],
    ),
)
ListGroupsRequest = API.request_type
ListGroupsResponse = API.response_type
