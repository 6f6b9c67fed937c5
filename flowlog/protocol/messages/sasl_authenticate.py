"""SaslAuthenticate (key 36): one SASL token exchange, after SaslHandshake v1.

v1 adds session_lifetime_ms (KIP-368: 0 means the session never expires),
v2 is flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import BYTES, INT16, INT64, STRING, Api, Field, Struct

API = Api(
    key=36,
    name="SaslAuthenticate",
    valid_versions="0-2",
    flexible_versions="2+",
    request=Struct(
        "SaslAuthenticateRequest",
        [
            Field("auth_bytes", BYTES),
        ],
    ),
    response=Struct(
        "SaslAuthenticateResponse",
        [
            Field("error_code", INT16),
            # Kafka's default for this nullable string is "", not null.
            Field("error_message", STRING, nullable="0+", default=""),
            Field("auth_bytes", BYTES),
            Field("session_lifetime_ms", INT64, versions="1+", default=0, ignorable=True),
        ],
    ),
)
SaslAuthenticateRequest = API.request_type
SaslAuthenticateResponse = API.response_type
