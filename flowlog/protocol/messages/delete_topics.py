"""DeleteTopics (key 20): delete topics by name (v6+: by name or id)."""

from flowlog.protocol.schema import INT16, INT32, STRING, UUID, Api, Array, Field, Struct

API = Api(
    key=20,
    name="DeleteTopics",
    valid_versions="1-6",
    flexible_versions="4+",
    request=Struct("DeleteTopicsRequest", [
        Field("topics", Array(Struct("DeleteTopicState", [
            Field("name", STRING, versions="6+", nullable="6+"),
            Field("topic_id", UUID, versions="6+"),
        ])), versions="6+"),
        Field("topic_names", Array(STRING), versions="0-5", ignorable=True),
        Field("timeout_ms", INT32),
    ]),
    response=Struct("DeleteTopicsResponse", [
        Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
        Field("responses", Array(Struct("DeletableTopicResult", [
            Field("name", STRING, nullable="6+", default=""),
            Field("topic_id", UUID, versions="6+", ignorable=True),
            Field("error_code", INT16),
            Field("error_message", STRING, versions="5+", nullable="5+", ignorable=True),
        ]))),
    ]),
)
DeleteTopicsRequest = API.request_type
DeleteTopicsResponse = API.response_type
