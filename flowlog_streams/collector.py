"""Where a task's output goes: the runtime's producer or the test driver's in-memory topics."""

from __future__ import annotations

from typing import Protocol

from flowlog_streams.processor import Headers


class RecordCollector(Protocol):
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        timestamp: int,
        partition: int | None,
    ) -> None:
        """Accept a serialized record; partition None means murmur2 of the key (sticky for no key)."""

    def send_changelog(
        self, topic: str, partition: int, key: bytes, value: bytes | None, timestamp: int
    ) -> None:
        """A store's changelog record; its offset is known after the next flush."""

    def changelog_offset(self, topic: str, partition: int) -> int | None:
        """Offset of the last changelog record sent to (topic, partition), once acknowledged."""

    def partition_count(self, topic: str) -> int:
        """The topic's partition count (for custom partitioners); raises if unknown."""
