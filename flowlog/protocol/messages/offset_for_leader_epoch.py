"""OffsetForLeaderEpoch (key 23): the end offset of a leader epoch (log truncation checks)."""

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct

# Kafka's replica id for a request sent by a consumer rather than a broker.
CONSUMER_REPLICA_ID = -2

API = Api(
    key=23,
    name="OffsetForLeaderEpoch",
    valid_versions="2-4",
    flexible_versions="4+",
    request=Struct("OffsetForLeaderEpochRequest", [
        Field("replica_id", INT32, versions="3+", default=CONSUMER_REPLICA_ID, ignorable=True),
        Field("topics", Array(Struct("OffsetForLeaderTopic", [
            Field("topic", STRING),
            Field("partitions", Array(Struct("OffsetForLeaderPartition", [
                Field("partition", INT32),
                Field("current_leader_epoch", INT32, versions="2+", default=-1, ignorable=True),
                Field("leader_epoch", INT32),
            ]))),
        ]))),
    ]),
    response=Struct("OffsetForLeaderEpochResponse", [
        Field("throttle_time_ms", INT32, versions="2+", ignorable=True),
        Field("topics", Array(Struct("OffsetForLeaderTopicResult", [
            Field("topic", STRING),
            Field("partitions", Array(Struct("EpochEndOffset", [
                Field("error_code", INT16),
                Field("partition", INT32),
                Field("leader_epoch", INT32, versions="1+", default=-1, ignorable=True),
                Field("end_offset", INT64, default=-1),
            ]))),
        ]))),
    ]),
)
OffsetForLeaderEpochRequest = API.request_type
OffsetForLeaderEpochResponse = API.response_type
