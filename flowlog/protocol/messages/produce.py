"""Produce (key 0): append record batches to partitions.

v0-2 are declared and advertised (old librdkafka enables compression only if
Produce 0 is in range) but the broker rejects them; v3+ carry magic-2 batches.
"""

from flowlog.protocol.schema import INT16, INT32, INT64, RECORDS, STRING, Api, Array, Field, Struct

API = Api(
    key=0,
    name="Produce",
    valid_versions="0-9",
    flexible_versions="9+",
    request=Struct("ProduceRequest", [
        Field("transactional_id", STRING, versions="3+", nullable="3+", default=None),
        Field("acks", INT16),
        Field("timeout_ms", INT32),
        Field("topic_data", Array(Struct("TopicProduceData", [
            Field("name", STRING),
            Field("partition_data", Array(Struct("PartitionProduceData", [
                Field("index", INT32),
                Field("records", RECORDS, nullable="0+"),
            ]))),
        ]))),
    ]),
    response=Struct("ProduceResponse", [
        Field("responses", Array(Struct("TopicProduceResponse", [
            Field("name", STRING),
            Field("partition_responses", Array(Struct("PartitionProduceResponse", [
                Field("index", INT32),
                Field("error_code", INT16),
                Field("base_offset", INT64),
                Field("log_append_time_ms", INT64, versions="2+", default=-1, ignorable=True),
                Field("log_start_offset", INT64, versions="5+", default=-1, ignorable=True),
                Field("record_errors", Array(Struct("BatchIndexAndErrorMessage", [
                    Field("batch_index", INT32, versions="8+"),
                    Field("batch_index_error_message", STRING, versions="8+", nullable="8+"),
                ])), versions="8+", ignorable=True),
                Field("error_message", STRING, versions="8+", nullable="8+", ignorable=True),
            ]))),
        ]))),
        Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
    ]),
)
ProduceRequest = API.request_type
ProduceResponse = API.response_type
