"""Session store on RocksDB: one database, segments of session end as key prefixes."""

from __future__ import annotations

import os

from flowlog_streams.stores.resources import RocksResources
from flowlog_streams.stores.rocks_db import RocksBackend
from flowlog_streams.stores.session_store import SessionStore


class RocksSessionStore(SessionStore):
    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        resources: RocksResources,
        retention_ms: int,
        segment_interval_ms: int | None = None,
    ) -> None:
        super().__init__(name, RocksBackend(path, resources), retention_ms, segment_interval_ms)
