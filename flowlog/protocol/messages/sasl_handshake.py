"""SaslHandshake (key 17): the client names a SASL mechanism; the broker lists the ones
it enables.

v0 sends the SASL tokens as raw frames afterwards; v1 wraps them in SaslAuthenticate.
Never flexible.
"""

from __future__ import annotations

from flowlog.protocol.schema import INT16, STRING, Api, Array, Field, Struct

API = Api(
    key=17,
    name="SaslHandshake",
    valid_versions="0-1",
    flexible_versions="none",
    request=Struct(
        "SaslHandshakeRequest",
        [
            Field("mechanism", STRING),
        ],
    ),
    response=Struct(
        "SaslHandshakeResponse",
        [
            Field("error_code", INT16),
            Field("mechanisms", Array(STRING)),
        ],
    ),
)
SaslHandshakeRequest = API.request_type
SaslHandshakeResponse = API.response_type
