"""The broker: metadata, partitions and the listener, wired together on one trio nursery."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from typing import Any

import trio

from flowlog.broker.cluster import ClusterMetadata
from flowlog.broker.config import BrokerConfig
from flowlog.broker.connection import Dispatcher, Handler
from flowlog.broker.coordinator import GroupCoordinator
from flowlog.broker.data_dir_lock import DataDirLock
from flowlog.broker.handlers import (
    admin_configs,
    admin_topics,
    api_versions,
    cluster,
    delete_records,
    fetch,
    group_admin,
    groups,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    offsets,
    produce,
    producer_ids,
)
from flowlog.broker.partition import Partition
from flowlog.broker.replica_manager import ReplicaManager
from flowlog.broker.replication import Replication
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.schema import Api

log = logging.getLogger(__name__)

# How often the housekeeping task looks at flush deadlines.
FLUSH_CHECK_INTERVAL_S = 0.1


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.clock_ms = wall_clock_ms
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(config.data_dir)
        self.replicas = ReplicaManager(config.data_dir, self.clock_ms)
        self.metadata = ClusterMetadata(config, self.replicas)
        self.replication = Replication(self)
        self.coordinator = GroupCoordinator(
            config, self.metadata, self.replicas, self.replication.wait_for_acks, self.clock_ms
        )
        # The coordinator follows the leadership of __consumer_offsets partitions.
        self.replication.role_listeners.append(self.coordinator.on_roles_changed)
        self.bound_port: int | None = None
        self.dispatcher = Dispatcher(
            handlers=self._handlers(),
            unsupported_api_versions=functools.partial(
                api_versions.answer_unsupported_api_versions, self
            ),
            max_frame_bytes=config.socket_request_max_bytes,
        )

    def _handlers(self) -> dict[int, Handler]:
        table: dict[int, Any] = {
            0: produce.handle_produce,
            1: fetch.handle_fetch,
            2: list_offsets.handle_list_offsets,
            3: metadata.handle_metadata,
            8: offsets.handle_offset_commit,
            9: offsets.handle_offset_fetch,
            10: group_admin.handle_find_coordinator,
            11: groups.handle_join_group,
            12: groups.handle_heartbeat,
            13: groups.handle_leave_group,
            14: groups.handle_sync_group,
            15: group_admin.handle_describe_groups,
            16: group_admin.handle_list_groups,
            18: api_versions.handle_api_versions,
            19: admin_topics.handle_create_topics,
            20: admin_topics.handle_delete_topics,
            21: delete_records.handle_delete_records,
            22: producer_ids.handle_init_producer_id,
            23: offset_for_leader_epoch.handle_offset_for_leader_epoch,
            32: admin_configs.handle_describe_configs,
            33: admin_configs.handle_alter_configs,
            37: admin_topics.handle_create_partitions,
            42: group_admin.handle_delete_groups,
            44: admin_configs.handle_incremental_alter_configs,
            47: offsets.handle_offset_delete,
            55: cluster.handle_describe_quorum,
            60: cluster.handle_describe_cluster,
        }
        return {key: functools.partial(handler, self) for key, handler in table.items()}

    def advertised_apis(self) -> Iterable[Api]:
        return (ALL_APIS[key] for key in sorted(self.dispatcher.handlers) if key in ALL_APIS)

    @property
    def bootstrap(self) -> str:
        """host:port clients should dial (valid once the listener is bound)."""
        advertised = self.config.advertised
        port = advertised.port or self.bound_port
        return f"{advertised.host}:{port}"

    # -- helpers for handlers ------------------------------------------------------------

    async def auto_create_topics(self, names: list[str]) -> None:
        await self.metadata.create_topics_with_defaults(names)

    async def partition_for_produce(self, topic: str, index: int) -> Partition | None:
        partition = self.replicas.get(topic, index)
        if partition is None and self.config.auto_create_topics_enable:
            if self.metadata.state.topic_by_name(topic) is None:
                await self.auto_create_topics([topic])
                partition = self.replicas.get(topic, index)
        return partition

    def leadership_error(self, topic: str, index: int) -> ErrorCode | None:
        """NOT_LEADER_OR_FOLLOWER unless the committed metadata says this broker leads
        the partition (a follower replica is not served to clients yet)."""
        info = self.metadata.partition_info(topic, index)
        if info is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if info.leader != self.config.node_id:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return None

    def check_leader_epoch(self, partition: Partition, current_leader_epoch: int) -> ErrorCode | None:
        """Kafka's epoch fence: -1 skips the check."""
        if partition.leader_core is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if current_leader_epoch < 0 or current_leader_epoch == partition.leader_epoch:
            return None
        if current_leader_epoch > partition.leader_epoch:
            return ErrorCode.UNKNOWN_LEADER_EPOCH
        return ErrorCode.FENCED_LEADER_EPOCH

    # -- life cycle ------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Open everything, join the quorum, listen, and serve until cancelled; then close.

        Clients are served only once this broker is registered and has caught up with
        the metadata log, so its first answers are already the cluster's.
        """
        self._lock.acquire()
        try:
            self.metadata.open()
            listeners = await trio.open_tcp_listeners(
                self.config.listen.port, host=self.config.listen.host
            )
            self.bound_port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as nursery:
                await nursery.start(self.metadata.serve)
                await nursery.start(self.replication.run)
                await nursery.start(self.coordinator.serve)
                await self.metadata.register(
                    self.config.advertised.host, int(self.bootstrap.rsplit(":", 1)[1])
                )
                # Groups are loaded before the first client is served.
                await self.coordinator.open()
                nursery.start_soon(self.metadata.heartbeat_loop)
                nursery.start_soon(trio.serve_listeners, self._serve_connection, listeners)
                nursery.start_soon(self._flush_loop)
                nursery.start_soon(self._retention_loop)
                nursery.start_soon(self._high_watermark_checkpoint_loop)
                log.info("flowlog broker %d ready on %s", self.config.node_id, self.bootstrap)
                task_status.started(self)
        finally:
            self.close()

    async def controlled_shutdown(self) -> None:
        """Before stopping: move partition leadership to other brokers (SIGTERM)."""
        await self.metadata.controlled_shutdown()

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        try:
            host, port = stream.socket.getpeername()[:2]
            peer = f"{host}:{port}"
        except OSError:
            peer = "unknown"
        await self.dispatcher.serve(stream, peer)

    async def _flush_loop(self) -> None:
        while True:
            await trio.sleep(FLUSH_CHECK_INTERVAL_S)
            now_ms = self.clock_ms()
            for partition in list(self.replicas.partitions()):
                await partition.flush_if_due(now_ms)

    async def _high_watermark_checkpoint_loop(self) -> None:
        interval_s = self.config.replica_high_watermark_checkpoint_interval_ms / 1000
        while True:
            await trio.sleep(interval_s)
            moved = [(p, hw) for p in list(self.replicas.partitions())
                     if (hw := p.high_watermark_to_checkpoint()) is not None]
            if moved:
                await trio.to_thread.run_sync(_checkpoint_high_watermarks, moved)

    async def _retention_loop(self) -> None:
        while True:
            await trio.sleep(self.config.retention_check_interval_ms / 1000)
            now_ms = self.clock_ms()
            for partition in list(self.replicas.partitions()):
                await partition.enforce_retention(now_ms)
            await self.replicas.purge_removed()

    def close(self) -> None:
        self.replicas.close()
        self.metadata.close()
        self._lock.release()


def _checkpoint_high_watermarks(moved: list[tuple[Partition, int]]) -> None:
    for partition, high_watermark in moved:
        partition.checkpoint_high_watermark(high_watermark)
