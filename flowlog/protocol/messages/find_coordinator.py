"""FindCoordinator (key 10): which broker coordinates a group (key_type 0) or a
transactional id (key_type 1).

v1 adds key_type, throttle_time_ms and error_message, v3 is flexible, v4 (KIP-699)
batches keys: coordinator_keys in, one `coordinators` entry per key out, replacing
the single key/node_id/host/port of v0-v3.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT8, INT16, INT32, STRING, Api, Array, Field, Struct

_COORDINATOR = Struct(
    "Coordinator",
    [
        Field("key", STRING, versions="4+"),
        Field("node_id", INT32, versions="4+"),
        Field("host", STRING, versions="4+"),
        Field("port", INT32, versions="4+"),
        Field("error_code", INT16, versions="4+"),
        Field("error_message", STRING, versions="4+", nullable="4+", default="", ignorable=True),
    ],
)

API = Api(
    key=10,
    name="FindCoordinator",
    valid_versions="0-4",
    flexible_versions="3+",
    request=Struct(
        "FindCoordinatorRequest",
        [
            Field("key", STRING, versions="0-3"),
            Field("key_type", INT8, versions="1+", default=0),
            Field("coordinator_keys", Array(STRING), versions="4+"),
        ],
    ),
    response=Struct(
        "FindCoordinatorResponse",
        [
            Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
            Field("error_code", INT16, versions="0-3"),
            # Kafka's default for this nullable string is "", not null.
            Field(
                "error_message", STRING, versions="1-3", nullable="1-3", default="", ignorable=True
            ),
            Field("node_id", INT32, versions="0-3"),
            Field("host", STRING, versions="0-3"),
            Field("port", INT32, versions="0-3"),
            Field("coordinators", Array(_COORDINATOR), versions="4+"),
        ],
    ),
)
FindCoordinatorRequest = API.request_type
FindCoordinatorResponse = API.response_type
