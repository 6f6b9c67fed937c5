"""ListOffsets (key 2): earliest (-2), latest (-1) or by-timestamp offsets per partition."""

from flowlog.protocol.schema import INT8, INT16, INT32, INT64, STRING, Api, Array, Field, Struct

API = Api(
    key=2,
    name="ListOffsets",
    valid_versions="1-7",
    flexible_versions="6+",
    request=Struct("ListOffsetsRequest", [
        Field("replica_id", INT32),
        Field("isolation_level", INT8, versions="2+"),
        Field("topics", Array(Struct("ListOffsetsTopic", [
            Field("name", STRING),
            Field("partitions", Array(Struct("ListOffsetsPartition", [
                Field("partition_index", INT32),
                Field("current_leader_epoch", INT32, versions="4+", default=-1, ignorable=True),
                Field("timestamp", INT64),
            ]))),
        ]))),
    ]),
    response=Struct("ListOffsetsResponse", [
        Field("throttle_time_ms", INT32, versions="2+", ignorable=True),
        Field("topics", Array(Struct("ListOffsetsTopicResponse", [
            Field("name", STRING),
            Field("partitions", Array(Struct("ListOffsetsPartitionResponse", [
                Field("partition_index", INT32),
                Field("error_code", INT16),
                Field("timestamp", INT64, versions="1+", default=-1),
                Field("offset", INT64, versions="1+", default=-1),
                Field("leader_epoch", INT32, versions="4+", default=-1),
            ]))),
        ]))),
    ]),
)
ListOffsetsRequest = API.request_type
ListOffsetsResponse = API.response_type
