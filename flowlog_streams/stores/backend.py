"""The ordered bytes map under every store: RocksDB (rocks_db.py) or memory (memory_db.py).

The key-value, window and session stores are written once against this
interface, so the RocksDB and in-memory variants share their semantics by
construction. A backend keeps data in unsigned byte order of the keys and,
apart from it, the checkpoint (changelog offsets) and a few named integers of
store metadata (the window store's stream time), all three changed by one
atomic commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from flowlog_streams.stores.api import Checkpoint

MIN_OFFSET = -(2**63)
MAX_OFFSET = 2**63 - 1
# Metadata names live next to checkpoint entries; this first character keeps
# them apart (Kafka topic names are [a-zA-Z0-9._-]+).
METADATA_MARK = "\x00"


class StoreClosedError(RuntimeError):
    """A store was used after close() or destroy()."""


class BytesBatch(Protocol):
    """Writes applied in order by one commit."""

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def delete_range(self, begin: bytes, end: bytes) -> None:
        """Delete every key with begin <= key < end."""


class OrderedBytesBackend(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, lower: bytes | None, upper: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with lower <= key <= upper (None: unbounded), in key order, as of the call."""

    def new_batch(self) -> BytesBatch: ...

    def commit(
        self, batch: BytesBatch, checkpoint: Checkpoint | None, metadata: Mapping[str, int] | None = None
    ) -> None:
        """Apply batch and, if given, replace the checkpoint and set metadata, atomically."""

    def checkpoint(self) -> dict[str, int]: ...

    def metadata(self, name: str) -> int | None: ...

    def approximate_num_entries(self) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def destroy(self) -> None: ...


def checked_checkpoint(checkpoint: Checkpoint) -> dict[str, int]:
    """A copy of checkpoint, checked before anything is written."""
    checked: dict[str, int] = {}
    for name, offset in checkpoint.items():
        if not isinstance(name, str) or not name or name.startswith(METADATA_MARK):
            raise ValueError(f"checkpoint names are non-empty 'topic:partition' strings, got {name!r}")
        if not isinstance(offset, int) or not MIN_OFFSET <= offset <= MAX_OFFSET:
            raise ValueError(f"checkpoint offset of {name!r} must be a 64-bit int, got {offset!r}")
        checked[name] = offset
    return checked


def checked_metadata(metadata: Mapping[str, int] | None) -> dict[str, int]:
    checked: dict[str, int] = {}
    for name, number in (metadata or {}).items():
        if not name or not MIN_OFFSET <= number <= MAX_OFFSET:
            raise ValueError(f"metadata {name!r} = {number!r} out of range")
        checked[name] = number
    return checked


class BackendStore:
    """What every store does by handing on to its backend (a mixin; set `_backend`)."""

    _backend: OrderedBytesBackend

    def approximate_num_entries(self) -> int:
        return self._backend.approximate_num_entries()

    def checkpoint(self) -> dict[str, int]:
        return self._backend.checkpoint()

    def flush(self) -> None:
        self._backend.flush()

    def close(self) -> None:
        self._backend.close()

    def destroy(self) -> None:
        self._backend.destroy()
