"""OrderedBytesBackend in memory: a dict plus its keys in a sorted list (bisect).

Inserts cost O(n) list moves, which is fine for tests and small state; large
state belongs in RocksDB.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping

from flowlog_streams.stores.api import Checkpoint
from flowlog_streams.stores.backend import (
    BytesBatch,
    StoreClosedError,
    checked_checkpoint,
    checked_metadata,
)

# A batch operation: ("put", key, value), ("delete", key, b""), ("delete_range", begin, end).
Operation = tuple[str, bytes, bytes]


class MemoryBatch:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.operations.append(("put", key, value))

    def delete(self, key: bytes) -> None:
        self.operations.append(("delete", key, b""))

    def delete_range(self, begin: bytes, end: bytes) -> None:
        self.operations.append(("delete_range", begin, end))


class MemoryBackend:
    def __init__(self, name: str) -> None:
        self.name = name
        self._values: dict[bytes, bytes] = {}
        self._sorted_keys: list[bytes] = []
        self._checkpoint: dict[str, int] = {}
        self._metadata: dict[str, int] = {}
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._values.get(key)

    def scan(self, lower: bytes | None, upper: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        first = 0 if lower is None else bisect.bisect_left(self._sorted_keys, lower)
        end = len(self._sorted_keys) if upper is None else bisect.bisect_right(self._sorted_keys, upper)
        # Copied now: a snapshot, as a RocksDB iterator is, so writes while the
        # caller iterates change nothing it sees.
        return iter([(key, self._values[key]) for key in self._sorted_keys[first:end]])

    def new_batch(self) -> BytesBatch:
        return MemoryBatch()

    def commit(
        self, batch: BytesBatch, checkpoint: Checkpoint | None, metadata: Mapping[str, int] | None = None
    ) -> None:
        assert isinstance(batch, MemoryBatch), type(batch)
        self._check_open()
        # Checked before anything changes, so a bad checkpoint writes nothing.
        new_checkpoint = None if checkpoint is None else checked_checkpoint(checkpoint)
        new_metadata = checked_metadata(metadata)
        for operation, first, second in batch.operations:
            if operation == "put":
                self._put(first, second)
            elif operation == "delete":
                self._delete(first)
            else:
                self._delete_range(first, second)
        if new_checkpoint is not None:
            self._checkpoint = new_checkpoint
        self._metadata.update(new_metadata)

    def checkpoint(self) -> dict[str, int]:
        self._check_open()
        return dict(self._checkpoint)

    def metadata(self, name: str) -> int | None:
        self._check_open()
        return self._metadata.get(name)

    def approximate_num_entries(self) -> int:
        self._check_open()
        return len(self._values)

    def flush(self) -> None:
        self._check_open()

    def close(self) -> None:
        self._closed = True

    def destroy(self) -> None:
        self._values.clear()
        self._sorted_keys.clear()
        self._checkpoint.clear()
        self._metadata.clear()
        self._closed = True

    def _put(self, key: bytes, value: bytes) -> None:
        if key not in self._values:
            bisect.insort(self._sorted_keys, key)
        self._values[key] = value

    def _delete(self, key: bytes) -> None:
        if self._values.pop(key, None) is not None:
            del self._sorted_keys[bisect.bisect_left(self._sorted_keys, key)]

    def _delete_range(self, begin: bytes, end: bytes) -> None:
        first = bisect.bisect_left(self._sorted_keys, begin)
        stop = bisect.bisect_left(self._sorted_keys, end)
        for key in self._sorted_keys[first:stop]:
            del self._values[key]
        del self._sorted_keys[first:stop]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"in-memory store {self.name} is closed")
