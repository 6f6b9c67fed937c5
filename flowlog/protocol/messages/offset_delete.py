"""OffsetDelete (key 47): delete committed offsets of partitions a group no longer
subscribes to (KIP-496). Only v0; never flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, STRING, Api, Array, Field, Struct

_REQUEST_TOPIC = Struct(
    "OffsetDeleteRequestTopic",
    [
        Field("name", STRING),
        Field(
            "partitions",
            Array(Struct("OffsetDeleteRequestPartition", [Field("partition_index", INT32)])),
        ),
    ],
)

_RESPONSE_PARTITION = Struct(
    "OffsetDeleteResponsePartition",
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
)

_RESPONSE_TOPIC = Struct(
    "OffsetDeleteResponseTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(_RESPONSE_PARTITION)),
    ],
)

API = Api(
    key=47,
    name="OffsetDelete",
    valid_versions="0",
    flexible_versions="none",
    request=Struct(
        "OffsetDeleteRequest",
        [
            Field("group_id", STRING),
            Field("topics", Array(_REQUEST_TOPIC)),
        ],
    ),
    response=Struct(
        "OffsetDeleteResponse",
        [
            # Unusually, the top-level error code comes before the throttle time.
            Field("error_code", INT16),
            Field("throttle_time_ms", INT32, ignorable=True),
            Field("topics", Array(_RESPONSE_TOPIC)),
        ],
    ),
)
OffsetDeleteRequest = API.request_type
OffsetDeleteResponse = API.response_type
