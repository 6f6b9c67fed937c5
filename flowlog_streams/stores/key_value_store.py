"""The key-value store over any OrderedBytesBackend (RocksDB or memory)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flowlog_streams.stores.api import Checkpoint, Put
from flowlog_streams.stores.backend import BackendStore, OrderedBytesBackend
from flowlog_streams.stores.key_schema import check_key, check_value


class KeyValueStore(BackendStore):
    """KeyValueBytesStore: keys in unsigned byte order, one atomic write per batch."""

    def __init__(self, name: str, backend: OrderedBytesBackend) -> None:
        self.name = name
        self._backend = backend

    def get(self, key: bytes) -> bytes | None:
        check_key(key)
        return self._backend.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        self.write([(key, value)])

    def write(self, puts: Iterable[Put], checkpoint: Checkpoint | None = None) -> None:
        batch = self._backend.new_batch()
        for key, value in puts:  # bounded by the caller's batch
            # Checked while building: a bad entry raises before anything is written.
            check_key(key)
            check_value(value)
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._backend.commit(batch, checkpoint)

    def range(self, from_key: bytes | None, to_key: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        if from_key is not None:
            check_key(from_key)
        if to_key is not None:
            check_key(to_key)
        if from_key is not None and to_key is not None and from_key > to_key:
            return iter(())
        return self._backend.scan(from_key, to_key)

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self._backend.scan(None, None)
