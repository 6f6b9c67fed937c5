"""In-memory stores, for tests and small state: the same classes as the RocksDB
stores over a sorted in-memory map, so their semantics are the same by construction."""

from __future__ import annotations

from flowlog_streams.stores.key_value_store import KeyValueStore
from flowlog_streams.stores.memory_db import MemoryBackend
from flowlog_streams.stores.session_store import SessionStore
from flowlog_streams.stores.window_store import WindowStore


class InMemoryKeyValueStore(KeyValueStore):
    def __init__(self, name: str) -> None:
        super().__init__(name, MemoryBackend(name))


class InMemoryWindowStore(WindowStore):
    def __init__(self, name: str, retention_ms: int, segment_interval_ms: int | None = None) -> None:
        super().__init__(name, MemoryBackend(name), retention_ms, segment_interval_ms)


class InMemorySessionStore(SessionStore):
    def __init__(self, name: str, retention_ms: int, segment_interval_ms: int | None = None) -> None:
        super().__init__(name, MemoryBackend(name), retention_ms, segment_interval_ms)
