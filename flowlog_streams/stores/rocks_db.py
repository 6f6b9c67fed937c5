"""OrderedBytesBackend on one RocksDB (rocksdict, raw bytes mode).

Data lives in the default column family, the checkpoint and metadata in the
"checkpoint" column family; commit() puts all of them in one WriteBatch, so
one WAL record carries data and checkpoint together (see resources.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from typing import cast

from rocksdict import ColumnFamily, Options, Rdict, ReadOptions, WriteBatch

from flowlog_streams.stores.api import Checkpoint
from flowlog_streams.stores.backend import (
    METADATA_MARK,
    BytesBatch,
    StoreClosedError,
    checked_checkpoint,
    checked_metadata,
)
from flowlog_streams.stores.key_schema import decode_offset, encode_offset
from flowlog_streams.stores.resources import RocksResources

CHECKPOINT_COLUMN_FAMILY = "checkpoint"
ESTIMATE_NUM_KEYS = "rocksdb.estimate-num-keys"
METADATA_PREFIX = METADATA_MARK.encode()


class RocksBatch:
    """A rocksdict WriteBatch on the data column family."""

    def __init__(self) -> None:
        self.write_batch = WriteBatch(raw_mode=True)

    def put(self, key: bytes, value: bytes) -> None:
        self.write_batch.put(key, value)

    def delete(self, key: bytes) -> None:
        self.write_batch.delete(key)

    def delete_range(self, begin: bytes, end: bytes) -> None:
        self.write_batch.delete_range(begin, end)


class RocksBackend:
    def __init__(self, path: str | os.PathLike[str], resources: RocksResources) -> None:
        self.path = os.fspath(path)
        self._options: Options = resources.options()
        self._db: Rdict | None = Rdict(
            self.path, self._options, column_families={CHECKPOINT_COLUMN_FAMILY: resources.options()}
        )
        # Both hold a reference to the database: close() drops them, else the
        # files stay locked.
        self._checkpoint_family: Rdict | None = self._db.get_column_family(CHECKPOINT_COLUMN_FAMILY)
        self._checkpoint_handle: ColumnFamily | None = self._db.get_column_family_handle(
            CHECKPOINT_COLUMN_FAMILY
        )
        self._checkpoint, self._metadata = self._read_checkpoint_family(self._checkpoint_family)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._data().get(key)
        return value

    def scan(self, lower: bytes | None, upper: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._data(), lower, upper)

    def new_batch(self) -> BytesBatch:
        return RocksBatch()

    def commit(
        self, batch: BytesBatch, checkpoint: Checkpoint | None, metadata: Mapping[str, int] | None = None
    ) -> None:
        assert isinstance(batch, RocksBatch), type(batch)
        database = self._data()
        handle = self._checkpoint_handle
        assert handle is not None
        new_checkpoint = None if checkpoint is None else checked_checkpoint(checkpoint)
        new_metadata = checked_metadata(metadata)
        write_batch = batch.write_batch
        if new_checkpoint is not None:
            for name in self._checkpoint.keys() - new_checkpoint.keys():
                write_batch.delete(name.encode(), handle)
            for name, offset in new_checkpoint.items():
                write_batch.put(name.encode(), encode_offset(offset), handle)
        for name, number in new_metadata.items():
            write_batch.put((METADATA_MARK + name).encode(), encode_offset(number), handle)
        if not write_batch.is_empty():
            # Default write options: WAL on, no fsync per batch (as Kafka Streams);
            # a process crash loses nothing, flush() makes it survive power loss.
            database.write(write_batch)
        if new_checkpoint is not None:
            self._checkpoint = new_checkpoint
        self._metadata.update(new_metadata)

    def checkpoint(self) -> dict[str, int]:
        self._data()
        return dict(self._checkpoint)

    def metadata(self, name: str) -> int | None:
        self._data()
        return self._metadata.get(name)

    def approximate_num_entries(self) -> int:
        estimate = self._data().property_int_value(ESTIMATE_NUM_KEYS)
        return 0 if estimate is None else int(estimate)

    def flush(self) -> None:
        database = self._data()
        family = self._checkpoint_family
        assert family is not None
        database.flush(wait=True)
        family.flush(wait=True)

    def close(self) -> None:
        database = self._db
        if database is None:
            return
        self._checkpoint_family = None
        self._checkpoint_handle = None
        self._db = None
        database.close()

    def destroy(self) -> None:
        self.close()
        Rdict.destroy(self.path, self._options)
        # RocksDB leaves the directory (and may leave its info LOG files).
        shutil.rmtree(self.path, ignore_errors=True)

    def _data(self) -> Rdict:
        if self._db is None:
            raise StoreClosedError(f"RocksDB store at {self.path} is closed")
        return self._db

    @staticmethod
    def _read_checkpoint_family(family: Rdict) -> tuple[dict[str, int], dict[str, int]]:
        checkpoint: dict[str, int] = {}
        metadata: dict[str, int] = {}
        # Raw mode: keys and values are bytes (rocksdict's stubs type any key).
        items = cast(Iterator[tuple[bytes, bytes]], family.items())
        for key, value in items:  # bounded: a few changelog partitions and names
            if key.startswith(METADATA_PREFIX):
                metadata[key[len(METADATA_PREFIX) :].decode()] = decode_offset(value)
            else:
                checkpoint[key.decode()] = decode_offset(value)
        return checkpoint, metadata


def _scan(database: Rdict, lower: bytes | None, upper: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    # The exclusive upper bound (the next key after upper) stops RocksDB itself
    # at the end of the range instead of reading ahead into the next one.
    # rocksdict 0.3.29 ignores ReadOptions' lower bound, so items() seeks to it.
    read_options = ReadOptions()
    if upper is not None:
        read_options.set_iterate_upper_bound(upper + b"\x00")
    # Raw mode: keys and values are bytes (rocksdict's stubs type any key).
    items = cast(Iterator[tuple[bytes, bytes]], database.items(from_key=lower, read_opt=read_options))
    for key, value in items:
        if upper is not None and key > upper:  # never true with the bound; cheap to be sure
            return
        yield key, value
