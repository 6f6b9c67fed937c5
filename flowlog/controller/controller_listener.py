"""The controller listener: Raft peers and broker RPCs on one port.

The first frame of a connection decides what it carries: Raft messages (one way,
from a peer's PeerLink, delivered to the driver) or controller RPCs (request, reply,
request, ... answered in order by the local QuorumController, which answers
NOT_CONTROLLER with the leader it knows when it is not the active controller).
"""

from __future__ import annotations

import logging

import trio

from flowlog.controller.controller_rpc import (
    ControllerRpcError,
    decode_request,
    encode_reply,
    is_rpc_body,
)
from flowlog.controller.quorum_controller import QuorumController
from flowlog.raft.codec import RaftDecodeError, decode
from flowlog.raft.driver import RaftDriver
from flowlog.raft.transport import FRAME_HEADER, RECEIVE_CHUNK_BYTES, FrameError, FrameReader

log = logging.getLogger(__name__)


def frame_body(body: bytes) -> bytes:
    return FRAME_HEADER.pack(len(body)) + body


async def serve_controller_connection(
    stream: trio.abc.Stream, driver: RaftDriver, controller: QuorumController
) -> None:
    reader = FrameReader()
    rpc: bool | None = None
    async with stream:
        try:
            while True:
                data = await stream.receive_some(RECEIVE_CHUNK_BYTES)
                if not data:
                    return
                for body in reader.feed(data):
                    if rpc is None:
                        rpc = is_rpc_body(body)
                    if rpc:
                        reply = await controller.handle(decode_request(body))
                        await stream.send_all(frame_body(encode_reply(reply)))
                    else:
                        driver.deliver(decode(body))
        except (FrameError, RaftDecodeError, ControllerRpcError) as error:
            log.warning("closing a controller connection: %s", error)
        except (OSError, trio.BrokenResourceError):
            return
