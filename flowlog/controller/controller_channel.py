"""A broker's way to the active controller: local call or TCP, following leader hints.

If this node leads the quorum, a request goes straight to the local QuorumController;
otherwise over TCP to the leader's controller listener (a fresh connection per call:
metadata changes and heartbeats are rare, and a dead leader then costs one failed
connect, not a stuck stream). NOT_CONTROLLER replies and unknown leaders are retried
until the deadline, waking on Raft progress rather than polling blindly.
"""

from __future__ import annotations

import logging

import trio

from flowlog.controller.controller_listener import frame_body
from flowlog.controller.controller_rpc import (
    ControllerReply,
    ControllerRequest,
    ControllerRpcError,
    decode_reply,
    encode_request,
)
from flowlog.controller.quorum_controller import QuorumController
from flowlog.protocol.errors import ErrorCode
from flowlog.raft.driver import RaftDriver
from flowlog.raft.raft_core import Role
from flowlog.raft.transport import RECEIVE_CHUNK_BYTES, FrameError, FrameReader

log = logging.getLogger(__name__)

# A remote controller that does not answer within this is treated as gone.
CALL_TIMEOUT_S = 3.0
# Between attempts while no leader is known or the leader moved.
RETRY_DELAY_S = 0.05


class ControllerUnavailableError(Exception):
    """No active controller answered before the deadline."""


class ControllerChannel:
    def __init__(
        self,
        driver: RaftDriver,
        controller: QuorumController,
        voter_addresses: dict[int, tuple[str, int]],
    ) -> None:
        self._driver = driver
        self._controller = controller
        self._voter_addresses = voter_addresses

    async def call(self, request: ControllerRequest, timeout_s: float) -> ControllerReply:
        """The active controller's reply (never NOT_CONTROLLER), or ControllerUnavailableError."""
        last_problem = "no controller leader is known"
        with trio.move_on_after(timeout_s):
            while True:
                node = self._driver.node
                leader = node.node_id if node.role is Role.LEADER else node.leader_id
                reply: ControllerReply | None = None
                if leader == node.node_id:
                    reply = await self._controller.handle(request)
                elif leader in self._voter_addresses:
                    try:
                        reply = await self._call_remote(self._voter_addresses[leader], request)
                    except (OSError, trio.BrokenResourceError, FrameError, ControllerRpcError,
                            trio.TooSlowError) as error:
                        last_problem = f"controller {leader}: {error!r}"
                if reply is not None and reply.error_code != ErrorCode.NOT_CONTROLLER:
                    return reply
                if reply is not None:
                    last_problem = f"node {leader}: {reply.error_message}"
                await trio.sleep(RETRY_DELAY_S)
        raise ControllerUnavailableError(last_problem)

    async def _call_remote(
        self, address: tuple[str, int], request: ControllerRequest
    ) -> ControllerReply:
        with trio.fail_after(CALL_TIMEOUT_S):
            stream = await trio.open_tcp_stream(*address)
            async with stream:
                await stream.send_all(frame_body(encode_request(request)))
                reader = FrameReader()
                while True:
                    data = await stream.receive_some(RECEIVE_CHUNK_BYTES)
                    if not data:
                        raise ControllerRpcError("the controller closed the connection")
                    bodies = reader.feed(data)
                    if bodies:
                        return decode_reply(bodies[0])
