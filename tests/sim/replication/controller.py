"""A simple simulated controller for one partition: registration, heartbeats, fencing,
leader election from the ISR (never unclean) and AlterPartition.

It stands in for the KRaft controller of the metadata half and is never faulty
itself (its Raft log is tested elsewhere); its links to brokers are.

- A broker whose heartbeats stop for SESSION_TIMEOUT_MS is fenced: it leaves the ISR
  (unless it is the last member, as Kafka keeps it) and loses leadership.
- A broker that comes back with a new incarnation (a restart) loses leadership at
  once: a restarted leader must never resume its old epoch, since followers may hold
  data of that epoch that its crash lost.
- A leader is elected from the live ISR members, with the leader epoch bumped; with
  none alive the partition has no leader until an ISR member comes back.
- AlterPartition is accepted only from the current leader and epoch, based on the
  current partition epoch, and only adds live brokers; repeating an applied request
  returns the state it produced.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.messages import NO_LEADER, AlterPartitionRequest, PartitionState

SESSION_TIMEOUT_MS = 300


@attrs.frozen
class AlterPartitionResult:
    request: AlterPartitionRequest
    error: ErrorCode
    state: PartitionState


class SimController:
    def __init__(self, replicas: tuple[int, ...], rng: random.Random) -> None:
        self.rng = rng
        self.state = PartitionState(replicas, frozenset(replicas), replicas[0], 0, 0)
        self.incarnations: dict[int, int] = {}
        self.last_heartbeat_ms: dict[int, int] = {replica: 0 for replica in replicas}
        self.fenced: set[int] = set()
        # Called with every new state (the shell broadcasts it).
        self.on_change: Callable[[PartitionState], None] = lambda state: None
        # Every (leader epoch -> leader) ever chosen, for the invariants.
        self.leaders_by_epoch: dict[int, int] = {0: replicas[0]}

    def heartbeat(self, broker: int, incarnation: int, now_ms: int) -> PartitionState:
        known = self.incarnations.get(broker)
        if known is not None and incarnation < known:
            return self.state  # a late heartbeat of a previous incarnation
        self.incarnations[broker] = incarnation
        self.last_heartbeat_ms[broker] = now_ms
        if known is not None and known != incarnation and self.state.leader == broker:
            self._elect(exclude={broker}, reason="leader restarted")
        if broker in self.fenced:
            self.fenced.discard(broker)
        if self.state.leader == NO_LEADER and broker in self.state.isr:
            self._elect(exclude=set(), reason="isr member back")
        return self.state

    def tick(self, now_ms: int) -> None:
        for broker, last_ms in sorted(self.last_heartbeat_ms.items()):
            if broker not in self.fenced and now_ms - last_ms > SESSION_TIMEOUT_MS:
                self.fence(broker)

    def fence(self, broker: int) -> None:
        self.fenced.add(broker)
        state = self.state
        isr = state.isr - {broker} if len(state.isr) > 1 else state.isr
        if state.leader == broker:
            self._elect(exclude={broker}, isr=isr, reason="leader fenced")
        elif isr != state.isr:
            self._set(attrs.evolve(state, isr=isr, partition_epoch=state.partition_epoch + 1))

    def move_leader(self) -> None:
        """A preferred-leader election or controlled shutdown: another live ISR member leads."""
        if self.state.leader != NO_LEADER:
            self._elect(exclude={self.state.leader}, reason="leader moved", require_other=True)

    def alter_partition(self, request: AlterPartitionRequest) -> AlterPartitionResult:
        state = self.state
        if request.leader != state.leader or request.leader_epoch != state.leader_epoch:
            return AlterPartitionResult(request, ErrorCode.FENCED_LEADER_EPOCH, state)
        if request.partition_epoch != state.partition_epoch:
            error = ErrorCode.NONE if request.new_isr == state.isr else ErrorCode.INVALID_UPDATE_VERSION
            return AlterPartitionResult(request, error, state)
        if request.leader not in request.new_isr or not request.new_isr <= set(state.replicas):
            return AlterPartitionResult(request, ErrorCode.INVALID_REQUEST, state)
        if (request.new_isr - state.isr) & self.fenced:
            return AlterPartitionResult(request, ErrorCode.INELIGIBLE_REPLICA, state)
        self._set(attrs.evolve(state, isr=request.new_isr, partition_epoch=state.partition_epoch + 1))
        return AlterPartitionResult(request, ErrorCode.NONE, self.state)

    def _elect(self, exclude: set[int], reason: str, isr: frozenset[int] | None = None,
               require_other: bool = False) -> None:
        state = self.state
        isr = state.isr if isr is None else isr
        candidates = sorted(isr - self.fenced - exclude)
        if not candidates and require_other:
            return
        leader = self.rng.choice(candidates) if candidates else NO_LEADER
        epoch = state.leader_epoch + 1
        self.leaders_by_epoch[epoch] = leader
        self._set(PartitionState(state.replicas, isr, leader, epoch, state.partition_epoch + 1))

    def _set(self, state: PartitionState) -> None:
        self.state = state
        self.on_change(state)
