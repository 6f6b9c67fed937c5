"""Opening a task's bytes store for a StoreSpec: RocksDB (the default) or in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowlog_streams.state_manager import StoreFactory
from flowlog_streams.stores import (
    InMemoryKeyValueStore,
    InMemorySessionStore,
    InMemoryWindowStore,
    RocksKeyValueStore,
    RocksResources,
    RocksSessionStore,
    RocksWindowStore,
)
from flowlog_streams.topology import KEY_VALUE, WINDOW, StoreSpec


def store_opener(resources: RocksResources | None) -> StoreFactory:
    """A factory for TaskStateManager; RocksDB stores share `resources` (one memory budget)."""

    def open_store(spec: StoreSpec, path: Path) -> Any:
        if spec.in_memory or resources is None:
            if spec.kind == KEY_VALUE:
                return InMemoryKeyValueStore(spec.name)
            if spec.kind == WINDOW:
                return InMemoryWindowStore(spec.name, spec.retention_ms)
            return InMemorySessionStore(spec.name, spec.retention_ms)
        path.mkdir(parents=True, exist_ok=True)
        if spec.kind == KEY_VALUE:
            return RocksKeyValueStore(spec.name, path, resources)
        if spec.kind == WINDOW:
            return RocksWindowStore(spec.name, path, resources, spec.retention_ms)
        return RocksSessionStore(spec.name, path, resources, spec.retention_ms)

    return open_store
