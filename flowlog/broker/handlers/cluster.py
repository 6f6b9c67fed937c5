"""DescribeCluster (60) v0-1: the brokers and the controller, as admin clients ask."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.describe_cluster import (
    DescribeClusterResponse,
)

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

BROKER_ENDPOINT_TYPE = 1


async def handle_describe_cluster(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    if request.endpoint_type != BROKER_ENDPOINT_TYPE:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message="only broker endpoints are served", cluster_id=broker.config.cluster_id,
        )
    return DescribeClusterResponse(
        throttle_time_ms=0,
        error_code=ErrorCode.NONE,
        error_message=None,
        endpoint_type=BROKER_ENDPOINT_TYPE,
        cluster_id=broker.config.cluster_id,
        controller_id=broker.config.node_id,
        brokers=[
            DescribeClusterResponse.DescribeClusterBroker(
                broker_id=b.node_id, host=b.host, port=b.port, rack=b.rack
            )
            for b in broker.metadata.state.brokers().values()
        ],
    )
