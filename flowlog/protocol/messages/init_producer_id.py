"""InitProducerId (key 22): a producer id and epoch for idempotent/transactional producers."""

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Field, Struct

API = Api(
    key=22,
    name="InitProducerId",
    valid_versions="0-4",
    flexible_versions="2+",
    request=Struct("InitProducerIdRequest", [
        Field("transactional_id", STRING, nullable="0+"),
        Field("transaction_timeout_ms", INT32),
        Field("producer_id", INT64, versions="3+", default=-1),
        Field("producer_epoch", INT16, versions="3+", default=-1),
    ]),
    response=Struct("InitProducerIdResponse", [
        Field("throttle_time_ms", INT32, ignorable=True),
        Field("error_code", INT16),
        Field("producer_id", INT64, default=-1),
        Field("producer_epoch", INT16),
    ]),
)
InitProducerIdRequest = API.request_type
InitProducerIdResponse = API.response_type
