"""DeleteRecords (key 21): move partitions' log start offsets forward."""

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct

API = Api(
    key=21,
    name="DeleteRecords",
    valid_versions="0-2",
    flexible_versions="2+",
    request=Struct("DeleteRecordsRequest", [
        Field("topics", Array(Struct("DeleteRecordsTopic", [
            Field("name", STRING),
            Field("partitions", Array(Struct("DeleteRecordsPartition", [
                Field("partition_index", INT32),
                Field("offset", INT64),
            ]))),
        ]))),
        Field("timeout_ms", INT32),
    ]),
    response=Struct("DeleteRecordsResponse", [
        Field("throttle_time_ms", INT32),
        Field("topics", Array(Struct("DeleteRecordsTopicResult", [
            Field("name", STRING),
            Field("partitions", Array(Struct("DeleteRecordsPartitionResult", [
                Field("partition_index", INT32),
                Field("low_watermark", INT64),
                Field("error_code", INT16),
            ]))),
        ]))),
    ]),
)
DeleteRecordsRequest = API.request_type
DeleteRecordsResponse = API.response_type
