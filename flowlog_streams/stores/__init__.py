"""Bytes-level state stores: RocksDB (one shared memory budget) and in-memory.

Interfaces in api.py; RocksDB stores take a RocksResources shared by the
whole process.
"""

from flowlog_streams.stores.api import (
    Checkpoint,
    KeyValueBytesStore,
    Put,
    SessionBytesStore,
    WindowBytesStore,
)
from flowlog_streams.stores.backend import StoreClosedError
from flowlog_streams.stores.memory import (
    InMemoryKeyValueStore,
    InMemorySessionStore,
    InMemoryWindowStore,
)
from flowlog_streams.stores.resources import ResourceStatistics, RocksResources
from flowlog_streams.stores.retention import default_segment_interval_ms
from flowlog_streams.stores.rocks_kv import RocksKeyValueStore
from flowlog_streams.stores.rocks_session import RocksSessionStore
from flowlog_streams.stores.rocks_window import RocksWindowStore

__all__ = [
    "Checkpoint",
    "InMemoryKeyValueStore",
    "InMemorySessionStore",
    "InMemoryWindowStore",
    "KeyValueBytesStore",
    "Put",
    "ResourceStatistics",
    "RocksKeyValueStore",
    "RocksResources",
    "RocksSessionStore",
    "RocksWindowStore",
    "SessionBytesStore",
    "StoreClosedError",
    "WindowBytesStore",
    "default_segment_interval_ms",
]
