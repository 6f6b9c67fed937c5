"""AddOffsetsToTxn (key 25): a transactional producer adds a consumer group's
offsets to its transaction; TxnOffsetCommit then sends the offsets themselves.

v1-v2 only changed throttling and error handling; v3 is flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Field, Struct

API = Api(
    key=25,
    name="AddOffsetsToTxn",
    valid_versions="0-3",
    flexible_versions="3+",
    request=Struct(
        "AddOffsetsToTxnRequest",
        [
            Field("transactional_id", STRING),
            Field("producer_id", INT64),
            Field("producer_epoch", INT16),
            Field("group_id", STRING),
        ],
    ),
    response=Struct(
        "AddOffsetsToTxnResponse",
        [
            Field("throttle_time_ms", INT32),
            Field("error_code", INT16),
        ],
    ),
)
AddOffsetsToTxnRequest = API.request_type
AddOffsetsToTxnResponse = API.response_type
