"""AlterConfigs (key 33): replace the whole configuration of resources."""

from flowlog.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Api, Array, Field, Struct

API = Api(
    key=33,
    name="AlterConfigs",
    valid_versions="0-2",
    flexible_versions="2+",
    request=Struct("AlterConfigsRequest", [
        Field("resources", Array(Struct("AlterConfigsResource", [
            Field("resource_type", INT8),
            Field("resource_name", STRING),
            Field("configs", Array(Struct("AlterableConfig", [
                Field("name", STRING),
                Field("value", STRING, nullable="0+"),
            ]))),
        ]))),
        Field("validate_only", BOOL),
    ]),
    response=Struct("AlterConfigsResponse", [
        Field("throttle_time_ms", INT32),
        Field("responses", Array(Struct("AlterConfigsResourceResponse", [
            Field("error_code", INT16),
            Field("error_message", STRING, nullable="0+"),
            Field("resource_type", INT8),
            Field("resource_name", STRING),
        ]))),
    ]),
)
AlterConfigsRequest = API.request_type
AlterConfigsResponse = API.response_type
