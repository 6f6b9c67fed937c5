"""The simulated cluster on virtual time: one seeded scheduler drives three brokers,
the controller and the clients; every message crosses the faulty SimNetwork.
Invariants are checked after every event."""

from __future__ import annotations

import random
from collections.abc import Callable

from flowlog.replication.follower_core import FollowerConfig
from flowlog.replication.leader_core import LeaderConfig
from flowlog.replication.messages import AlterPartitionRequest, PartitionState

from ..common.loop import SimLoop
from .broker import SimBroker
from .clients import SimConsumer, SimProducer
from .controller import SimController
from .invariants import InvariantChecker
from .wire import CONTROLLER_ID, Envelope, Heartbeat, StateUpdate

REPLICAS = (1, 2, 3)
CONTROLLER_TICK_MS = 10


class SimCluster(SimLoop):
    def __init__(self, seed_text: str, *, durable: bool, truncate_with_epoch_request: bool,
                 replica_lag_time_max_ms: int) -> None:
        super().__init__(seed_text)
        self.durable = durable
        self.leader_config = LeaderConfig(replica_lag_time_max_ms=replica_lag_time_max_ms,
                                          min_insync_replicas=2, alter_partition_retry_ms=200)
        self.follower_config = FollowerConfig(request_timeout_ms=500, retry_backoff_ms=20,
                                              truncate_with_epoch_request=truncate_with_epoch_request)
        self.clients_active = True
        self.checker = InvariantChecker(self)
        self.controller = SimController(REPLICAS, random.Random(f"{seed_text}:controller"))
        self.controller.on_change = self._on_state_change
        self.brokers = {replica: SimBroker(replica, self) for replica in REPLICAS}
        # Called with a leader's id when it sent a follower data it has not flushed
        # (scenarios hook a power cut in there).
        self.on_unflushed_served: Callable[[int], None] = lambda broker_id: None
        self.producers: dict[int, SimProducer] = {}
        self.consumers: dict[int, SimConsumer] = {}

    def after_event(self) -> None:
        self.checker.after_event()

    # --- start -------------------------------------------------------------------------

    def start(self, producers: list[tuple[int, tuple[int, int]]]) -> None:
        for broker in self.brokers.values():
            broker.start()
        for number, (acks, interval_ms) in enumerate(producers):
            client_id = 100 + number
            self.producers[client_id] = SimProducer(
                client_id, acks, self, random.Random(f"{self.seed_text}:producer{number}"), interval_ms)
            self.producers[client_id].start()
        self.consumers[200] = SimConsumer(200, self)
        self.consumers[200].start()
        self.schedule(CONTROLLER_TICK_MS, self._controller_tick)

    def _controller_tick(self) -> None:
        self.controller.tick(self.now_ms)
        self.schedule(CONTROLLER_TICK_MS, self._controller_tick)

    # --- messages ----------------------------------------------------------------------

    def send(self, envelope: Envelope) -> None:
        for delay_ms in self.network.delays_ms(envelope.sender, envelope.recipient):
            self.schedule(delay_ms, lambda: self._deliver(envelope))

    def _deliver(self, envelope: Envelope) -> None:
        recipient = envelope.recipient
        if self.trace_all:
            self.note("deliver", envelope)
        if recipient == CONTROLLER_ID:
            self._controller_receive(envelope)
        elif recipient in self.brokers:
            broker = self.brokers[recipient]
            if broker.up and envelope.to_incarnation in (None, broker.incarnation):
                broker.receive(envelope)
        elif recipient in self.producers:
            self.producers[recipient].receive(envelope)
        elif recipient in self.consumers:
            self.consumers[recipient].receive(envelope)

    def _controller_receive(self, envelope: Envelope) -> None:
        body = envelope.body
        reply_to = envelope.sender_incarnation
        if isinstance(body, Heartbeat):
            state = self.controller.heartbeat(body.broker, body.incarnation, self.now_ms)
            self.send(Envelope(CONTROLLER_ID, envelope.sender, StateUpdate(state), 0, reply_to))
        elif isinstance(body, AlterPartitionRequest):
            result = self.controller.alter_partition(body)
            self.note("alter partition", (body.leader, sorted(body.new_isr), result.error.name))
            self.send(Envelope(CONTROLLER_ID, envelope.sender, result, 0, reply_to))
        else:
            raise AssertionError(f"controller got {body!r}")

    def _on_state_change(self, state: PartitionState) -> None:
        self.note("state", (state.leader, state.leader_epoch, sorted(state.isr), state.partition_epoch))
        self.checker.on_isr_change()
        for broker_id in self.brokers:
            self.send(Envelope(CONTROLLER_ID, broker_id, StateUpdate(state)))

    # --- faults ------------------------------------------------------------------------

    def crash(self, broker_id: int) -> None:
        broker = self.brokers[broker_id]
        if broker.up:
            # Durable runs model power cuts (the page cache is lost), lazy ones process kills.
            broker.crash(lose_page_cache=self.durable)
            self.note("crash", broker_id)

    def restart(self, broker_id: int) -> None:
        broker = self.brokers[broker_id]
        if not broker.up:
            broker.start()
            self.note("restart", (broker_id, broker.log.log_end_offset))
