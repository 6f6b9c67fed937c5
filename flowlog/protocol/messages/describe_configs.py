"""DescribeConfigs (key 32): configuration entries of topics and brokers."""

from flowlog.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Api, Array, Field, Struct

API = Api(
    key=32,
    name="DescribeConfigs",
    valid_versions="1-4",
    flexible_versions="4+",
    request=Struct("DescribeConfigsRequest", [
        Field("resources", Array(Struct("DescribeConfigsResource", [
            Field("resource_type", INT8),
            Field("resource_name", STRING),
            Field("configuration_keys", Array(STRING), nullable="0+"),
        ]))),
        Field("include_synonyms", BOOL, versions="1+"),
        Field("include_documentation", BOOL, versions="3+"),
    ]),
    response=Struct("DescribeConfigsResponse", [
        Field("throttle_time_ms", INT32),
        Field("results", Array(Struct("DescribeConfigsResult", [
            Field("error_code", INT16),
            Field("error_message", STRING, nullable="0+"),
            Field("resource_type", INT8),
            Field("resource_name", STRING),
            Field("configs", Array(Struct("DescribeConfigsResourceResult", [
                Field("name", STRING),
                Field("value", STRING, nullable="0+"),
                Field("read_only", BOOL),
                Field("is_default", BOOL, versions="0"),
                Field("config_source", INT8, versions="1+", default=-1, ignorable=True),
                Field("is_sensitive", BOOL),
                Field("synonyms", Array(Struct("DescribeConfigsSynonym", [
                    Field("name", STRING, versions="1+"),
                    Field("value", STRING, versions="1+", nullable="0+"),
                    Field("source", INT8, versions="1+"),
                ])), versions="1+", ignorable=True),
                Field("config_type", INT8, versions="3+", ignorable=True),
                Field("documentation", STRING, versions="3+", nullable="0+", ignorable=True),
            ]))),
        ]))),
    ]),
)
DescribeConfigsRequest = API.request_type
DescribeConfigsResponse = API.response_type
