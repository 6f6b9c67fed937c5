"""GlobalKTable: a table every instance holds in full, and the global task that keeps it.

`builder.global_table(topic)` reads every partition of `topic` into one
key-value store per instance (`state_dir/<application_id>/global/<store>`).
The topic is not part of the consumer group's subscription: the global task
reads it on its own consumer (`assign()`, no group), first up to its end
before any stream task processes (so the first join already sees the whole
table), then follows it. Records are applied raw, in batches, each batch
with the offsets it reaches in one atomic write (the store's checkpoint), so
a restart reads only what came after. A None value deletes the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from flowlog.client import Consumer, TopicPartition
from flowlog.client.errors import KafkaError
from flowlog.client.types import ConsumerRecord
from flowlog_streams.config import StreamsConfig
from flowlog_streams.stores.staged import StagedKeyValueStore
from flowlog_streams.table_processors import ValueGetterSupplier, store_getter
from flowlog_streams.topology import StoreSpec
from flowlog_streams.typed_stores import TimestampedKeyValueStore, encode_timestamped

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder

logger = logging.getLogger("flowlog_streams.global")

GLOBAL_POLL_RECORDS: Final = 10_000
GLOBAL_POLL_WAIT_MS: Final = 100


@attrs.frozen
class GlobalStore:
    """A global table's store and the topic that fills it."""

    spec: StoreSpec
    topic: str
    # How describe() names the source and the processor writing the store (Kafka's nodes).
    source_name: str = ""
    processor_name: str = ""


class GlobalKTable:
    def __init__(self, builder: StreamsBuilder, store_name: str, key_serde: Any,
                 value_serde: Any) -> None:
        self.builder = builder
        self.store_name = store_name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.getter: ValueGetterSupplier = store_getter(store_name)

    @property
    def queryable_store_name(self) -> str:
        return self.store_name


def checkpoint_key_of(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class GlobalStateManager:
    """Every global store of the topology, opened and restored by this instance."""

    def __init__(self, stores: Mapping[str, GlobalStore], config: StreamsConfig,
                 open_store: Callable[[StoreSpec, Path], Any]) -> None:
        self._config = config
        self.stores: dict[str, TimestampedKeyValueStore] = {}
        self._bytes: dict[str, Any] = {}
        self._store_of_topic: dict[str, str] = {}
        directory = Path(config.state_dir) / config.application_id / "global"
        for name, store in stores.items():
            spec = store.spec
            bytes_store = open_store(spec, directory / name)
            self._bytes[name] = bytes_store
            self._store_of_topic[store.topic] = name
            # Read-only for tasks: no cache, no changelog (the topic is the changelog).
            self.stores[name] = TimestampedKeyValueStore(
                StagedKeyValueStore(bytes_store), store.topic,
                spec.key_serde or config.default_key_serde,
                spec.value_serde or config.default_value_serde, None, 0,
            )

    @property
    def topics(self) -> list[str]:
        return sorted(self._store_of_topic)

    def positions(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Where reading resumes per partition: the checkpoint, or 0."""
        result = {}
        for tp in partitions:
            checkpoint = self._bytes[self._store_of_topic[tp.topic]].checkpoint()
            result[tp] = checkpoint.get(checkpoint_key_of(tp), 0)
        return result

    def apply(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Raw records into the topic's store, with the next offset, atomically."""
        if not records:
            return
        store = self._bytes[self._store_of_topic[tp.topic]]
        store.write(
            [(r.key, encode_timestamped(r.value, r.timestamp)) for r in records if r.key is not None],
            {checkpoint_key_of(tp): records[-1].offset + 1},
        )

    def close(self) -> None:
        for name, store in self._bytes.items():
            try:
                store.close()
            except Exception as error:  # close them all
                logger.warning("closing global store %s: %r", name, error)


class GlobalUpdater:
    """The global task: restore every global store to the topics' ends, then follow them."""

    def __init__(self, state: GlobalStateManager, config: StreamsConfig) -> None:
        self._state = state
        self._config = config
        self.records_applied = 0

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Started with `nursery.start`: returns to the starter once caught up, then follows."""
        options = {**self._config.consumer_config, "auto_offset_reset": "earliest",
                   "enable_auto_commit": False}
        options.pop("group_id", None)
        async with Consumer(self._config.bootstrap, **options) as consumer:
            partitions = await self._partitions(consumer)
            positions = self._state.positions(partitions)
            consumer.assign(partitions)
            for tp, position in positions.items():
                consumer.seek(tp, position)
            ends = await consumer.end_offsets(partitions)
            total = sum(max(0, ends[tp] - positions[tp]) for tp in partitions)
            logger.info("global stores: restoring %d records from %s", total,
                        ", ".join(f"{tp.topic}-{tp.partition}@{p}" for tp, p in positions.items()))
            while any(positions[tp] < ends[tp] for tp in partitions):
                await self._poll(consumer, positions)
            logger.info("global stores restored (%d records)", self.records_applied)
            task_status.started()
            while True:
                await self._poll(consumer, positions)

    async def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        result: list[TopicPartition] = []
        for topic in self._state.topics:
            for attempt in range(50):
                try:
                    ids = await consumer.partitions_for(topic)
                    break
                except KafkaError as error:
                    logger.info("global topic %s not readable yet (%s)", topic, error)
                    await trio.sleep(min(0.1 * (attempt + 1), 1.0))
            else:
                raise KafkaError(f"global table topic {topic!r} is not available")
            result.extend(TopicPartition(topic, p) for p in ids)
        return result

    async def _poll(self, consumer: Consumer, positions: dict[TopicPartition, int]) -> None:
        batches = await consumer.getmany(max_records=GLOBAL_POLL_RECORDS,
                                         timeout_ms=GLOBAL_POLL_WAIT_MS)
        for tp, records in batches.items():
            if records:
                self._state.apply(tp, records)
                self.records_applied += len(records)
        for tp in positions:
            # The fetch position, not the last record: it also steps over control records.
            state = consumer.fetcher.states.get(tp)
            if state is not None and state.position is not None:
                positions[tp] = state.position
