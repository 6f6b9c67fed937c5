"""The controller RPC: what brokers ask the active controller, as frames (sans-IO).

It shares the controller listener with Raft. Both use the transport's framing (a
uint32 length, then the body); a Raft body starts with its codec version (1), an RPC
body with RPC_MARKER, then one JSON document. The first frame of a connection
decides what the connection carries.

Requests mirror Kafka's KRaft RPCs: BrokerRegistration (node id, incarnation id,
listener, rack), BrokerHeartbeat (broker epoch, want shut down) and, for everything
that changes metadata, Operation (a ControllerCore operation by name, with its
arguments as JSON: CreateTopics, AlterPartition, ...). Every reply names the leader
this node knows, so a broker that asked a non-leader goes straight to the right one.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import orjson

from flowlog.protocol.errors import ErrorCode

RPC_MARKER = 0xC0
RPC_VERSION = 1


class ControllerRpcError(ValueError):
    """Bytes that are not a controller RPC frame body."""


@attrs.frozen
class RegisterRequest:
    node_id: int
    host: str
    port: int
    rack: str | None
    incarnation_id: bytes


@attrs.frozen
class HeartbeatRequest:
    node_id: int
    broker_epoch: int
    want_shut_down: bool = False


@attrs.frozen
class OperationRequest:
    """A ControllerCore operation; `arguments` are its parameters, unstructured."""

    name: str
    arguments: dict[str, Any]


ControllerRequest = RegisterRequest | HeartbeatRequest | OperationRequest
_REQUEST_KINDS: dict[str, type[Any]] = {
    "register": RegisterRequest,
    "heartbeat": HeartbeatRequest,
    "operation": OperationRequest,
}
_KIND_OF = {cls: kind for kind, cls in _REQUEST_KINDS.items()}


@attrs.frozen
class ControllerReply:
    """`metadata_index`: the Raft index the controller had applied when it answered;
    a broker that waits until it applied as much sees the change it asked for."""

    error_code: ErrorCode
    error_message: str | None = None
    leader_id: int = -1
    metadata_index: int = 0
    broker_epoch: int = -1
    fenced: bool = False
    should_shut_down: bool = False
    results: list[Any] = attrs.field(factory=list)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(bytes, bytes.hex)
    converter.register_structure_hook(bytes, lambda value, _: bytes.fromhex(value))
    return converter


CONVERTER = _make_converter()


def encode_request(request: ControllerRequest) -> bytes:
    document = {"v": RPC_VERSION, "kind": _KIND_OF[type(request)],
                "body": CONVERTER.unstructure(request)}
    return bytes([RPC_MARKER]) + orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)


def decode_request(body: bytes) -> ControllerRequest:
    document = _document(body)
    kind = _REQUEST_KINDS.get(document.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        raise ControllerRpcError(f"unknown controller request kind {document.get('kind')!r}")
    try:
        request: ControllerRequest = CONVERTER.structure(document["body"], kind)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise ControllerRpcError(f"bad {kind.__name__}: {error}") from error
    return request


def encode_reply(reply: ControllerReply) -> bytes:
    document = {"v": RPC_VERSION, "body": CONVERTER.unstructure(reply)}
    return bytes([RPC_MARKER]) + orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)


def decode_reply(body: bytes) -> ControllerReply:
    document = _document(body)
    try:
        return CONVERTER.structure(document["body"], ControllerReply)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise ControllerRpcError(f"bad controller reply: {error}") from error


def is_rpc_body(body: bytes) -> bool:
    return bool(body) and body[0] == RPC_MARKER


def _document(body: bytes) -> dict[str, Any]:
    if not is_rpc_body(body):
        raise ControllerRpcError("not a controller RPC frame")
    try:
        document = orjson.loads(body[1:])
    except orjson.JSONDecodeError as error:
        raise ControllerRpcError(f"controller RPC frame is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("v") != RPC_VERSION:
        raise ControllerRpcError(f"not a version {RPC_VERSION} controller RPC document")
    return document
