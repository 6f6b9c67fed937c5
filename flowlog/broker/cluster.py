"""The broker's view of cluster metadata: one writer, serialised, kept in step with the disk.

Every change runs the same path: the controller core turns a request into
records, the metadata store makes them durable and replays them, and the
replica manager opens or removes partitions to match. A trio lock makes the
writers take turns, so each operation sees all earlier ones.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import TypeVar

import trio

from flowlog.broker.config import BrokerConfig
from flowlog.broker.replica_manager import PartitionSpec, ReplicaManager
from flowlog.controller.controller_api import (
    AlterConfigsResource,
    ConfigResourceResult,
    ControllerDefaults,
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    IncrementalAlterConfigsResource,
    NewPartitions,
    NewTopic,
    OperationResult,
)
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_state import MetadataState
from flowlog.controller.metadata_store import MetadataStore
from flowlog.protocol.errors import ErrorCode
from flowlog.storage.config import LogConfig

ResultT = TypeVar("ResultT")

# Producer ids are handed out in blocks so a restart never reuses one (Kafka uses 1000).
PRODUCER_ID_BLOCK_SIZE = 1000


class ClusterMetadata:
    def __init__(self, config: BrokerConfig, replicas: ReplicaManager) -> None:
        self.config = config
        self.replicas = replicas
        self._store: MetadataStore | None = None
        self._core: ControllerCore | None = None
        self._lock = trio.Lock()
        self._random = random.Random(os.urandom(16))
        self._producer_ids: range = range(0)

    def open(self) -> None:
        self._store = MetadataStore.open(self.config.data_dir)
        self._core = ControllerCore(
            self._store.state,
            self._random,
            ControllerDefaults(
                num_partitions=self.config.num_partitions,
                default_replication_factor=self.config.default_replication_factor,
            ),
        )
        self._sync_replicas()

    @property
    def state(self) -> MetadataState:
        assert self._store is not None, "metadata is not open"
        return self._store.state

    @property
    def core(self) -> ControllerCore:
        assert self._core is not None, "metadata is not open"
        return self._core

    def topic_log_config(self, topic: str) -> LogConfig:
        overrides = self.state.topic_config_overrides(topic)
        return LogConfig.from_kafka(overrides, base=self.config.default_log_config)

    def _sync_replicas(self) -> None:
        """Open and close local partitions to match the metadata."""
        state = self.state
        wanted = []
        for topic in state.topics():
            config = self.topic_log_config(topic.name)
            for info in state.partitions(topic.topic_id):
                if self.config.node_id in info.replicas:
                    wanted.append(PartitionSpec(
                        topic=topic.name, topic_id=topic.topic_id, index=info.partition,
                        leader_epoch=info.leader_epoch, config=config,
                    ))
        self.replicas.sync(wanted)

    async def _apply(self, operation: OperationResult[ResultT]) -> tuple[ResultT, ...]:
        assert self._store is not None
        if operation.records:
            # fsync of the metadata log: off the event loop.
            await trio.to_thread.run_sync(self._store.apply, list(operation.records))
            self._sync_replicas()
        return operation.results

    # -- operations --------------------------------------------------------------------------

    async def register_self(self, host: str, port: int) -> None:
        async with self._lock:
            current = self.state.broker(self.config.node_id)
            if current is not None and (current.host, current.port) == (host, port):
                return
            await self._apply(self.core.register_broker(
                self.config.node_id, host, port, None, os.urandom(16)
            ))

    async def create_topics(
        self, topics: Sequence[NewTopic], validate_only: bool = False
    ) -> tuple[CreateTopicResult, ...]:
        async with self._lock:
            return await self._apply(self.core.create_topics(topics, validate_only))

    async def create_topics_with_defaults(self, names: Sequence[str]) -> None:
        """Auto-creation: a name that is invalid or already there is simply skipped."""
        await self.create_topics([NewTopic(name=name) for name in dict.fromkeys(names)])

    async def delete_topics(
        self, names: Sequence[str] = (), topic_ids: Sequence[bytes] = ()
    ) -> tuple[DeleteTopicResult, ...]:
        async with self._lock:
            return await self._apply(self.core.delete_topics(names, topic_ids))

    async def create_partitions(
        self, topics: Sequence[NewPartitions], validate_only: bool = False
    ) -> tuple[CreatePartitionsResult, ...]:
        async with self._lock:
            return await self._apply(self.core.create_partitions(topics, validate_only))

    async def alter_configs(
        self, resources: Sequence[AlterConfigsResource], validate_only: bool = False
    ) -> tuple[ConfigResourceResult, ...]:
        async with self._lock:
            return await self._apply(self.core.alter_configs(resources, validate_only))

    async def incremental_alter_configs(
        self, resources: Sequence[IncrementalAlterConfigsResource], validate_only: bool = False
    ) -> tuple[ConfigResourceResult, ...]:
        async with self._lock:
            return await self._apply(self.core.incremental_alter_configs(resources, validate_only))

    async def next_producer_id(self) -> int:
        """A producer id never handed out before, not even before a restart."""
        async with self._lock:
            if not self._producer_ids:
                (block,) = await self._apply(
                    self.core.allocate_producer_ids(self.config.node_id, PRODUCER_ID_BLOCK_SIZE)
                )
                if block.error_code != ErrorCode.NONE:
                    raise RuntimeError(f"cannot allocate producer ids: {block.error_message}")
                start = block.first_producer_id
                self._producer_ids = range(start, start + block.size)
            producer_id = self._producer_ids[0]
            self._producer_ids = self._producer_ids[1:]
            return producer_id

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
