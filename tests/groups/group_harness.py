"""A test driver for GroupManager: a clock, tickets, deterministic member ids, a log."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from flowlog.broker.group_core import GroupManager
from flowlog.broker.group_types import (
    Effect,
    GroupConfig,
    JoinRequest,
    JoinResponse,
    Persist,
    Protocol,
    RespondJoin,
    RespondSync,
    SyncRequest,
    SyncResponse,
)
from flowlog.protocol.group_protocol import (
    Assignment,
    Subscription,
    TopicPartitions,
    encode_assignment,
    encode_subscription,
)

GROUP = "group-a"
SESSION_TIMEOUT_MS = 10_000
REBALANCE_TIMEOUT_MS = 30_000


def subscription(*topics: str) -> bytes:
    return encode_subscription(Subscription(topics=topics, version=0))


def consumer_protocols(*topics: str) -> tuple[Protocol, ...]:
    return (Protocol("range", subscription(*topics)),)


def assignment(topic: str, *partitions: int) -> bytes:
    return encode_assignment(Assignment([TopicPartitions(topic, partitions)], version=0))


def join_request(
    member_id: str = "",
    *,
    instance_id: str | None = None,
    client_id: str = "client",
    protocols: Sequence[Protocol] | None = None,
    protocol_type: str = "consumer",
    session_timeout_ms: int = SESSION_TIMEOUT_MS,
    rebalance_timeout_ms: int = REBALANCE_TIMEOUT_MS,
    api_version: int = 5,
) -> JoinRequest:
    return JoinRequest(
        member_id=member_id,
        group_instance_id=instance_id,
        client_id=client_id,
        client_host="/127.0.0.1",
        session_timeout_ms=session_timeout_ms,
        rebalance_timeout_ms=rebalance_timeout_ms,
        protocol_type=protocol_type,
        protocols=tuple(protocols) if protocols is not None else consumer_protocols("t"),
        api_version=api_version,
    )


class Harness:
    """Owns the manager, a fake clock and every effect seen, keyed by ticket."""

    def __init__(self, config: GroupConfig | None = None, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms
        self._ids = itertools.count(1)
        self._tickets = itertools.count(1)
        self.config = config or GroupConfig(initial_rebalance_delay_ms=0)
        self.manager = GroupManager(self.config, self.new_member_id, now_ms)
        self.joins: dict[int, JoinResponse] = {}
        self.syncs: dict[int, SyncResponse] = {}
        # The compacted log: key -> value; a tombstone deletes.
        self.log: dict[bytes, bytes] = {}

    def new_member_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def absorb(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, RespondJoin):
                assert effect.ticket not in self.joins, "a ticket answered twice"
                self.joins[effect.ticket] = effect.response
            elif isinstance(effect, RespondSync):
                assert effect.ticket not in self.syncs, "a ticket answered twice"
                self.syncs[effect.ticket] = effect.response
            else:
                assert isinstance(effect, Persist)
                for record in effect.records:
                    # Like compaction: the newest record of a key, in log order.
                    self.log.pop(record.key, None)
                    if record.value is not None:
                        self.log[record.key] = record.value
        return effects

    def join(self, request: JoinRequest, group_id: str = GROUP) -> int:
        ticket = next(self._tickets)
        self.absorb(self.manager.join(group_id, ticket, request, self.now_ms))
        return ticket

    def sync(self, request: SyncRequest, group_id: str = GROUP) -> int:
        ticket = next(self._tickets)
        self.absorb(self.manager.sync(group_id, ticket, request, self.now_ms))
        return ticket

    def advance(self, delta_ms: int) -> None:
        self.now_ms += delta_ms
        self.absorb(self.manager.tick(self.now_ms))

    def join_new(self, **options: object) -> str:
        """A v4+ dynamic member's two-step join; returns the parked ticket's member id."""
        first = self.join(join_request(**options))  # type: ignore[arg-type]
        response = self.joins[first]
        assert response.error_code == 79
        return response.member_id

    def restarted(self) -> Harness:
        """A fresh coordinator that replays the log, as after a broker restart."""
        other = Harness(self.config, self.now_ms)
        other._ids = self._ids
        other._tickets = self._tickets
        for key, value in self.log.items():
            other.manager.replay(key, value, self.now_ms)
        other.log = dict(self.log)
        return other
