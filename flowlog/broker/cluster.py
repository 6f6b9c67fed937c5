"""The broker's view of cluster metadata: the Raft-replicated metadata log, followed.

Every node of the controller quorum runs the same pieces: a RaftDriver whose log is
the metadata log, a MetadataReplayer that replays committed entries into the
MetadataState (and, through a listener, opens and closes local partitions), a
QuorumController that acts while this node leads, and a ControllerChannel to reach
whichever node leads. A change (CreateTopics, a producer-id block, AlterPartition...)
goes to the active controller, which commits it; the broker answers once it has
applied the change itself, so a client sees its own writes. A standalone broker is a
one-voter quorum on the same path, with no controller listener.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio

from flowlog.broker.config import BrokerConfig
from flowlog.broker.replica_manager import PartitionSpec, ReplicaManager
from flowlog.controller.controller_api import (
    AlterConfigsResource,
    AlterPartitionItem,
    AlterPartitionResult,
    ConfigResourceResult,
    ControllerDefaults,
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    ElectionPolicy,
    IncrementalAlterConfigsResource,
    NewPartitions,
    NewTopic,
    ProducerIdBlock,
)
from flowlog.controller.controller_channel import ControllerChannel, ControllerUnavailableError
from flowlog.controller.controller_listener import serve_controller_connection
from flowlog.controller.controller_rpc import (
    CONVERTER,
    ControllerReply,
    HeartbeatRequest,
    OperationRequest,
    RegisterRequest,
)
from flowlog.controller.metadata_migration import raft_directory
from flowlog.controller.metadata_replayer import MetadataReplayer
from flowlog.controller.metadata_state import MetadataState, PartitionInfo
from flowlog.controller.quorum_controller import ControllerSettings, QuorumController
from flowlog.protocol.errors import ErrorCode
from flowlog.raft.driver import RaftDriver
from flowlog.raft.raft_core import Role
from flowlog.raft.ready import RaftConfig
from flowlog.storage.config import LogConfig

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")

# Producer ids are handed out in blocks so a restart never reuses one (Kafka uses 1000).
PRODUCER_ID_BLOCK_SIZE = 1000
RAFT_TICK_S = 0.05
# An admin operation waits this long for an active controller, then fails retriably.
OPERATION_TIMEOUT_S = 15.0
# How long a broker waits to have applied a change the controller made for it.
CATCH_UP_TIMEOUT_S = 10.0
# Registration retries forever (the quorum may not be up yet); it logs this often.
REGISTRATION_ATTEMPT_S = 5.0
CONTROLLED_SHUTDOWN_ATTEMPT_S = 3.0
COMMIT_PROPAGATION_TICKS = 3
NO_CONTROLLER_ERROR = ErrorCode.REQUEST_TIMED_OUT


class ClusterMetadata:
    def __init__(self, config: BrokerConfig, replicas: ReplicaManager) -> None:
        self.config = config
        self.replicas = replicas
        self.state = MetadataState()
        self.replayer = MetadataReplayer(self.state, config.metadata_snapshot_bytes_between)
        self.replayer.add_listener(self._sync_replicas)
        self.incarnation_id = os.urandom(16)
        self.broker_epoch = -1
        self._driver: RaftDriver | None = None
        self._controller: QuorumController | None = None
        self._channel: ControllerChannel | None = None
        self._producer_ids: range = range(0)
        self._producer_id_lock = trio.Lock()
        self._heartbeat_scope = trio.CancelScope()
        self._bound_address: tuple[str, int] | None = None
        # Partitions follow the metadata only once it is caught up (after registration):
        # an older snapshot could name a topic since deleted and re-created, whose
        # directory must not be taken for the old one's.
        self._following = False

    # -- life cycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Open the metadata Raft log (migrating a standalone log once) and its snapshot."""
        config = self.config
        directory = raft_directory(config.data_dir, len(config.voter_ids))
        election_ticks = max(2, round(config.controller_quorum_election_timeout_ms / 1000 / RAFT_TICK_S))
        raft_config = RaftConfig(
            node_id=config.node_id, voters=config.voter_ids, election_timeout_ticks=election_ticks
        )
        peers = {node_id: (at.host, at.port) for node_id, at in config.voters.items()}
        self._driver = RaftDriver(
            raft_config, directory, [], peers, self.replayer, tick_interval_s=RAFT_TICK_S
        )
        self.replayer.start_from(self._driver.storage.snapshot)
        self._controller = QuorumController(
            self._driver,
            self.replayer,
            ControllerSettings(
                defaults=ControllerDefaults(
                    num_partitions=config.num_partitions,
                    default_replication_factor=config.default_replication_factor,
                ),
                policy=ElectionPolicy(unclean=config.unclean_leader_election_enable),
                session_timeout_ms=config.broker_session_timeout_ms,
                auto_leader_rebalance=config.auto_leader_rebalance_enable,
                rebalance_interval_ms=config.leader_imbalance_check_interval_seconds * 1000,
                watch_brokers=config.broker_liveness_watch_enable,
            ),
        )
        self._channel = ControllerChannel(self._driver, self._controller, peers)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the Raft driver, the controller listener and the controller's duties."""
        driver, controller = self.driver, self.controller
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.serve)
            at = self.config.controller_listen
            if at is not None:
                listeners = await trio.open_tcp_listeners(at.port, host=at.host)
                self._bound_address = listeners[0].socket.getsockname()[:2]

                async def handler(stream: trio.SocketStream) -> None:
                    await serve_controller_connection(stream, driver, controller)

                nursery.start_soon(trio.serve_listeners, handler, listeners)
            nursery.start_soon(controller.run)
            task_status.started()

    def close(self) -> None:
        if self._driver is not None:
            self._driver.storage.close()

    @property
    def driver(self) -> RaftDriver:
        assert self._driver is not None, "metadata is not open"
        return self._driver

    @property
    def controller(self) -> QuorumController:
        assert self._controller is not None, "metadata is not open"
        return self._controller

    @property
    def channel(self) -> ControllerChannel:
        assert self._channel is not None, "metadata is not open"
        return self._channel

    # -- the quorum, as clients see it -----------------------------------------------------

    @property
    def controller_id(self) -> int:
        """The node leading the controller quorum, as far as this node knows, or -1."""
        if self._driver is None:
            return -1
        node = self._driver.node
        return node.node_id if node.role is Role.LEADER else node.leader_id

    @property
    def client_controller_id(self) -> int:
        """The controller id Metadata and DescribeCluster give clients: always a listed
        (live) broker, since any broker forwards controller requests. The quorum leader
        when it is live; else this broker, else any live one (-1: none is live).

        Kafka's KRaft brokers name a random live broker here. A leader that has not
        registered yet (a just-started cluster) would leave librdkafka waiting for a
        broker it cannot find, without asking for metadata again."""
        live = self.state.live_broker_ids()
        for candidate in (self.controller_id, self.config.node_id):
            if candidate in live:
                return candidate
        return live[0] if live else -1

    @property
    def controller_term(self) -> int:
        return -1 if self._driver is None else self._driver.node.term

    def partition_info(self, topic: str, index: int) -> PartitionInfo | None:
        found = self.state.topic_by_name(topic)
        return None if found is None else self.state.partition(found.topic_id, index)

    def is_leader(self, topic: str, index: int) -> bool:
        info = self.partition_info(topic, index)
        return info is not None and info.leader == self.config.node_id

    def topic_log_config(self, topic: str) -> LogConfig:
        overrides = self.state.topic_config_overrides(topic)
        return LogConfig.from_kafka(overrides, base=self.config.default_log_config)

    def _sync_replicas(self) -> None:
        """Open and close local partitions to match the metadata."""
        if not self._following:
            return
        state = self.state
        wanted = []
        for topic in state.topics():
            config = self.topic_log_config(topic.name)
            for info in state.partitions(topic.topic_id):
                if self.config.node_id in info.replicas:
                    wanted.append(PartitionSpec(
                        topic=topic.name, topic_id=topic.topic_id, index=info.partition,
                        leader_epoch=info.leader_epoch, config=config,
                        # wire (data replication): the roles come from these
                        replicas=info.replicas, isr=info.isr, leader=info.leader,
                        partition_epoch=info.partition_epoch,
                    ))
        self.replicas.sync(wanted)

    async def wait_applied(self, index: int, timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait (bounded) until this node applied the metadata log up to `index`."""
        with trio.move_on_after(timeout_s):
            await self.driver.wait_until(lambda: self.replayer.applied_index >= index)

    # -- registration, heartbeats, controlled shutdown ---------------------------------------

    async def register(self, host: str, port: int) -> None:
        """Register this broker with the active controller; waits for a quorum."""
        request = RegisterRequest(
            self.config.node_id, host, port, self.config.rack, self.incarnation_id
        )
        while True:
            try:
                reply = await self.channel.call(request, REGISTRATION_ATTEMPT_S)
            except ControllerUnavailableError as error:
                log.info("waiting for the controller quorum to register: %s", error)
                continue
            if reply.error_code != ErrorCode.NONE:
                raise RuntimeError(f"registration refused: {reply.error_code.name} {reply.error_message}")
            self.broker_epoch = reply.broker_epoch
            await self.wait_applied(reply.metadata_index)
            if not self._following:
                self._following = True
                self._sync_replicas()
            log.info("broker %d registered, epoch %d", self.config.node_id, self.broker_epoch)
            return

    async def heartbeat_loop(self) -> None:
        """Heartbeat until controlled shutdown; re-register if the controller forgot us."""
        interval_s = self.config.broker_heartbeat_interval_ms / 1000
        with self._heartbeat_scope:
            while True:
                await trio.sleep(interval_s)
                reply = await self._heartbeat(want_shut_down=False, timeout_s=interval_s * 2)
                if reply is not None and reply.error_code == ErrorCode.STALE_BROKER_EPOCH:
                    log.warning("the controller does not know this incarnation: re-registering")
                    host, port = self._registered_address()
                    await self.register(host, port)

    def _registered_address(self) -> tuple[str, int]:
        broker = self.state.broker(self.config.node_id)
        assert broker is not None, "registered before heartbeating"
        return broker.host, broker.port

    async def _heartbeat(self, want_shut_down: bool, timeout_s: float) -> ControllerReply | None:
        request = HeartbeatRequest(self.config.node_id, self.broker_epoch, want_shut_down)
        try:
            return await self.channel.call(request, timeout_s)
        except ControllerUnavailableError as error:
            log.debug("heartbeat not answered: %s", error)
            return None

    async def controlled_shutdown(self) -> bool:
        """Ask the controller to move leadership away; True once it has (and we applied it)."""
        self._heartbeat_scope.cancel()
        if self.broker_epoch < 0:
            return False
        reply = await self._heartbeat(want_shut_down=True, timeout_s=CONTROLLED_SHUTDOWN_ATTEMPT_S)
        if reply is None or not reply.should_shut_down:
            log.warning("controlled shutdown not acknowledged; stopping anyway")
            return False
        # Short: the controller may stop before it tells us the entry committed.
        await self.wait_applied(reply.metadata_index, CONTROLLED_SHUTDOWN_ATTEMPT_S)
        if self.controller_id == self.config.node_id and len(self.config.voter_ids) > 1:
            # We lead the quorum: followers learn the commit index from our next
            # heartbeats (one per tick). Without them they would apply the leadership
            # change only after electing a new controller.
            await trio.sleep(COMMIT_PROPAGATION_TICKS * RAFT_TICK_S)
        log.info("controlled shutdown done: leadership moved away")
        return True

    # -- operations --------------------------------------------------------------------------

    async def _operation(
        self,
        name: str,
        arguments: dict[str, Any],
        result_type: type[ResultT],
        refusal: Callable[[ErrorCode, str], list[ResultT]],
    ) -> tuple[ResultT, ...]:
        try:
            reply = await self.channel.call(OperationRequest(name, arguments), OPERATION_TIMEOUT_S)
        except ControllerUnavailableError as error:
            return tuple(refusal(NO_CONTROLLER_ERROR, f"no active controller: {error}"))
        if reply.error_code != ErrorCode.NONE:
            return tuple(refusal(reply.error_code, reply.error_message or reply.error_code.name))
        await self.wait_applied(reply.metadata_index)
        return tuple(CONVERTER.structure(result, result_type) for result in reply.results)

    async def create_topics(
        self, topics: Sequence[NewTopic], validate_only: bool = False
    ) -> tuple[CreateTopicResult, ...]:
        return await self._operation(
            "create_topics",
            {"topics": CONVERTER.unstructure(list(topics)), "validate_only": validate_only},
            CreateTopicResult,
            lambda code, message: [CreateTopicResult(t.name, code, message) for t in topics],
        )

    async def create_topics_with_defaults(self, names: Sequence[str]) -> None:
        """Auto-creation: a name that is invalid or already there is simply skipped."""
        await self.create_topics([NewTopic(name=name) for name in dict.fromkeys(names)])

    async def delete_topics(
        self, names: Sequence[str] = (), topic_ids: Sequence[bytes] = ()
    ) -> tuple[DeleteTopicResult, ...]:
        return await self._operation(
            "delete_topics",
            {"names": list(names), "topic_ids": [topic_id.hex() for topic_id in topic_ids]},
            DeleteTopicResult,
            lambda code, message: [DeleteTopicResult(n, None, code, message) for n in names]
            + [DeleteTopicResult(None, i, code, message) for i in topic_ids],
        )

    async def create_partitions(
        self, topics: Sequence[NewPartitions], validate_only: bool = False
    ) -> tuple[CreatePartitionsResult, ...]:
        return await self._operation(
            "create_partitions",
            {"topics": CONVERTER.unstructure(list(topics)), "validate_only": validate_only},
            CreatePartitionsResult,
            lambda code, message: [CreatePartitionsResult(t.name, code, message) for t in topics],
        )

    async def alter_configs(
        self, resources: Sequence[AlterConfigsResource], validate_only: bool = False
    ) -> tuple[ConfigResourceResult, ...]:
        return await self._operation(
            "alter_configs",
            {"resources": CONVERTER.unstructure(list(resources)), "validate_only": validate_only},
            ConfigResourceResult,
            lambda code, message: [
                ConfigResourceResult(r.resource_type, r.resource_name, code, message)
                for r in resources
            ],
        )

    async def incremental_alter_configs(
        self, resources: Sequence[IncrementalAlterConfigsResource], validate_only: bool = False
    ) -> tuple[ConfigResourceResult, ...]:
        return await self._operation(
            "incremental_alter_configs",
            {"resources": CONVERTER.unstructure(list(resources)), "validate_only": validate_only},
            ConfigResourceResult,
            lambda code, message: [
                ConfigResourceResult(r.resource_type, r.resource_name, code, message)
                for r in resources
            ],
        )

    async def alter_partition(
        self, items: Sequence[AlterPartitionItem]
    ) -> tuple[AlterPartitionResult, ...]:
        """Ask the controller to set ISRs of partitions this broker leads (Kafka's
        AlterPartition); the results carry each partition's state afterwards."""
        return await self._operation(
            "alter_partition",
            {
                "broker_id": self.config.node_id,
                "broker_epoch": self.broker_epoch,
                "items": CONVERTER.unstructure(list(items)),
            },
            AlterPartitionResult,
            lambda code, message: [
                AlterPartitionResult(item.topic_id, item.partition, code, message)
                for item in items
            ],
        )

    async def next_producer_id(self) -> int:
        """A producer id never handed out before, not even before a restart."""
        async with self._producer_id_lock:
            if not self._producer_ids:
                (block,) = await self._operation(
                    "allocate_producer_ids",
                    {"broker_id": self.config.node_id, "block_size": PRODUCER_ID_BLOCK_SIZE},
                    ProducerIdBlock,
                    lambda code, message: [ProducerIdBlock(self.config.node_id, code, message)],
                )
                if block.error_code != ErrorCode.NONE:
                    raise RuntimeError(f"cannot allocate producer ids: {block.error_message}")
                start = block.first_producer_id
                self._producer_ids = range(start, start + block.size)
            producer_id = self._producer_ids[0]
            self._producer_ids = self._producer_ids[1:]
            return producer_id

