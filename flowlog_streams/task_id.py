"""Task identity: one partition index of one sub-topology, printed as Kafka Streams does ("0_1")."""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True, order=True)
class TaskId:
    subtopology: int
    partition: int

    def __str__(self) -> str:
        return f"{self.subtopology}_{self.partition}"

    @classmethod
    def parse(cls, text: str) -> TaskId:
        """Inverse of str(): "0_1" -> TaskId(0, 1); a clear ValueError otherwise."""
        head, sep, tail = text.partition("_")
        if not sep or not head.isdigit() or not tail.isdigit():
            raise ValueError(f"not a task id: {text!r} (expected '<subtopology>_<partition>')")
        return cls(int(head), int(tail))
