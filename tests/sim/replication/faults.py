"""Fault injection for the replication simulation, drawn on a seeded timer."""

from __future__ import annotations

import random
from collections.abc import Callable

from flowlog.replication.messages import NO_LEADER

from ..common.faults import TimedFaults
from ..common.network import LinkFaults
from .cluster import SimCluster
from .scenarios import Scenario
from .wire import CONTROLLER_ID

BLIP_RESTART_DELAY_MS = (0, 30)


def random_links(rng: random.Random) -> LinkFaults:
    """Link quality for a while. Kafka runs on TCP, so a drop stands for a broken
    connection; kept rarer than in the Raft simulation so acks=all often succeeds."""
    return LinkFaults(rng.choice([0.0, 0.01, 0.05, 0.15]), rng.choice([0.0, 0.0, 0.02]), 1,
                      rng.choice([5, 20, 50]))


class FaultInjector(TimedFaults[SimCluster, Scenario]):
    def start(self) -> None:
        super().start()
        if self.scenario.power_cut_after_serve_rate:
            self.cluster.on_unflushed_served = self._maybe_power_cut

    def stop(self) -> None:
        super().stop()
        self.cluster.on_unflushed_served = lambda broker_id: None

    def _maybe_power_cut(self, broker_id: int) -> None:
        if self.active and self.rng.random() < self.scenario.power_cut_after_serve_rate:
            self.cluster.crash(broker_id)
            self.cluster.schedule(self.rng.randint(*BLIP_RESTART_DELAY_MS),
                                  lambda: self.cluster.restart(broker_id))

    def apply(self, name: str) -> None:
        FAULTS[name](self)

    def _leader(self) -> int | None:
        leader = self.cluster.controller.state.leader
        return None if leader == NO_LEADER else leader

    def partition(self) -> None:
        self.cluster.network.split(self.rng, [CONTROLLER_ID, *sorted(self.cluster.brokers)])

    def isolate_leader(self) -> None:
        leader = self._leader()
        if leader is not None:
            self.cluster.network.isolate(leader, [CONTROLLER_ID, *self.cluster.brokers])

    def stale_leader(self) -> None:
        """The leader loses the controller but keeps its followers: it is fenced and
        replaced while it still serves whoever has not heard."""
        leader = self._leader()
        if leader is not None:
            self.cluster.network.cut(leader, CONTROLLER_ID)
            self.cluster.network.cut(CONTROLLER_ID, leader)

    def links(self) -> None:
        self.cluster.network.faults = random_links(self.rng)

    def crash(self) -> None:
        up = [b for b, broker in sorted(self.cluster.brokers.items()) if broker.up]
        if up:
            self.cluster.crash(self.rng.choice(up))

    def crash_leader(self) -> None:
        leader = self._leader()
        if leader is not None:
            self.cluster.crash(leader)

    def blip(self) -> None:
        up = [b for b, broker in sorted(self.cluster.brokers.items()) if broker.up]
        if up:
            broker_id = self.rng.choice(up)
            self.cluster.crash(broker_id)
            self.cluster.schedule(self.rng.randint(*BLIP_RESTART_DELAY_MS),
                                  lambda: self.cluster.restart(broker_id))

    def restart(self) -> None:
        down = [b for b, broker in sorted(self.cluster.brokers.items()) if not broker.up]
        if down:
            self.cluster.restart(self.rng.choice(down))

    def move_leader(self) -> None:
        self.cluster.controller.move_leader()


FAULTS: dict[str, Callable[[FaultInjector], None]] = {
    "partition": FaultInjector.partition,
    "isolate_leader": FaultInjector.isolate_leader,
    "stale_leader": FaultInjector.stale_leader,
    "heal": FaultInjector.heal,
    "links": FaultInjector.links,
    "crash": FaultInjector.crash,
    "crash_leader": FaultInjector.crash_leader,
    "blip": FaultInjector.blip,
    "restart": FaultInjector.restart,
    "move_leader": FaultInjector.move_leader,
}
