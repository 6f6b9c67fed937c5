"""Metadata (key 3): brokers, topics, partitions and leaders.

v1+ null topics means all topics; an empty list means none. v0 (empty = all)
is declared for completeness.
"""

from flowlog.protocol.schema import (
    BOOL,
    INT16,
    INT32,
    STRING,
    UUID,
    Api,
    Array,
    Field,
    Struct,
)

# Kafka's "authorized operations not requested" marker.
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

API = Api(
    key=3,
    name="Metadata",
    valid_versions="0-12",
    flexible_versions="9+",
    request=Struct("MetadataRequest", [
        Field("topics", Array(Struct("MetadataRequestTopic", [
            Field("topic_id", UUID, versions="10+", ignorable=True),
            Field("name", STRING, nullable="10+", default=""),
        ])), nullable="1+"),
        Field("allow_auto_topic_creation", BOOL, versions="4+", default=True),
        Field("include_cluster_authorized_operations", BOOL, versions="8-10"),
        Field("include_topic_authorized_operations", BOOL, versions="8+"),
    ]),
    response=Struct("MetadataResponse", [
        Field("throttle_time_ms", INT32, versions="3+", ignorable=True),
        Field("brokers", Array(Struct("MetadataResponseBroker", [
            Field("node_id", INT32),
            Field("host", STRING),
            Field("port", INT32),
            Field("rack", STRING, versions="1+", nullable="1+", ignorable=True),
        ]))),
        Field("cluster_id", STRING, versions="2+", nullable="2+", ignorable=True),
        Field("controller_id", INT32, versions="1+", default=-1, ignorable=True),
        Field("topics", Array(Struct("MetadataResponseTopic", [
            Field("error_code", INT16),
            Field("name", STRING, nullable="12+", default=""),
            Field("topic_id", UUID, versions="10+", ignorable=True),
            Field("is_internal", BOOL, versions="1+", ignorable=True),
            Field("partitions", Array(Struct("MetadataResponsePartition", [
                Field("error_code", INT16),
                Field("partition_index", INT32),
                Field("leader_id", INT32),
                Field("leader_epoch", INT32, versions="7+", default=-1, ignorable=True),
                Field("replica_nodes", Array(INT32)),
                Field("isr_nodes", Array(INT32)),
                Field("offline_replicas", Array(INT32), versions="5+", ignorable=True),
            ]))),
            Field("topic_authorized_operations", INT32, versions="8+",
                  default=AUTHORIZED_OPERATIONS_OMITTED),
        ]))),
        Field("cluster_authorized_operations", INT32, versions="8-10",
              default=AUTHORIZED_OPERATIONS_OMITTED),
    ]),
)
MetadataRequest = API.request_type
MetadataResponse = API.response_type
