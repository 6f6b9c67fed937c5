"""ApiVersions (key 18): the version ranges this broker supports.

Its response header is always v0, even at flexible versions (see codec.py).
"""

from flowlog.protocol.schema import BOOL, INT16, INT32, INT64, STRING, Api, Array, Field, Struct

API = Api(
    key=18,
    name="ApiVersions",
    valid_versions="0-4",
    flexible_versions="3+",
    request=Struct("ApiVersionsRequest", [
        Field("client_software_name", STRING, versions="3+", ignorable=True),
        Field("client_software_version", STRING, versions="3+", ignorable=True),
    ]),
    response=Struct("ApiVersionsResponse", [
        Field("error_code", INT16),
        Field("api_keys", Array(Struct("ApiVersion", [
            Field("api_key", INT16),
            Field("min_version", INT16),
            Field("max_version", INT16),
        ]))),
        Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
        Field("supported_features", Array(Struct("SupportedFeatureKey", [
            Field("name", STRING, versions="3+"),
            Field("min_version", INT16, versions="3+"),
            Field("max_version", INT16, versions="3+"),
        ])), versions="3+", tag=0, tagged_versions="3+", ignorable=True),
        Field("finalized_features_epoch", INT64, versions="3+", tag=1, tagged_versions="3+",
              default=-1, ignorable=True),
        Field("finalized_features", Array(Struct("FinalizedFeatureKey", [
            Field("name", STRING, versions="3+"),
            Field("max_version_level", INT16, versions="3+"),
            Field("min_version_level", INT16, versions="3+"),
        ])), versions="3+", tag=2, tagged_versions="3+", ignorable=True),
        Field("zk_migration_ready", BOOL, versions="3+", tag=3, tagged_versions="3+",
              ignorable=True),
    ]),
)
ApiVersionsRequest = API.request_type
ApiVersionsResponse = API.response_type
