"""CreateTopics (key 19): create topics with partition counts, replication and configs."""

from flowlog.protocol.schema import (
    BOOL,
    INT8,
    INT16,
    INT32,
    STRING,
    UUID,
    Api,
    Array,
    Field,
    Struct,
)

API = Api(
    key=19,
    name="CreateTopics",
    valid_versions="2-7",
    flexible_versions="5+",
    request=Struct("CreateTopicsRequest", [
        Field("topics", Array(Struct("CreatableTopic", [
            Field("name", STRING),
            Field("num_partitions", INT32),
            Field("replication_factor", INT16),
            Field("assignments", Array(Struct("CreatableReplicaAssignment", [
                Field("partition_index", INT32),
                Field("broker_ids", Array(INT32)),
            ]))),
            Field("configs", Array(Struct("CreatableTopicConfig", [
                Field("name", STRING),
                Field("value", STRING, nullable="0+"),
            ]))),
        ]))),
        Field("timeout_ms", INT32, default=60000),
        Field("validate_only", BOOL, versions="1+"),
    ]),
    response=Struct("CreateTopicsResponse", [
        Field("throttle_time_ms", INT32, versions="2+", ignorable=True),
        Field("topics", Array(Struct("CreatableTopicResult", [
            Field("name", STRING),
            Field("topic_id", UUID, versions="7+", ignorable=True),
            Field("error_code", INT16),
            Field("error_message", STRING, versions="1+", nullable="0+", ignorable=True),
            Field("topic_config_error_code", INT16, versions="5+", tag=0, tagged_versions="5+",
                  ignorable=True),
            Field("num_partitions", INT32, versions="5+", default=-1, ignorable=True),
            Field("replication_factor", INT16, versions="5+", default=-1, ignorable=True),
            Field("configs", Array(Struct("CreatableTopicConfigs", [
                Field("name", STRING, versions="5+"),
                Field("value", STRING, versions="5+", nullable="5+"),
                Field("read_only", BOOL, versions="5+"),
                Field("config_source", INT8, versions="5+", default=-1, ignorable=True),
                Field("is_sensitive", BOOL, versions="5+"),
            ])), versions="5+", nullable="5+", ignorable=True),
        ]))),
    ]),
)
CreateTopicsRequest = API.request_type
CreateTopicsResponse = API.response_type
