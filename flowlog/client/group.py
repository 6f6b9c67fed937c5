"""Consumer group membership (Kafka's classic protocol) for the Consumer.

One task per consumer runs the member: FindCoordinator, JoinGroup (rejoining
with the member id a MEMBER_ID_REQUIRED answer hands out), SyncGroup (the
leader runs the assignor, see assignors.py), then heartbeats and auto-commits
in the background until the coordinator asks for a rebalance (REBALANCE_IN_
PROGRESS), the subscription changes, or the membership is lost.

Assignors are GroupAssignor objects (built-in names resolve to one): each
adds its own user data to the member's subscription, the leader runs the
chosen one's assign(), and every member hands what it received to the chosen
one's on_assignment() before the rebalance listener runs.

Eager assignors (range, roundrobin): before rejoining, commit and revoke all
partitions. Cooperative (cooperative-sticky): keep partitions during the
rebalance; after SyncGroup revoke only those no longer assigned, and rejoin at
once if any were revoked, or if on_assignment changed the assignor's user data,
so that the leader sees what was given up and its new owner receives it.

Static membership: with group_instance_id set, JoinGroup carries it (v5+)
and close() does not send LeaveGroup, so a restart within session_timeout_ms
gets its partitions back without a rebalance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from flowlog.client.assignors import (
    COOPERATIVE,
    GroupAssignor,
    MemberAssignment,
    MemberSubscription,
    resolve_assignors,
)
from flowlog.client.cluster import Cluster
from flowlog.client.config import ConsumerConfig
from flowlog.client.connection import BrokerConnection
from flowlog.client.errors import (
    ConfigurationError,
    CoordinatorNotAvailableError,
    KafkaError,
    error_for_code,
)
from flowlog.client.fetcher import RESET_COMMITTED
from flowlog.client.types import BrokerInfo, OffsetAndMetadata, TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.group_protocol import (
    PROTOCOL_TYPE,
    Assignment,
    Subscription,
    TopicPartitions,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from flowlog.protocol.messages.find_coordinator import FindCoordinatorRequest
from flowlog.protocol.messages.heartbeat import HeartbeatRequest
from flowlog.protocol.messages.join_group import JoinGroupRequest
from flowlog.protocol.messages.leave_group import LeaveGroupRequest
from flowlog.protocol.messages.offset_commit import OffsetCommitRequest
from flowlog.protocol.messages.offset_fetch import OffsetFetchRequest
from flowlog.protocol.messages.sync_group import SyncGroupRequest

if TYPE_CHECKING:
    from flowlog.client.consumer import Consumer

OFFSET_COMMIT_KEY: Final = 8
OFFSET_FETCH_KEY: Final = 9
FIND_COORDINATOR_KEY: Final = 10
JOIN_GROUP_KEY: Final = 11
HEARTBEAT_KEY: Final = 12
LEAVE_GROUP_KEY: Final = 13
SYNC_GROUP_KEY: Final = 14
# Subscription payload version we write (v3: owned partitions, generation, rack).
SUBSCRIPTION_VERSION: Final = 3
# JoinGroup may be parked by the coordinator up to the rebalance timeout.
JOIN_EXTRA_TIMEOUT_MS: Final = 5_000
# Fresh joins in a row that may end in MEMBER_ID_REQUIRED / UNKNOWN_MEMBER_ID.
JOIN_ATTEMPTS_MAX: Final = 10
_COORDINATOR_ERRORS: Final = frozenset({
    ErrorCode.NOT_COORDINATOR,
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
})
_REJOIN_ERRORS: Final = frozenset({
    ErrorCode.REBALANCE_IN_PROGRESS,
    ErrorCode.ILLEGAL_GENERATION,
    ErrorCode.UNKNOWN_MEMBER_ID,
})
NO_GENERATION: Final = -1


class RebalanceListener:
    """Subclass and override; both run in the consumer's group task."""

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before partitions go: commit or flush state for them here."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """After new partitions arrive (positions start at the committed offsets)."""


@attrs.define
class GroupStatistics:
    member_id: str = ""
    generation_id: int = NO_GENERATION
    is_leader: bool = False
    protocol: str | None = None
    rebalances: int = 0
    commits: int = 0
    commit_failures: int = 0
    heartbeats: int = 0
    last_commit_error: str | None = None


class GroupMember:
    def __init__(
        self, cluster: Cluster, config: ConsumerConfig, nursery: trio.Nursery, consumer: Consumer
    ) -> None:
        assert config.group_id is not None
        # Protocol name -> assignor, in the preference order JoinGroup votes with.
        self._assignors = resolve_assignors(config.partition_assignment_strategy)
        self._cluster = cluster
        self._config = config
        self._group_id = config.group_id
        self._nursery = nursery
        self._consumer = consumer
        self._topics: list[str] = []
        self._listener = RebalanceListener()
        self._member_id = ""
        self._generation = NO_GENERATION
        self._protocol: str | None = None
        self._owned: set[TopicPartition] = set()
        # What the last JoinGroup sent: topics, owned partitions, each assignor's user data.
        self._joined_topics: tuple[str, ...] = ()
        self._joined_owned: tuple[TopicPartition, ...] = ()
        self._joined_user_data: dict[str, bytes | None] = {}
        self._coordinator: int | None = None
        self._rejoin = trio.Event()
        self._running = False
        self._run_scope = trio.CancelScope()
        self._error: KafkaError | None = None
        self._stats = GroupStatistics()

    # True from the start of a JoinGroup until its assignment is applied (retries included).
    rebalancing = False

    @property
    def subscribed(self) -> bool:
        return bool(self._topics)

    def statistics(self) -> GroupStatistics:
        return attrs.evolve(
            self._stats, member_id=self._member_id, generation_id=self._generation,
            protocol=self._protocol,
        )

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def subscribe(self, topics: list[str], listener: RebalanceListener | None) -> None:
        if not topics:
            raise ConfigurationError("subscribe() needs at least one topic")
        self._topics = sorted(set(topics))
        self._cluster.add_topics(self._topics)
        if listener is not None:
            self._listener = listener
        if not self._running:
            self._running = True
            self._nursery.start_soon(self._run)
        else:
            self._rejoin.set()

    def unsubscribe(self) -> None:
        self._topics = []
        self._rejoin.set()

    # ---------------------------------------------------------------- coordinator

    async def _coordinator_connection(self) -> BrokerConnection:
        if self._coordinator is None:
            await self._find_coordinator()
        assert self._coordinator is not None
        try:
            return await self._cluster.coordinator_connection(self._coordinator)
        except KafkaError:
            self._coordinator = None
            raise

    async def _find_coordinator(self) -> None:
        connection = await self._cluster.any_connection()
        response = await connection.request(
            FIND_COORDINATOR_KEY,
            lambda version: FindCoordinatorRequest(key=self._group_id, key_type=0),
        )
        if response.error_code != ErrorCode.NONE:
            raise error_for_code(response.error_code, f"FindCoordinator for {self._group_id!r}")
        if response.node_id not in self._cluster.brokers:
            self._cluster.brokers[response.node_id] = BrokerInfo(
                response.node_id, response.host, response.port
            )
        self._coordinator = response.node_id

    async def _coordinator_request(self, api_key: int, body: Any, *, timeout_ms: int | None = None) -> Any:
        connection = await self._coordinator_connection()
        try:
            return await connection.request(api_key, body, timeout_ms=timeout_ms)
        except KafkaError:
            self._coordinator = None
            raise

    def _check_coordinator_error(self, code: int, what: str) -> None:
        if code in _COORDINATOR_ERRORS:
            self._coordinator = None
        if code != ErrorCode.NONE:
            raise error_for_code(code, f"{what} for group {self._group_id!r}")

    # ---------------------------------------------------------------- membership loop

    async def _run(self) -> None:
        with self._run_scope:
            await self._membership_loop()

    async def _membership_loop(self) -> None:
        attempt = 0
        while True:
            if not self._topics:
                await self._revoke(set(self._owned))
                await self.leave()
                self._running = False
                return
            try:
                await self._join_and_sync()
                attempt = 0
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeat_loop)
                    if self._config.enable_auto_commit:
                        nursery.start_soon(self._auto_commit_loop)
                    await self._rejoin.wait()
                    nursery.cancel_scope.cancel()
            except KafkaError as error:
                if not error.retriable and not isinstance(error, _RejoinError):
                    self._error = error
                    self._consumer.fetcher.data_ready.set()
                    self._running = False
                    return
                await trio.sleep(self._cluster.backoff_s(attempt))
                attempt += 1

    def _request_rejoin(self) -> None:
        self._rejoin.set()

    def _chosen_assignor(self) -> GroupAssignor | None:
        return self._assignors.get(self._protocol) if self._protocol is not None else None

    def _cooperative(self) -> bool:
        assignor = self._chosen_assignor()
        return assignor is not None and assignor.rebalance_protocol == COOPERATIVE

    async def _join_and_sync(self) -> None:
        self.rebalancing = True
        self._rejoin = trio.Event()
        self._stats.rebalances += 1
        if not self._cooperative():
            await self._revoke(set(self._owned))
        for _attempt in range(JOIN_ATTEMPTS_MAX):
            response = await self._join()
            code = response.error_code
            if code == ErrorCode.MEMBER_ID_REQUIRED:
                self._member_id = response.member_id
                continue
            if code == ErrorCode.UNKNOWN_MEMBER_ID:
                self._member_id = ""
                continue
            if code == ErrorCode.REBALANCE_IN_PROGRESS:
                continue
            self._check_coordinator_error(code, "JoinGroup")
            break
        else:
            raise _RejoinError("JoinGroup did not settle; retrying")
        self._member_id = response.member_id
        self._generation = response.generation_id
        self._protocol = response.protocol_name
        is_leader = response.leader == self._member_id
        self._stats.is_leader = is_leader
        assignments = await self._assign(response.members) if is_leader else []
        assignment = await self._sync(assignments)
        await self._apply_assignment(assignment)
        self.rebalancing = False

    async def _join(self) -> Any:
        owned = tuple(sorted(self._owned))
        topics = tuple(self._topics)
        by_topic: dict[str, list[int]] = {}
        for tp in owned:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        owned_partitions = tuple(TopicPartitions(t, tuple(ps)) for t, ps in by_topic.items())
        self._joined_topics, self._joined_owned = topics, owned
        for assignor in self._assignors.values():
            assignor.on_join()
        self._joined_user_data = {
            name: assignor.subscription_user_data(topics, owned)
            for name, assignor in self._assignors.items()
        }
        protocols = [
            JoinGroupRequest.JoinGroupRequestProtocol(name=name, metadata=encode_subscription(
                Subscription(
                    topics=topics,
                    user_data=user_data,
                    owned_partitions=owned_partitions,
                    generation_id=self._generation,
                    version=SUBSCRIPTION_VERSION,
                )
            ))
            for name, user_data in self._joined_user_data.items()
        ]
        instance_id = self._config.group_instance_id

        def build(version: int) -> Any:
            if instance_id is not None and version < 5:
                raise ConfigurationError(
                    "group_instance_id needs JoinGroup v5+, which the broker does not offer"
                )
            return JoinGroupRequest(
                group_id=self._group_id,
                session_timeout_ms=self._config.session_timeout_ms,
                rebalance_timeout_ms=self._config.rebalance_timeout_ms,
                member_id=self._member_id,
                group_instance_id=instance_id,
                protocol_type=PROTOCOL_TYPE,
                protocols=protocols,
            )

        return await self._coordinator_request(
            JOIN_GROUP_KEY, build,
            timeout_ms=self._config.rebalance_timeout_ms + JOIN_EXTRA_TIMEOUT_MS,
        )

    async def _assign(self, members: list[Any]) -> list[Any]:
        assert self._protocol is not None
        subscriptions: dict[str, MemberSubscription] = {}
        for member in members:
            subscription = decode_subscription(member.metadata)
            subscriptions[member.member_id] = MemberSubscription(
                member_id=member.member_id,
                topics=tuple(subscription.topics),
                owned=tuple(
                    TopicPartition(entry.topic, p)
                    for entry in subscription.owned_partitions for p in entry.partitions
                ),
                generation=subscription.generation_id,
                group_instance_id=member.group_instance_id,
                user_data=subscription.user_data,
            )
        topics = sorted({t for s in subscriptions.values() for t in s.topics})
        await self._cluster.refresh_metadata(topics)
        counts = {t: len(self._cluster.topics[t]) for t in topics if t in self._cluster.topics}
        assignor = self._assignors[self._protocol]
        await assignor.before_assign(subscriptions, counts)
        plan = assignor.assign(subscriptions, counts)
        result = []
        # Members the plan leaves out get an explicit empty assignment.
        for member_id in subscriptions:
            member_assignment = plan.get(member_id, MemberAssignment(()))
            by_topic: dict[str, list[int]] = {}
            for tp in sorted(member_assignment.partitions):
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            payload = encode_assignment(Assignment(
                assigned_partitions=tuple(TopicPartitions(t, tuple(ps)) for t, ps in by_topic.items()),
                user_data=member_assignment.user_data,
                version=0,
            ))
            result.append(SyncGroupRequest.SyncGroupRequestAssignment(
                member_id=member_id, assignment=payload
            ))
        return result

    async def _sync(self, assignments: list[Any]) -> MemberAssignment:
        response = await self._coordinator_request(
            SYNC_GROUP_KEY,
            SyncGroupRequest(
                group_id=self._group_id,
                generation_id=self._generation,
                member_id=self._member_id,
                group_instance_id=self._config.group_instance_id,
                protocol_type=PROTOCOL_TYPE,
                protocol_name=self._protocol,
                assignments=assignments,
            ),
            timeout_ms=self._config.rebalance_timeout_ms + JOIN_EXTRA_TIMEOUT_MS,
        )
        code = response.error_code
        if code in _REJOIN_ERRORS:
            if code == ErrorCode.UNKNOWN_MEMBER_ID:
                self._member_id = ""
            raise _RejoinError(f"SyncGroup: {ErrorCode(code).name}")
        self._check_coordinator_error(code, "SyncGroup")
        if not response.assignment:
            return MemberAssignment(())
        assignment = decode_assignment(response.assignment)
        return MemberAssignment(
            tuple(
                TopicPartition(entry.topic, p)
                for entry in assignment.assigned_partitions for p in entry.partitions
            ),
            assignment.user_data,
        )

    async def _apply_assignment(self, assignment: MemberAssignment) -> None:
        assignor = self._chosen_assignor()
        claims_changed = False
        if assignor is not None:
            assignor.on_assignment(assignment, self._generation)
            # The leader saw our join-time user data: if on_assignment changed it (a
            # claim given up), it has to see the new one before handing that claim on.
            assert self._protocol is not None
            claims_changed = assignor.subscription_user_data(
                self._joined_topics, self._joined_owned
            ) != self._joined_user_data.get(self._protocol)
        assigned = set(assignment.partitions)
        revoked = self._owned - assigned
        added = assigned - self._owned
        if revoked:
            await self._revoke(revoked)
        self._owned = set(assigned)
        self._consumer._set_group_assignment(self._owned)
        if added:
            await self._listener.on_partitions_assigned(added)
        if (revoked or claims_changed) and self._cooperative():
            self._request_rejoin()  # let the new owners have what we gave up

    async def _revoke(self, revoked: set[TopicPartition]) -> None:
        if not revoked:
            return
        if self._config.enable_auto_commit and self._generation != NO_GENERATION:
            offsets = {
                tp: offset for tp, offset in self._consumer.positions_to_commit().items()
                if tp in revoked
            }
            try:
                await self.commit(offsets)
            except KafkaError as error:
                self._stats.last_commit_error = str(error)
        await self._listener.on_partitions_revoked(revoked)
        self._owned -= revoked
        self._consumer._set_group_assignment(self._owned)

    # ---------------------------------------------------------------- background

    async def _heartbeat_loop(self) -> None:
        interval_s = self._config.heartbeat_interval_ms / 1000
        while True:
            await trio.sleep(interval_s)
            try:
                response = await self._coordinator_request(
                    HEARTBEAT_KEY,
                    HeartbeatRequest(
                        group_id=self._group_id,
                        generation_id=self._generation,
                        member_id=self._member_id,
                        group_instance_id=self._config.group_instance_id,
                    ),
                )
            except KafkaError:
                continue  # the coordinator is rediscovered on the next beat
            self._stats.heartbeats += 1
            code = response.error_code
            if code == ErrorCode.NONE:
                continue
            if code == ErrorCode.FENCED_INSTANCE_ID:
                self._error = error_for_code(code, f"group {self._group_id!r}")
                self._consumer.fetcher.data_ready.set()
            if code == ErrorCode.UNKNOWN_MEMBER_ID:
                self._member_id = ""
                self._owned_lost()
            if code in _COORDINATOR_ERRORS:
                self._coordinator = None
            self._request_rejoin()
            return

    def _owned_lost(self) -> None:
        """Membership is gone: partitions are lost (not revoked; no commit is possible)."""
        self._owned = set()
        self._generation = NO_GENERATION
        self._consumer._set_group_assignment(set())

    async def _auto_commit_loop(self) -> None:
        interval_s = self._config.auto_commit_interval_ms / 1000
        while True:
            await trio.sleep(interval_s)
            await self.commit_in_background(self._consumer.positions_to_commit())

    async def commit_in_background(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            await self.commit(offsets)
        except KafkaError as error:
            self._stats.commit_failures += 1
            self._stats.last_commit_error = str(error)

    # ---------------------------------------------------------------- offsets

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets:
            return
        topics: dict[str, list[Any]] = {}
        for tp, value in sorted(offsets.items()):
            topics.setdefault(tp.topic, []).append(OffsetCommitRequest.OffsetCommitRequestPartition(
                partition_index=tp.partition,
                committed_offset=value.offset,
                committed_metadata=value.metadata,
            ))
        generation, member_id = self._generation, self._member_id
        if generation == NO_GENERATION:
            member_id = ""  # a commit outside any generation, as for assign()

        def build(version: int) -> Any:
            return OffsetCommitRequest(
                group_id=self._group_id,
                generation_id=generation,
                member_id=member_id,
                group_instance_id=self._config.group_instance_id if version >= 7 else None,
                topics=[
                    OffsetCommitRequest.OffsetCommitRequestTopic(name=name, partitions=parts)
                    for name, parts in topics.items()
                ],
            )

        async def attempt() -> None:
            response = await self._coordinator_request(OFFSET_COMMIT_KEY, build)
            for topic in response.topics:
                for partition in topic.partitions:
                    code = partition.error_code
                    if code in _REJOIN_ERRORS:
                        self._request_rejoin()
                        raise error_for_code(code, f"commit {topic.name}[{partition.partition_index}]")
                    self._check_coordinator_error(
                        code, f"OffsetCommit {topic.name}[{partition.partition_index}]"
                    )

        await self._cluster.with_retries(attempt, what="OffsetCommit")
        self._stats.commits += 1

    async def fetch_committed(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        topics: dict[str, list[int]] = {}
        for tp in partitions:
            topics.setdefault(tp.topic, []).append(tp.partition)

        async def attempt() -> dict[TopicPartition, OffsetAndMetadata | None]:
            response = await self._coordinator_request(
                OFFSET_FETCH_KEY,
                OffsetFetchRequest(
                    group_id=self._group_id,
                    topics=[
                        OffsetFetchRequest.OffsetFetchRequestTopic(name=name, partition_indexes=ps)
                        for name, ps in topics.items()
                    ],
                ),
            )
            self._check_coordinator_error(response.error_code, "OffsetFetch")
            found: dict[TopicPartition, OffsetAndMetadata | None] = {}
            for topic in response.topics:
                for partition in topic.partitions:
                    self._check_coordinator_error(partition.error_code, "OffsetFetch")
                    tp = TopicPartition(topic.name, partition.partition_index)
                    found[tp] = (
                        OffsetAndMetadata(partition.committed_offset, partition.metadata or "")
                        if partition.committed_offset >= 0 else None
                    )
            return found

        return await self._cluster.with_retries(attempt, what="OffsetFetch")

    async def load_committed(self, partitions: list[TopicPartition]) -> None:
        """Start each partition at its committed offset, or mark it for auto_offset_reset."""
        committed = await self.fetch_committed(partitions)
        states = self._consumer.fetcher.states
        for tp in partitions:
            state = states.get(tp)
            if state is None or state.reset != RESET_COMMITTED or state.fetch_offset is not None:
                continue
            value = committed.get(tp)
            if value is not None:
                state.seek(value.offset)
            else:
                state.reset = self._config.auto_offset_reset

    async def leave(self) -> None:
        """Commit (auto-commit), revoke, and leave the group (not for static members)."""
        self._run_scope.cancel()  # no more heartbeats or rejoins
        if self._generation != NO_GENERATION and self._owned:
            try:
                await self._revoke(set(self._owned))
            except KafkaError:
                pass
        if not self._member_id or self._config.group_instance_id is not None:
            return
        member_id, self._member_id = self._member_id, ""
        self._generation = NO_GENERATION
        try:
            await self._coordinator_request(
                LEAVE_GROUP_KEY,
                lambda version: LeaveGroupRequest(
                    group_id=self._group_id,
                    member_id=member_id if version < 3 else "",
                    members=[LeaveGroupRequest.MemberIdentity(member_id=member_id)]
                    if version >= 3 else [],
                ),
            )
        except (KafkaError, CoordinatorNotAvailableError):
            pass  # the session timeout removes us anyway


class _RejoinError(KafkaError):
    retriable = True
