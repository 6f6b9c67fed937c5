"""The messages of the simulated cluster, besides those of flowlog.replication.messages.

Every message travels in an Envelope. A request is delivered to whatever process
runs on the recipient node; an answer names the incarnation that asked (a TCP
connection dies with its process) and is dropped if that process is gone.
"""

from __future__ import annotations

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.leader_epoch_cache import EpochEndOffset
from flowlog.replication.messages import FetchRequest, PartitionState

CONTROLLER_ID = 0


@attrs.frozen
class Envelope:
    sender: int
    recipient: int
    body: object
    sender_incarnation: int = 0
    # For answers: the process that asked; None for requests.
    to_incarnation: int | None = None


@attrs.frozen
class Heartbeat:
    broker: int
    incarnation: int


@attrs.frozen
class StateUpdate:
    state: PartitionState


@attrs.frozen
class ReplicaFetch:
    request: FetchRequest
    max_wait_ms: int


@attrs.frozen
class Produce:
    sequence: int
    acks: int
    batch: bytes
    timeout_ms: int


@attrs.frozen
class ProduceAnswer:
    sequence: int
    error: ErrorCode
    base_offset: int = -1


@attrs.frozen
class ConsumerFetch:
    request_id: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    max_wait_ms: int


@attrs.frozen
class ConsumerFetchAnswer:
    request_id: int
    error: ErrorCode
    high_watermark: int = -1
    diverging_epoch: EpochEndOffset | None = None
    records: bytes = b""
