"""Controller RPC frames: round trips, and clear refusals of what is not one."""

from __future__ import annotations

import pytest

from flowlog.controller.controller_rpc import (
    ControllerReply,
    ControllerRpcError,
    HeartbeatRequest,
    OperationRequest,
    RegisterRequest,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    is_rpc_body,
)
from flowlog.protocol.errors import ErrorCode
from flowlog.raft.codec import encode
from flowlog.raft.messages import HeartbeatResponse


@pytest.mark.parametrize("request_", [
    RegisterRequest(3, "127.0.0.1", 9092, "rack-a", bytes(range(16))),
    HeartbeatRequest(3, 17, want_shut_down=True),
    OperationRequest("create_topics", {"topics": [{"name": "t", "assignments": {0: [1, 2]}}]}),
])
def test_requests_round_trip(request_: object) -> None:
    body = encode_request(request_)  # type: ignore[arg-type]
    assert is_rpc_body(body)
    decoded = decode_request(body)
    if isinstance(request_, OperationRequest):
        # JSON object keys are strings; the operation's structuring turns them back.
        assert decoded == OperationRequest(
            "create_topics", {"topics": [{"name": "t", "assignments": {"0": [1, 2]}}]}
        )
    else:
        assert decoded == request_


def test_replies_round_trip() -> None:
    reply = ControllerReply(ErrorCode.NOT_CONTROLLER, "no", leader_id=2, metadata_index=9,
                            results=[{"a": 1}])
    assert decode_reply(encode_reply(reply)) == reply


def test_raft_frames_are_told_apart() -> None:
    assert not is_rpc_body(encode(HeartbeatResponse(1, 2, 3)))


@pytest.mark.parametrize("body", [b"", b"\xc0", b"\xc0{}", b'\xc0{"v": 1, "kind": "x"}',
                                  b'\xc0{"v": 1, "kind": "heartbeat", "body": {}}'])
def test_garbage_is_refused(body: bytes) -> None:
    with pytest.raises(ControllerRpcError):
        decode_request(body)
