"""A task's state stores: opened under state_dir, changelogged, checkpointed, restored.

Store files live in `state_dir/<application_id>/<task_id>/<store>`. Each
store's changelog partition is the task's partition of
`<application_id>-<store>-changelog`. At commit (after the producer flushed
the changelog records) `checkpoint()` applies each store's staged writes
together with the offset after its last changelog record, in one atomic
write. `restore_batch()` applies raw changelog records the same way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flowlog.client.types import ConsumerRecord, TopicPartition
from flowlog_streams.collector import RecordCollector
from flowlog_streams.config import StreamsConfig
from flowlog_streams.errors import StreamsException
from flowlog_streams.stores.staged import (
    StagedKeyValueStore,
    StagedSessionStore,
    StagedWindowStore,
)
from flowlog_streams.task_id import TaskId
from flowlog_streams.topics import TopicResolution
from flowlog_streams.topology import KEY_VALUE, WINDOW, StoreSpec
from flowlog_streams.typed_stores import (
    TimestampedKeyValueStore,
    TimestampedSessionStore,
    TimestampedWindowStore,
    encode_timestamped,
    split_session_changelog_key,
    split_window_changelog_key,
)

logger = logging.getLogger("flowlog_streams.state")

StoreFactory = Callable[[StoreSpec, Path], Any]


def checkpoint_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class _Store:
    """One store of one task: its layers and where its changelog is."""

    def __init__(self, spec: StoreSpec, bytes_store: Any, staged: Any, typed: Any,
                 changelog: TopicPartition | None) -> None:
        self.spec = spec
        self.bytes_store = bytes_store
        self.staged = staged
        self.typed = typed
        self.changelog = changelog


class TaskStateManager:
    def __init__(
        self,
        task_id: TaskId,
        specs: Iterable[StoreSpec],
        topics: TopicResolution,
        config: StreamsConfig,
        collector: RecordCollector,
        open_store: StoreFactory,
    ) -> None:
        self.task_id = task_id
        self._collector = collector
        self.directory = Path(config.state_dir) / config.application_id / str(task_id)
        self.stores: dict[str, _Store] = {}
        self._topics = topics
        self._config = config
        self._open_store = open_store
        specs = list(specs)
        self._per_store_cache = config.cache_max_bytes // max(len(specs), 1)
        # Changelog partition -> the offset an active task's restore stops at (source tables).
        self.restore_limits: dict[TopicPartition, int] = {}
        for spec in specs:
            self.stores[spec.name] = self._build(spec)

    def _build(self, spec: StoreSpec) -> _Store:
        config = self._config
        changelog = (
            TopicPartition(self._topics.decorate(spec.changelog), self.task_id.partition)
            if spec.logging else None
        )
        bytes_store = self._open_store(spec, self.directory / spec.name)
        send = (
            self._changelog_sender(changelog)
            if changelog is not None and spec.source_topic is None else None
        )
        key_serde = spec.key_serde or config.default_key_serde
        value_serde = spec.value_serde or config.default_value_serde
        cache = self._per_store_cache if spec.caching else 0
        topic = changelog.topic if changelog is not None else spec.name
        typed: Any
        staged: Any
        if spec.kind == KEY_VALUE:
            staged = StagedKeyValueStore(bytes_store)
            typed = TimestampedKeyValueStore(staged, topic, key_serde, value_serde, send, cache)
        elif spec.kind == WINDOW:
            staged = StagedWindowStore(bytes_store)
            typed = TimestampedWindowStore(staged, topic, key_serde, value_serde, send, cache)
        else:
            staged = StagedSessionStore(bytes_store)
            typed = TimestampedSessionStore(staged, topic, key_serde, value_serde, send, cache)
        return _Store(spec, bytes_store, staged, typed, changelog)

    def _changelog_sender(self, tp: TopicPartition) -> Callable[[bytes, bytes | None, int], None]:
        send = self._collector.send_changelog
        topic, partition = tp.topic, tp.partition

        def sender(key: bytes, value: bytes | None, timestamp: int) -> None:
            send(topic, partition, key, value, timestamp)

        return sender

    def get(self, name: str) -> Any:
        store = self.stores.get(name)
        if store is None:
            raise StreamsException(
                f"task {self.task_id} has no store {name!r}; it has {sorted(self.stores)}"
            )
        return store.typed

    # ---------------------------------------------------------------- commit

    def flush_caches(self) -> None:
        """Emit and stage what the record caches hold (before the producer is flushed)."""
        for store in self.stores.values():
            store.typed.flush_cache()

    def checkpoint(self, source_positions: Mapping[TopicPartition, int] | None = None) -> None:
        """After the producer flushed: staged writes + changelog offsets, one atomic write each.

        A source table's store checkpoints the task's position in its source topic."""
        for store in self.stores.values():
            offsets = None
            changelog = store.changelog
            if changelog is not None and store.spec.source_topic is not None:
                position = (source_positions or {}).get(changelog)
                if position is not None:
                    offsets = {checkpoint_key(changelog): position}
            elif changelog is not None:
                last = self._collector.changelog_offset(changelog.topic, changelog.partition)
                if last is not None:
                    offsets = {checkpoint_key(changelog): last + 1}
            store.staged.apply(offsets)

    # ---------------------------------------------------------------- restore

    def source_changelogs(self) -> list[TopicPartition]:
        """The changelogs that are the task's own input partitions (source tables)."""
        return [store.changelog for store in self.stores.values()
                if store.changelog is not None and store.spec.source_topic is not None]

    def limit_source_restores(self, committed: Mapping[TopicPartition, int]) -> None:
        """An active task restores a source table only up to the group's committed
        offset of that input partition, never to the topic's end (Kafka Streams'
        StoreChangelogReader). The records after it are processed again from the
        input, each against the table as it was before it: restored past them, a
        re-processed delete would find the row already gone and emit no retraction.
        A local copy already past that offset (a checkpoint whose offset commit
        failed) is wiped now, before the task's processors take their stores."""
        self.restore_limits = {tp: committed.get(tp, 0) for tp in self.source_changelogs()}
        starts = self.restore_offsets()
        for tp, limit in self.restore_limits.items():
            if starts.get(tp, 0) > limit:
                self.reset(tp)

    def restore_offsets(self) -> dict[TopicPartition, int]:
        """Per changelog partition: where restoring starts (0 without a valid checkpoint)."""
        starts: dict[TopicPartition, int] = {}
        for store in self.stores.values():
            if store.changelog is None:
                continue
            checkpoint = store.bytes_store.checkpoint()
            starts[store.changelog] = checkpoint.get(checkpoint_key(store.changelog), 0)
        return starts

    def reset(self, changelog: TopicPartition) -> None:
        """The local copy cannot be trusted (e.g. its checkpoint is past the changelog's end):
        delete it and open an empty store, to be restored from the changelog's start."""
        for name, store in list(self.stores.items()):
            if store.changelog == changelog:
                logger.warning("task %s: store %s is wiped and restored from scratch",
                               self.task_id, name)
                listener = store.typed.listener
                store.bytes_store.destroy()
                self.stores[name] = self._build(store.spec)
                self.stores[name].typed.listener = listener

    def restore_batch(self, changelog: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Raw changelog records into the store, with the offset after the last one, atomically."""
        store = next(s for s in self.stores.values() if s.changelog == changelog)
        checkpoint = {checkpoint_key(changelog): records[-1].offset + 1}
        if store.spec.kind == KEY_VALUE and store.spec.source_topic is not None:
            # The user's topic holds plain values: stamp them as the store keeps them.
            store.bytes_store.write(
                [(r.key, encode_timestamped(r.value, r.timestamp)) for r in records
                 if r.key is not None],
                checkpoint,
            )
        elif store.spec.kind == KEY_VALUE:
            store.bytes_store.write([(r.key, r.value) for r in records if r.key is not None],
                                    checkpoint)
        elif store.spec.kind == WINDOW:
            puts = []
            for record in records:
                if record.key is None or len(record.key) < 8:
                    continue
                key, start = split_window_changelog_key(record.key)
                puts.append((key, start, record.value))
            store.bytes_store.write(puts, checkpoint)
            store.staged.refresh()  # the bytes store's stream time moved on
        else:
            sessions = []
            for record in records:
                if record.key is None or len(record.key) < 16:
                    continue
                key, start, end = split_session_changelog_key(record.key)
                sessions.append((key, start, end, record.value))
            store.bytes_store.write(sessions, checkpoint)
            store.staged.refresh()

    # ---------------------------------------------------------------- close

    def close(self) -> None:
        for store in self.stores.values():
            try:
                store.bytes_store.close()
            except Exception as error:  # close them all, report each
                logger.warning("closing store %s of task %s: %r", store.spec.name, self.task_id, error)

    def destroy_local_state(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)
