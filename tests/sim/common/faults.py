"""Timed fault injection: every few ms (seeded) a fault is drawn by weight from the
scenario's mix and applied, until the safety phase ends. What each fault does is the
simulation's own (`apply`)."""

from __future__ import annotations

import random
from collections.abc import Mapping

from .loop import SimLoop


class TimedFaults:
    # Whether a fault's "fault <name>" note comes before the events it causes or after
    # them: each simulation keeps the trace order its seeds have always had.
    NOTE_FIRST = True

    def __init__(self, loop: SimLoop, rng: random.Random, weights: Mapping[str, int],
                 interval_ms: tuple[int, int]) -> None:
        self.loop = loop
        self.rng = rng
        self.weights = weights
        self.interval_ms = interval_ms
        self.active = True

    def start(self) -> None:
        self._schedule_next()

    def stop(self) -> None:
        self.active = False

    def apply(self, name: str) -> None:
        raise NotImplementedError

    def _schedule_next(self) -> None:
        self.loop.schedule(self.rng.randint(*self.interval_ms), self._inject)

    def _inject(self) -> None:
        if not self.active:
            return
        names = sorted(self.weights)
        name = self.rng.choices(names, weights=[self.weights[n] for n in names])[0]
        if self.NOTE_FIRST:
            self.loop.note(f"fault {name}")
        self.apply(name)
        if not self.NOTE_FIRST:
            self.loop.note(f"fault {name}")
        self._schedule_next()
