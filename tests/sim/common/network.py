"""The simulated network of both simulations: seeded drops, delays (so reordering),
duplicates, one-way link cuts and partitions. A message's fate is decided when it is
sent."""

from __future__ import annotations

import random
from collections.abc import Iterable

import attrs


@attrs.define
class LinkFaults:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_ms_min: int = 1
    delay_ms_max: int = 10

    @classmethod
    def reliable(cls) -> LinkFaults:
        return cls(0.0, 0.0, 1, 5)

    @classmethod
    def random(cls, rng: random.Random) -> LinkFaults:
        delay_ms_max = rng.choice([5, 20, 50, 120])
        return cls(rng.choice([0.0, 0.05, 0.2, 0.4]), rng.choice([0.0, 0.05, 0.2]), 1, delay_ms_max)


class SimNetwork:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.faults = LinkFaults()
        # Directed (sender, recipient) links that deliver nothing.
        self.cut_links: set[tuple[int, int]] = set()

    def delays_ms(self, sender: int, recipient: int) -> list[int]:
        """When copies of a message arrive: none (dropped or cut), one, or two."""
        if (sender, recipient) in self.cut_links or self._rng.random() < self.faults.drop_rate:
            return []
        copies = 2 if self._rng.random() < self.faults.duplicate_rate else 1
        return [
            self._rng.randint(self.faults.delay_ms_min, self.faults.delay_ms_max)
            for _ in range(copies)
        ]

    def partition(self, groups: list[set[int]]) -> None:
        """Only nodes of the same group talk to each other."""
        self.cut_links = {
            (a, b)
            for group in groups
            for other in groups
            if other is not group
            for a in group
            for b in other
        }

    def split(self, rng: random.Random, node_ids: Iterable[int]) -> None:
        """A random two-way partition, both sides non-empty."""
        shuffled = list(node_ids)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(shuffled) - 1)
        self.partition([set(shuffled[:cut]), set(shuffled[cut:])])

    def isolate(self, node_id: int, node_ids: Iterable[int]) -> None:
        """node_id talks to none of the others, which still talk among themselves."""
        self.partition([{node_id}, set(node_ids) - {node_id}])

    def cut(self, sender: int, recipient: int) -> None:
        self.cut_links.add((sender, recipient))

    def heal(self) -> None:
        self.cut_links = set()

    def calm(self) -> None:
        """Every link up and reliable: how a liveness phase starts."""
        self.heal()
        self.faults = LinkFaults.reliable()
