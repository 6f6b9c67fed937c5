"""DeleteGroups (key 42): delete empty consumer groups and their committed offsets.

v1 is identical to v0 (it only changed throttling behaviour); v2 is flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, STRING, Api, Array, Field, Struct

_RESULT = Struct(
    "DeletableGroupResult",
    [
        Field("group_id", STRING),
        Field("error_code", INT16),
    ],
)

API = Api(
    key=42,
    name="DeleteGroups",
    valid_versions="0-2",
    flexible_versions="2+",
    request=Struct(
        "DeleteGroupsRequest",
        [
            # Kafka's own spelling ("GroupsNames"), kept so the name maps back to the schema.
            Field("groups_names", Array(STRING)),
        ],
    ),
    response=Struct(
        "DeleteGroupsResponse",
        [
            Field("throttle_time_ms", INT32),
            Field("results", Array(_RESULT)),
        ],
    ),
)
DeleteGroupsRequest = API.request_type
DeleteGroupsResponse = API.response_type
