"""DescribeCluster (key 60): cluster id, controller and brokers (admin clients).

v2 (KIP-1073) can list fenced brokers too, each with is_fenced.
"""

from flowlog.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Api, Array, Field, Struct

# Kafka's endpoint type for brokers (2 would be controllers).
BROKER_ENDPOINT_TYPE = 1
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

API = Api(
    key=60,
    name="DescribeCluster",
    valid_versions="0-2",
    flexible_versions="0+",
    request=Struct("DescribeClusterRequest", [
        Field("include_cluster_authorized_operations", BOOL),
        Field("endpoint_type", INT8, versions="1+", default=BROKER_ENDPOINT_TYPE),
        Field("include_fenced_brokers", BOOL, versions="2+"),
    ]),
    response=Struct("DescribeClusterResponse", [
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("endpoint_type", INT8, versions="1+", default=BROKER_ENDPOINT_TYPE),
        Field("cluster_id", STRING),
        Field("controller_id", INT32, default=-1),
        Field("brokers", Array(Struct("DescribeClusterBroker", [
            Field("broker_id", INT32),
            Field("host", STRING),
            Field("port", INT32),
            Field("rack", STRING, nullable="0+"),
            Field("is_fenced", BOOL, versions="2+"),
        ]))),
        Field("cluster_authorized_operations", INT32, default=AUTHORIZED_OPERATIONS_OMITTED),
    ]),
)
DescribeClusterRequest = API.request_type
DescribeClusterResponse = API.response_type
