"""Interactive queries: read-only views of an instance's local stores, and who owns a key.

    counts = app.store("views-per-page")          # every local task's "views-per-page"
    counts.get("/home"); list(counts.range("/a", "/m")); counts.approximate_num_entries()
    app.store("views-per-minute").fetch("/home", time_from_ms, time_to_ms)
    app.metadata_for_key("views-per-page", "/home")   # KeyQueryMetadata(host, partition)

Views read through the record cache, so they see the latest updates, and
never flush it. Only tasks that have finished restoring are queried. A key
lives in one task; `metadata_for_key` says which instance (its
`application_server`) holds that task, so a front end can route the query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs

from flowlog_streams.errors import StreamsException
from flowlog_streams.typed_stores import TimestampedKeyValueStore, TimestampedWindowStore


class InvalidStateStoreError(StreamsException):
    """The store is not (or not yet) queryable here: unknown name, or the app is not running."""


@attrs.frozen
class KeyQueryMetadata:
    """Where a key lives: the partition (= task) and the host running it, if known."""

    partition: int
    active_host: str | None


class ReadOnlyKeyValueView:
    def __init__(self, name: str, stores: Callable[[], list[TimestampedKeyValueStore]]) -> None:
        self.name = name
        self._stores = stores

    def get(self, key: Any) -> Any:
        for store in self._stores():
            value = store.get(key)
            if value is not None:
                return value
        return None

    def range(self, from_key: Any = None, to_key: Any = None) -> Iterator[tuple[Any, Any]]:
        """Every local task's entries in [from_key, to_key] (each task's in key order)."""
        for store in self._stores():
            yield from store.range(from_key, to_key)

    def all(self) -> Iterator[tuple[Any, Any]]:
        return self.range()

    def approximate_num_entries(self) -> int:
        return sum(store.approximate_num_entries() for store in self._stores())


class ReadOnlyWindowView:
    def __init__(self, name: str, stores: Callable[[], list[TimestampedWindowStore]]) -> None:
        self.name = name
        self._stores = stores

    def fetch(self, key: Any, time_from_ms: int, time_to_ms: int) -> list[tuple[int, Any]]:
        """(window start, value) of `key`'s windows starting in [time_from, time_to]."""
        found: list[tuple[int, Any]] = []
        for store in self._stores():
            found.extend(store.fetch_range(key, time_from_ms, time_to_ms))
        return sorted(found, key=lambda pair: pair[0])

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[Any, int, Any]]:
        for store in self._stores():
            yield from store.fetch_all(time_from_ms, time_to_ms)

    def approximate_num_entries(self) -> int:
        return sum(store.approximate_num_entries() for store in self._stores())
