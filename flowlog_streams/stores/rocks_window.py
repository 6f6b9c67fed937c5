"""Window store on RocksDB: one database, segments as key prefixes (key_schema.window_key)."""

from __future__ import annotations

import os

from flowlog_streams.stores.resources import RocksResources
from flowlog_streams.stores.rocks_db import RocksBackend
from flowlog_streams.stores.window_store import WindowStore


class RocksWindowStore(WindowStore):
    """Kafka Streams keeps one RocksDB per segment and deletes a dead one's files. Here one
    database keeps one set of files and budget; a range delete hides a dead segment at
    once (one tombstone, whatever it holds) and compaction reclaims its space later.
    """

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        resources: RocksResources,
        retention_ms: int,
        segment_interval_ms: int | None = None,
    ) -> None:
        super().__init__(name, RocksBackend(path, resources), retention_ms, segment_interval_ms)
