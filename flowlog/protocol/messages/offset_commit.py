"""OffsetCommit (key 8): a group member (or an admin, with generation -1) stores
consumed offsets.

We serve v2-v8. retention_time_ms exists only in v2-v4 (v5 moved retention to the
broker's config); v3 adds throttle_time_ms, v6 the leader epoch, v7 static
membership, v8 is flexible. commit_timestamp (v1 only) is below our range.
Names follow the classic-group schema (generation_id, not KIP-848's
generation_id_or_member_epoch): we only declare the versions from before that rename.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct

_REQUEST_PARTITION = Struct(
    "OffsetCommitRequestPartition",
    [
        Field("partition_index", INT32),
        Field("committed_offset", INT64),
        Field("committed_leader_epoch", INT32, versions="6+", default=-1, ignorable=True),
        # Kafka's default for this nullable string is "", not null.
        Field("committed_metadata", STRING, nullable="0+", default=""),
    ],
)

_REQUEST_TOPIC = Struct(
    "OffsetCommitRequestTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(_REQUEST_PARTITION)),
    ],
)

_RESPONSE_PARTITION = Struct(
    "OffsetCommitResponsePartition",
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
)

_RESPONSE_TOPIC = Struct(
    "OffsetCommitResponseTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(_RESPONSE_PARTITION)),
    ],
)

API = Api(
    key=8,
    name="OffsetCommit",
    valid_versions="2-8",
    flexible_versions="8+",
    request=Struct(
        "OffsetCommitRequest",
        [
            Field("group_id", STRING),
            Field("generation_id", INT32, versions="1+", default=-1, ignorable=True),
            Field("member_id", STRING, versions="1+", ignorable=True),
            Field("group_instance_id", STRING, versions="7+", nullable="7+", default=None),
            Field("retention_time_ms", INT64, versions="2-4", default=-1, ignorable=True),
            Field("topics", Array(_REQUEST_TOPIC)),
        ],
    ),
    response=Struct(
        "OffsetCommitResponse",
        [
            Field("throttle_time_ms", INT32, versions="3+", ignorable=True),
            Field("topics", Array(_RESPONSE_TOPIC)),
        ],
    ),
)
OffsetCommitRequest = API.request_type
OffsetCommitResponse = API.response_type
