"""InitProducerId (22) v0-4 for idempotent producers (no transactional id).

Every call hands out a fresh producer id at epoch 0 from a block reserved in
the metadata log, so ids are never reused, not even across restarts. A v3+
request that names its current id and epoch gets the epoch bumped instead
(KIP-360), which lets a producer recover from a sequence error without a new id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.init_producer_id import (
    InitProducerIdResponse,
)

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

EPOCH_MAX = 32767


async def handle_init_producer_id(
    broker: Broker, context: RequestContext, request: Any
) -> object:
    if request.transactional_id is not None:
        return InitProducerIdResponse(
            error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            producer_id=-1, producer_epoch=-1,
        )
    if request.producer_id >= 0 and 0 <= request.producer_epoch < EPOCH_MAX:
        return InitProducerIdResponse(
            error_code=ErrorCode.NONE, producer_id=request.producer_id,
            producer_epoch=request.producer_epoch + 1,
        )
    producer_id = await broker.metadata.next_producer_id()
    return InitProducerIdResponse(
        throttle_time_ms=0, error_code=ErrorCode.NONE, producer_id=producer_id, producer_epoch=0
    )
