"""CreatePartitions (key 37): raise the partition count of topics."""

from flowlog.protocol.schema import BOOL, INT16, INT32, STRING, Api, Array, Field, Struct

API = Api(
    key=37,
    name="CreatePartitions",
    valid_versions="0-3",
    flexible_versions="2+",
    request=Struct("CreatePartitionsRequest", [
        Field("topics", Array(Struct("CreatePartitionsTopic", [
            Field("name", STRING),
            Field("count", INT32),
            Field("assignments", Array(Struct("CreatePartitionsAssignment", [
                Field("broker_ids", Array(INT32)),
            ])), nullable="0+"),
        ]))),
        Field("timeout_ms", INT32),
        Field("validate_only", BOOL),
    ]),
    response=Struct("CreatePartitionsResponse", [
        Field("throttle_time_ms", INT32),
        Field("results", Array(Struct("CreatePartitionsTopicResult", [
            Field("name", STRING),
            Field("error_code", INT16),
            Field("error_message", STRING, nullable="0+"),
        ]))),
    ]),
)
CreatePartitionsRequest = API.request_type
CreatePartitionsResponse = API.response_type
