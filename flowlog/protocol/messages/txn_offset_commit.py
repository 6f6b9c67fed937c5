"""TxnOffsetCommit (key 28): a transactional producer commits consumer offsets that
become visible only if its transaction commits.

v2 adds the leader epoch; v3 (KIP-447) is flexible and adds the group member's
generation_id, member_id and group_instance_id so the group coordinator can
fence zombie producers the way it fences zombie consumers.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct

_REQUEST_PARTITION = Struct(
    "TxnOffsetCommitRequestPartition",
    [
        Field("partition_index", INT32),
        Field("committed_offset", INT64),
        Field("committed_leader_epoch", INT32, versions="2+", default=-1, ignorable=True),
        # Kafka's default for this nullable string is "", not null.
        Field("committed_metadata", STRING, nullable="0+", default=""),
    ],
)

_REQUEST_TOPIC = Struct(
    "TxnOffsetCommitRequestTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(_REQUEST_PARTITION)),
    ],
)

_RESPONSE_PARTITION = Struct(
    "TxnOffsetCommitResponsePartition",
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
)

_RESPONSE_TOPIC = Struct(
    "TxnOffsetCommitResponseTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(_RESPONSE_PARTITION)),
    ],
)

API = Api(
    key=28,
    name="TxnOffsetCommit",
    valid_versions="0-3",
    flexible_versions="3+",
    request=Struct(
        "TxnOffsetCommitRequest",
        [
            Field("transactional_id", STRING),
            Field("group_id", STRING),
            Field("producer_id", INT64),
            Field("producer_epoch", INT16),
            Field("generation_id", INT32, versions="3+", default=-1),
            Field("member_id", STRING, versions="3+", default=""),
            Field("group_instance_id", STRING, versions="3+", nullable="3+", default=None),
            Field("topics", Array(_REQUEST_TOPIC)),
        ],
    ),
    response=Struct(
        "TxnOffsetCommitResponse",
        [
            Field("throttle_time_ms", INT32),
            Field("topics", Array(_RESPONSE_TOPIC)),
        ],
    ),
)
TxnOffsetCommitRequest = API.request_type
TxnOffsetCommitResponse = API.response_type
