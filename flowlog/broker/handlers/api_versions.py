"""ApiVersions (key 18), versions 0-4, including the unsupported-version fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.api_versions import ApiVersionsResponse

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

API_VERSIONS_KEY = 18
ApiVersion = ApiVersionsResponse.ApiVersion


async def handle_api_versions(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    keys = [
        ApiVersion(api_key=api.key, min_version=api.min_version, max_version=api.max_version)
        for api in broker.advertised_apis()
    ]
    return ApiVersionsResponse(error_code=ErrorCode.NONE, api_keys=keys, throttle_time_ms=0)


async def answer_unsupported_api_versions(
    broker: Broker, context: RequestContext
) -> tuple[int, object]:
    """A client asked for a version above ours: error 35 and a v0 body listing only us."""
    api = next(a for a in broker.advertised_apis() if a.key == API_VERSIONS_KEY)
    body = ApiVersionsResponse(
        error_code=ErrorCode.UNSUPPORTED_VERSION,
        api_keys=[ApiVersion(api_key=API_VERSIONS_KEY, min_version=api.min_version,
                             max_version=api.max_version)],
    )
    return 0, body
