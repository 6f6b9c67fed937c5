"""One process-wide RocksDB memory budget shared by every store.

Each RocksDB instance would otherwise get its own block cache and memtables,
so memory grows with the number of stores and, through memtables and table
readers, with the number of keys. Here every store shares one block cache and
one write-buffer manager whose memtable memory is charged to that cache, the
bounded-memory recipe of Kafka Streams' docs (`RocksDBConfigSetter`).
"""

from __future__ import annotations

import attrs
from rocksdict import (
    BlockBasedIndexType,
    BlockBasedOptions,
    Cache,
    DBCompactionStyle,
    DBCompressionType,
    DBRecoveryMode,
    Options,
    WriteBufferManager,
)

MIB = 1024 * 1024
DEFAULT_CACHE_BYTES = 64 * MIB
# Memtables may take this share of the budget; the rest caches blocks,
# index and filter blocks.
WRITE_BUFFER_SHARE_DIVISOR = 4
# One memtable of one store; small so flushes start early and many stores fit.
WRITE_BUFFER_BYTES_PER_STORE = 4 * MIB
MAX_WRITE_BUFFERS_PER_STORE = 3
DEFAULT_MAX_OPEN_FILES_PER_STORE = 64
# Background flushes and compactions per store; the machine may have few cores.
MAX_BACKGROUND_JOBS = 2
# Bounds the WAL on disk: past it RocksDB flushes the column families it pins.
MAX_TOTAL_WAL_BYTES = 64 * MIB
INFO_LOG_FILES_KEPT = 2
INFO_LOG_FILE_BYTES = 1 * MIB


class ResourcesClosedError(RuntimeError):
    """options() on closed RocksResources."""


@attrs.frozen
class ResourceStatistics:
    cache_capacity_bytes: int
    cache_usage_bytes: int
    cache_pinned_bytes: int
    write_buffer_budget_bytes: int
    write_buffer_usage_bytes: int


class RocksResources:
    """The shared block cache and write-buffer budget; pass one to every RocksDB store."""

    def __init__(
        self,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        *,
        max_open_files_per_store: int = DEFAULT_MAX_OPEN_FILES_PER_STORE,
    ) -> None:
        if cache_bytes < MIB:
            raise ValueError(f"cache_bytes must be at least 1 MiB, got {cache_bytes}")
        if max_open_files_per_store < 16:
            raise ValueError(f"max_open_files_per_store must be at least 16, got {max_open_files_per_store}")
        self.cache_bytes = cache_bytes
        self.write_buffer_bytes = cache_bytes // WRITE_BUFFER_SHARE_DIVISOR
        self.max_open_files_per_store = max_open_files_per_store
        self._cache: Cache | None = Cache(cache_bytes)
        # Charged to the cache: memtable memory evicts cached blocks instead of
        # adding to them, so cache + memtables stay within cache_bytes. No stall
        # (as Kafka Streams' recipe): a stalled writer could wait on memtables of
        # another store that is not writing, so instead the manager makes the
        # writing store flush early.
        self._write_buffer_manager: WriteBufferManager | None = (
            WriteBufferManager.new_write_buffer_manager_with_cache(
                self.write_buffer_bytes, False, self._cache
            )
        )

    def options(self) -> Options:
        """Options for one store's database or column family, bound to the shared budget."""
        if self._cache is None or self._write_buffer_manager is None:
            raise ResourcesClosedError("RocksResources is closed")
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        options.set_block_based_table_factory(self._table_options(self._cache))
        options.set_write_buffer_manager(self._write_buffer_manager)
        options.set_write_buffer_size(min(WRITE_BUFFER_BYTES_PER_STORE, self.write_buffer_bytes))
        options.set_max_write_buffer_number(MAX_WRITE_BUFFERS_PER_STORE)
        options.set_compaction_style(DBCompactionStyle.level())
        options.set_level_compaction_dynamic_level_bytes(True)
        options.set_compression_type(DBCompressionType.lz4())
        options.set_max_open_files(self.max_open_files_per_store)
        options.set_max_background_jobs(MAX_BACKGROUND_JOBS)
        options.set_keep_log_file_num(INFO_LOG_FILES_KEPT)
        options.set_max_log_file_size(INFO_LOG_FILE_BYTES)
        options.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES)
        # Crash safety: the WAL stays on (never WriteOptions.disable_wal). A
        # store's data and its checkpoint go in one WriteBatch, which the WAL
        # records as one unit; point-in-time recovery replays whole batches only
        # and drops a torn tail, so after a crash data and checkpoint agree.
        options.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
        # Data and checkpoint column families reach SST files in the same flush,
        # so they agree even in the files alone (without the WAL).
        options.set_atomic_flush(True)
        return options

    def statistics(self) -> ResourceStatistics:
        if self._cache is None or self._write_buffer_manager is None:
            raise ResourcesClosedError("RocksResources is closed")
        return ResourceStatistics(
            cache_capacity_bytes=self.cache_bytes,
            cache_usage_bytes=self._cache.get_usage(),
            cache_pinned_bytes=self._cache.get_pinned_usage(),
            write_buffer_budget_bytes=self._write_buffer_manager.get_buffer_size(),
            write_buffer_usage_bytes=self._write_buffer_manager.get_usage(),
        )

    def close(self) -> None:
        """Release the budget; stores still open keep it alive until they close."""
        self._cache = None
        self._write_buffer_manager = None

    @staticmethod
    def _table_options(cache: Cache) -> BlockBasedOptions:
        table = BlockBasedOptions()
        table.set_block_cache(cache)
        # Index and filter blocks live in the cache too, so they count against
        # the budget instead of growing with the number of SST files.
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_top_level_index_and_filter(True)
        table.set_index_type(BlockBasedIndexType.two_level_index_search())
        table.set_partition_filters(True)
        table.set_bloom_filter(10, False)
        table.set_format_version(5)
        return table
