"""The simulated network: seeded drops, delays (so reordering), duplicates and one-way
link cuts. A message's fate is decided when it is sent."""

from __future__ import annotations

import random

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

    def cut(self, sender: int, recipient: int) -> None:
        self.cut_links.add((sender, recipient))

    def heal(self) -> None:
        self.cut_links = set()
