"""Key-value store on RocksDB: data and changelog checkpoint in one database."""

from __future__ import annotations

import os

from flowlog_streams.stores.key_value_store import KeyValueStore
from flowlog_streams.stores.resources import RocksResources
from flowlog_streams.stores.rocks_db import RocksBackend


class RocksKeyValueStore(KeyValueStore):
    """Data in the default column family, checkpoint in "checkpoint", written by one WriteBatch."""

    def __init__(self, name: str, path: str | os.PathLike[str], resources: RocksResources) -> None:
        super().__init__(name, RocksBackend(path, resources))
