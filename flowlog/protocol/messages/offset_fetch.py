"""OffsetFetch (key 9): read a group's committed offsets.

We serve v1-v8. v1-v7 name one group at top level (group_id, topics); v8 batches
several groups in `groups` instead. A null topic list means "every partition the
group has offsets for" (v2+). v2 adds a top-level error_code, v3 throttle_time_ms,
v5 the leader epoch, v6 is flexible, v7 require_stable (KIP-447).
"""

from __future__ import annotations

from flowlog.protocol.schema import (
    BOOL,
    INT16,
    INT32,
    INT64,
    STRING,
    Api,
    Array,
    Field,
    Struct,
)

# Request, v1-v7: one group.
_REQUEST_TOPIC = Struct(
    "OffsetFetchRequestTopic",
    [
        Field("name", STRING, versions="0-7"),
        Field("partition_indexes", Array(INT32), versions="0-7"),
    ],
)

# Request, v8+: a batch of groups.
_REQUEST_GROUP_TOPIC = Struct(
    "OffsetFetchRequestTopics",
    [
        Field("name", STRING, versions="8+"),
        Field("partition_indexes", Array(INT32), versions="8+"),
    ],
)

_REQUEST_GROUP = Struct(
    "OffsetFetchRequestGroup",
    [
        Field("group_id", STRING, versions="8+"),
        # Kafka defaults to an empty list: null (all partitions) must be asked for.
        Field("topics", Array(_REQUEST_GROUP_TOPIC), versions="8+", nullable="8+", default=[]),
    ],
)

# Response, v1-v7.
_RESPONSE_PARTITION = Struct(
    "OffsetFetchResponsePartition",
    [
        Field("partition_index", INT32, versions="0-7"),
        Field("committed_offset", INT64, versions="0-7"),
        Field("committed_leader_epoch", INT32, versions="5-7", default=-1, ignorable=True),
        Field("metadata", STRING, versions="0-7", nullable="0-7", default=""),
        Field("error_code", INT16, versions="0-7"),
    ],
)

_RESPONSE_TOPIC = Struct(
    "OffsetFetchResponseTopic",
    [
        Field("name", STRING, versions="0-7"),
        Field("partitions", Array(_RESPONSE_PARTITION), versions="0-7"),
    ],
)

# Response, v8+.
_RESPONSE_GROUP_PARTITION = Struct(
    "OffsetFetchResponsePartitions",
    [
        Field("partition_index", INT32, versions="8+"),
        Field("committed_offset", INT64, versions="8+"),
        Field("committed_leader_epoch", INT32, versions="8+", default=-1, ignorable=True),
        Field("metadata", STRING, versions="8+", nullable="8+", default=""),
        Field("error_code", INT16, versions="8+"),
    ],
)

_RESPONSE_GROUP_TOPIC = Struct(
    "OffsetFetchResponseTopics",
    [
        Field("name", STRING, versions="8+"),
        Field("partitions", Array(_RESPONSE_GROUP_PARTITION), versions="8+"),
    ],
)

_RESPONSE_GROUP = Struct(
    "OffsetFetchResponseGroup",
    [
        Field("group_id", STRING, versions="8+"),
        Field("topics", Array(_RESPONSE_GROUP_TOPIC), versions="8+"),
        Field("error_code", INT16, versions="8+", default=0),
    ],
)

API = Api(
    key=9,
    name="OffsetFetch",
    valid_versions="1-8",
    flexible_versions="6+",
    request=Struct(
        "OffsetFetchRequest",
        [
            Field("group_id", STRING, versions="0-7"),
            # Non-null in v1; Kafka's default is an empty list, not null.
            Field("topics", Array(_REQUEST_TOPIC), versions="0-7", nullable="2-7", default=[]),
            Field("groups", Array(_REQUEST_GROUP), versions="8+"),
            Field("require_stable", BOOL, versions="7+", default=False),
        ],
    ),
    response=Struct(
        "OffsetFetchResponse",
        [
            Field("throttle_time_ms", INT32, versions="3+", ignorable=True),
            Field("topics", Array(_RESPONSE_TOPIC), versions="0-7"),
            Field("error_code", INT16, versions="2-7", default=0, ignorable=True),
            Field("groups", Array(_RESPONSE_GROUP), versions="8+"),
        ],
    ),
)
OffsetFetchRequest = API.request_type
OffsetFetchResponse = API.response_type
