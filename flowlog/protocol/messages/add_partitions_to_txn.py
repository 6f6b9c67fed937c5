"""AddPartitionsToTxn (key 24): a transactional producer registers partitions with
its transaction coordinator before producing to them.

We serve v0-v3 (v1-v2 only changed throttling and error handling; v3 is
flexible). Field names are those of Kafka's schema before KIP-890 v4, which
renamed them to V3AndBelow* to make room for a batched `transactions` list that
is above our range.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct

_TOPIC = Struct(
    "AddPartitionsToTxnTopic",
    [
        Field("name", STRING),
        Field("partitions", Array(INT32)),
    ],
)

_PARTITION_RESULT = Struct(
    "AddPartitionsToTxnPartitionResult",
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
)

_TOPIC_RESULT = Struct(
    "AddPartitionsToTxnTopicResult",
    [
        Field("name", STRING),
        Field("results", Array(_PARTITION_RESULT)),
    ],
)

API = Api(
    key=24,
    name="AddPartitionsToTxn",
    valid_versions="0-3",
    flexible_versions="3+",
    request=Struct(
        "AddPartitionsToTxnRequest",
        [
            Field("transactional_id", STRING),
            Field("producer_id", INT64),
            Field("producer_epoch", INT16),
            Field("topics", Array(_TOPIC)),
        ],
    ),
    response=Struct(
        "AddPartitionsToTxnResponse",
        [
            Field("throttle_time_ms", INT32),
            Field("results", Array(_TOPIC_RESULT)),
        ],
    ),
)
AddPartitionsToTxnRequest = API.request_type
AddPartitionsToTxnResponse = API.response_type
