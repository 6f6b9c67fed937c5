"""EndTxn (key 26): commit (committed=true) or abort a producer's transaction.

v1-v2 only changed throttling and error handling; v3 is flexible. v5's producer
id/epoch in the reply (KIP-890) is above our range.
"""

from __future__ import annotations

from flowlog.protocol.schema import BOOL, INT16, INT32, INT64, STRING, Api, Field, Struct

API = Api(
    key=26,
    name="EndTxn",
    valid_versions="0-3",
    flexible_versions="3+",
    request=Struct(
        "EndTxnRequest",
        [
            Field("transactional_id", STRING),
            Field("producer_id", INT64),
            Field("producer_epoch", INT16),
            Field("committed", BOOL),
        ],
    ),
    response=Struct(
        "EndTxnResponse",
        [
            Field("throttle_time_ms", INT32),
            Field("error_code", INT16),
        ],
    ),
)
EndTxnRequest = API.request_type
EndTxnResponse = API.response_type
