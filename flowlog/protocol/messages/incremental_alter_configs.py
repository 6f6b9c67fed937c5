"""IncrementalAlterConfigs (key 44): set, delete, append to or subtract from config entries."""

from flowlog.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Api, Array, Field, Struct

API = Api(
    key=44,
    name="IncrementalAlterConfigs",
    valid_versions="0-1",
    flexible_versions="1+",
    request=Struct("IncrementalAlterConfigsRequest", [
        Field("resources", Array(Struct("AlterConfigsResource", [
            Field("resource_type", INT8),
            Field("resource_name", STRING),
            Field("configs", Array(Struct("AlterableConfig", [
                Field("name", STRING),
                Field("config_operation", INT8),
                Field("value", STRING, nullable="0+"),
            ]))),
        ]))),
        Field("validate_only", BOOL),
    ]),
    response=Struct("IncrementalAlterConfigsResponse", [
        Field("throttle_time_ms", INT32),
        Field("responses", Array(Struct("AlterConfigsResourceResponse", [
            Field("error_code", INT16),
            Field("error_message", STRING, nullable="0+"),
            Field("resource_type", INT8),
            Field("resource_name", STRING),
        ]))),
    ]),
)
IncrementalAlterConfigsRequest = API.request_type
IncrementalAlterConfigsResponse = API.response_type
