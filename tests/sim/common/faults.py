"""Timed fault injection: every few ms (seeded) a fault is drawn by weight from the
scenario's mix and applied, until the safety phase ends. What each fault does is the
simulation's own (`apply`)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar

from .loop import SimLoop


class FaultMix(Protocol):
    """What a scenario of either simulation says about its timed faults."""

    @property
    def faults(self) -> Mapping[str, int]: ...  # fault name -> weight

    @property
    def fault_interval_ms(self) -> tuple[int, int]: ...


ClusterT = TypeVar("ClusterT", bound=SimLoop)
ScenarioT = TypeVar("ScenarioT", bound=FaultMix)


class TimedFaults(Generic[ClusterT, ScenarioT]):
    # Whether a fault's "fault <name>" note comes before the events it causes or after
    # them: each simulation keeps the trace order its seeds have always had.
    NOTE_FIRST = True

    def __init__(self, cluster: ClusterT, rng: random.Random, scenario: ScenarioT) -> None:
        self.cluster = cluster
        self.rng = rng
        self.scenario = scenario
        self.active = True

    def start(self) -> None:
        self._schedule_next()

    def stop(self) -> None:
        self.active = False

    def apply(self, name: str) -> None:
        raise NotImplementedError

    def heal(self) -> None:
        """The one fault both simulations have alike: every link back."""
        self.cluster.network.heal()

    def _schedule_next(self) -> None:
        self.cluster.schedule(self.rng.randint(*self.scenario.fault_interval_ms), self._inject)

    def _inject(self) -> None:
        if not self.active:
            return
        weights = self.scenario.faults
        names = sorted(weights)
        name = self.rng.choices(names, weights=[weights[n] for n in names])[0]
        if self.NOTE_FIRST:
            self.cluster.note(f"fault {name}")
        self.apply(name)
        if not self.NOTE_FIRST:
            self.cluster.note(f"fault {name}")
        self._schedule_next()
