"""The trio shell around the replication cores (docs/replication-data.md, "Wiring").

What tests/sim/replication/broker.py models, on the real broker:

- roles from the committed metadata: ReplicaManager.sync hands every local partition
  with its PartitionRecord to `on_synced` (only once this broker's registration was
  answered: ClusterMetadata follows the metadata from then on), which makes the
  partition a PartitionLeader at the record's leader epoch, a PartitionFollower of
  the named leader, or adopts a new ISR;
- one fetcher task per source leader: Fetch v12 with replica_id = this broker, one
  request in flight, every partition followed from that leader in it; the follower
  cores' actions (truncate, append as is, set the high watermark) applied in order;
  OffsetForLeaderEpoch when a core asks (after OFFSET_OUT_OF_RANGE);
- a timer: the leader cores' tick (ISR shrink after replica.lag.time.max.ms,
  AlterPartition retries) and the produce purgatory's deadlines;
- AlterPartition sent to the controller when a leader core asks;
- acks=all produces parked in a Purgatory of DelayedProduce, completed when a
  partition's high watermark moves or its role changes.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from flowlog.broker.partition import Partition
from flowlog.broker.replica_manager import PartitionSpec
from flowlog.controller.controller_api import AlterPartitionItem
from flowlog.protocol.codec import RequestHeader, decode_response, encode_request
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.framing import FrameDecoder, frame_prefix
from flowlog.protocol.messages.fetch import FetchRequest as FetchRequestBody
from flowlog.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from flowlog.replication.delayed_core import DelayedProduce
from flowlog.replication.follower_core import (
    Action,
    AdvanceLogStart,
    Append,
    FollowerConfig,
    SetHighWatermark,
    Truncate,
    TruncateFullyAndStartAt,
)
from flowlog.replication.leader_core import LeaderConfig, PartitionLeader
from flowlog.replication.leader_epoch_cache import EpochEndOffset
from flowlog.replication.messages import (
    AlterPartitionRequest,
    EpochAnswer,
    EpochRequest,
    FetchAnswer,
    FetchRequest,
    PartitionState,
)
from flowlog.replication.purgatory_core import Parked, Purgatory
from flowlog.storage.errors import LogClosedError, OffsetOutOfRangeError

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

log = logging.getLogger(__name__)

FETCH_KEY = 1
FETCH_VERSION = 12
EPOCH_KEY = 23
EPOCH_VERSION = 4
# A fetch (plus its long poll) or an epoch request left unanswered this long: reconnect.
REPLICA_REQUEST_TIMEOUT_S = 10.0
RECONNECT_BACKOFF_S = 0.2
TICK_S = 0.05

PartitionKey = tuple[str, int]


class _PeerConnection:
    """A bare Kafka connection to another broker: one request at a time."""

    def __init__(self, stream: trio.SocketStream, client_id: str) -> None:
        self._stream = stream
        self._client_id = client_id
        self._decoder = FrameDecoder(256 * 1024 * 1024)
        self._correlation = itertools.count(1)

    async def request(self, api_key: int, version: int, body: Any) -> Any:
        correlation_id = next(self._correlation)
        payload = encode_request(RequestHeader(api_key, version, correlation_id, self._client_id), body)
        await self._stream.send_all(frame_prefix(len(payload)) + payload)
        while True:
            frame = self._decoder.next_frame()
            if frame is not None:
                answered_id, response = decode_response(api_key, version, frame)
                if answered_id != correlation_id:
                    raise OSError(f"correlation id {answered_id}, expected {correlation_id}")
                return response
            data = await self._stream.receive_some(1 << 20)
            if not data:
                raise OSError("closed by the peer")
            self._decoder.feed(data)

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self._stream)


class Replication:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.node_id = broker.config.node_id
        self.clock_ms = broker.clock_ms
        self.follower_config = FollowerConfig(request_timeout_ms=int(REPLICA_REQUEST_TIMEOUT_S * 1000))
        self.produces: Purgatory[PartitionKey, DelayedProduce[PartitionKey]] = Purgatory()
        self._produce_events: dict[int, trio.Event] = {}
        self._request_ids: dict[PartitionKey, Callable[[], int]] = {}
        self._fetchers: dict[int, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        # Called after partition roles may have changed (the group coordinator's cue).
        self.role_listeners: list[Callable[[], None]] = []
        broker.replicas.on_synced = self.on_synced

    # -- life ------------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            for leader_id in list(self._fetchers):
                nursery.start_soon(self._fetch_loop, leader_id)
            while True:
                await trio.sleep(TICK_S)
                self._tick()

    def _tick(self) -> None:
        now_ms = self.clock_ms()
        for partition in list(self.broker.replicas.partitions()):
            leader = partition.leader_core
            if leader is not None:
                request = leader.tick(now_ms)
                if request is not None:
                    self.send_alter_partition(partition, request)
        for operation in self.produces.expire(now_ms):
            self._wake(operation)

    # -- roles -----------------------------------------------------------------------------

    def on_synced(self, items: list[tuple[Partition, PartitionSpec]]) -> None:
        for partition, spec in items:
            partition.on_change = self._on_partition_change
            replicas = spec.replicas or (self.node_id,)
            state = PartitionState(
                replicas=tuple(replicas),
                isr=frozenset(spec.isr or replicas),
                leader=spec.leader if spec.replicas else self.node_id,
                leader_epoch=spec.leader_epoch,
                partition_epoch=spec.partition_epoch,
            )
            self.apply_state(partition, state)
        self._start_fetchers()
        self._roles_changed()

    def _roles_changed(self) -> None:
        for listener in self.role_listeners:
            listener()

    def leader_config(self, partition: Partition) -> LeaderConfig:
        return LeaderConfig(
            replica_lag_time_max_ms=self.broker.config.replica_lag_time_max_ms,
            min_insync_replicas=partition.log.config.min_insync_replicas,
        )

    def apply_state(self, partition: Partition, state: PartitionState) -> None:
        leader = partition.leader_core
        if leader is not None:
            config = self.leader_config(partition)
            if leader.config != config:
                leader.config = config  # min.insync.replicas changed
        if not state.newer_than(partition.state):
            return
        partition.state = state
        key = (partition.topic, partition.index)
        if state.leader == self.node_id:
            if leader is not None and leader.leader_epoch == state.leader_epoch:
                if leader.on_partition_state(state):
                    partition.changed()
                return
            partition.become_leader(self.node_id, state, self.clock_ms(), self.leader_config(partition))
            log.info("%s-%d: leader at epoch %d, ISR %s", partition.topic, partition.index,
                     state.leader_epoch, sorted(state.isr))
        else:
            follower = partition.follower_core
            if (follower is not None and follower.leader_epoch == state.leader_epoch
                    and partition.leader_core is None):
                return
            next_id = self._request_ids.setdefault(key, itertools.count(1).__next__)
            partition.become_follower(self.node_id, state, self.follower_config, next_id)
            log.info("%s-%d: follower of %d at epoch %d", partition.topic, partition.index,
                     state.leader, state.leader_epoch)
        # The role changed: parked produces of the old role answer now.
        for operation in self.produces.remove_key(key):
            operation.try_complete()
            self._wake(operation)

    def _on_partition_change(self, partition: Partition) -> None:
        for operation in self.produces.check_and_complete((partition.topic, partition.index)):
            self._wake(operation)

    async def _advance_log_start(self, partition: Partition, offset: int) -> None:
        try:
            await partition.delete_records_before(offset)
        except (OffsetOutOfRangeError, LogClosedError):
            pass  # truncated or closed meanwhile: the next fetch answer says it again
        else:
            log.debug("%s-%d: log start moved to the leader's, %d", partition.topic,
                      partition.index, offset)

    # -- AlterPartition --------------------------------------------------------------------

    def send_alter_partition(self, partition: Partition, request: AlterPartitionRequest) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._alter_partition, partition, request)

    async def _alter_partition(self, partition: Partition, request: AlterPartitionRequest) -> None:
        item = AlterPartitionItem(
            topic_id=partition.topic_id, partition=partition.index,
            leader_epoch=request.leader_epoch, partition_epoch=request.partition_epoch,
            new_isr=tuple(sorted(request.new_isr)),
        )
        log.info("%s-%d: AlterPartition ISR %s", partition.topic, partition.index, list(item.new_isr))
        try:
            (result,) = await self.broker.metadata.alter_partition([item])
        except Exception:  # resent by the core's retry timer
            log.exception("%s-%d: AlterPartition failed", partition.topic, partition.index)
            return
        leader = partition.leader_core
        if result.error_code != ErrorCode.NONE:
            log.info("%s-%d: AlterPartition refused: %s %s", partition.topic, partition.index,
                     result.error_code.name, result.error_message)
            if leader is not None:
                leader.on_alter_partition_error(request, result.error_code)
        if result.leader >= 0 and result.partition_epoch >= 0:
            self.apply_state(partition, PartitionState(
                replicas=partition.state.replicas if partition.state else (self.node_id,),
                isr=frozenset(result.isr), leader=result.leader,
                leader_epoch=result.leader_epoch, partition_epoch=result.partition_epoch))
            self._roles_changed()

    # -- acks=all --------------------------------------------------------------------------

    async def wait_for_acks(self, required: dict[PartitionKey, tuple[int, int]],
                            timeout_ms: int) -> dict[PartitionKey, ErrorCode]:
        """Park an acks=all produce until the high watermark passes each partition's
        last record (or its role changes, or timeout_ms passes)."""
        replicas = self.broker.replicas

        def leader_of(key: PartitionKey) -> PartitionLeader | None:
            partition = replicas.get(*key)
            return None if partition is None else partition.leader_core

        operation: DelayedProduce[PartitionKey] = DelayedProduce(required, leader_of)
        deadline_ms = self.clock_ms() + max(timeout_ms, 0)
        parked = self.produces.try_complete_else_watch(operation, list(required), deadline_ms)
        if parked is Parked.WATCHING:
            event = trio.Event()
            self._produce_events[id(operation)] = event
            try:
                with trio.move_on_after(max(timeout_ms, 0) / 1000):
                    await event.wait()
                if not event.is_set():
                    for expired in self.produces.expire(max(deadline_ms, self.clock_ms())):
                        self._wake(expired)
            finally:
                self._produce_events.pop(id(operation), None)
        return operation.expire()

    def _wake(self, operation: DelayedProduce[PartitionKey]) -> None:
        event = self._produce_events.get(id(operation))
        if event is not None:
            event.set()

    # -- the follower side: one fetcher per source leader ------------------------------------

    def _followed_from(self, leader_id: int) -> list[Partition]:
        return [p for p in self.broker.replicas.partitions()
                if p.follower_core is not None and p.follower_core.leader_id == leader_id]

    def _start_fetchers(self) -> None:
        leaders = {p.follower_core.leader_id for p in self.broker.replicas.partitions()
                   if p.follower_core is not None}
        for leader_id in leaders:
            wake = self._fetchers.get(leader_id)
            if wake is not None:
                wake.set()
                continue
            self._fetchers[leader_id] = trio.Event()
            if self._nursery is not None:
                self._nursery.start_soon(self._fetch_loop, leader_id)

    async def _fetch_loop(self, leader_id: int) -> None:
        connection: _PeerConnection | None = None
        failures = 0  # in a row: only the first of a streak is logged at INFO
        try:
            while True:
                if not self._followed_from(leader_id):
                    # Forgotten in the same step as the check: a later role change
                    # starts a new fetcher rather than waking this finished one.
                    self._fetchers.pop(leader_id, None)
                    break
                try:
                    if connection is None:
                        connection = await self._connect(leader_id)
                        if connection is None:
                            await trio.sleep(RECONNECT_BACKOFF_S)
                            continue
                    fetched = await self._fetch_once(leader_id, connection)
                    failures = 0
                    if not fetched:
                        wake = self._fetchers[leader_id] = trio.Event()
                        with trio.move_on_after(self.follower_config.retry_backoff_ms / 1000):
                            await wake.wait()
                except Exception as error:  # the broker must survive a bad peer or answer
                    failures += 1
                    expected = isinstance(error, OSError | trio.TooSlowError | trio.BrokenResourceError)
                    log.log(logging.INFO if failures == 1 or not expected else logging.DEBUG,
                            "replica fetcher from broker %d: %r; reconnecting", leader_id, error,
                            exc_info=not expected)
                    if connection is not None:
                        await connection.aclose()
                    connection = None
                    self._fail_in_flight(leader_id)
                    await trio.sleep(RECONNECT_BACKOFF_S)
        finally:
            if connection is not None:
                await connection.aclose()

    async def _connect(self, leader_id: int) -> _PeerConnection | None:
        registration = self.broker.metadata.state.broker(leader_id)
        if registration is None:
            return None
        with trio.fail_after(5):
            stream = await trio.open_tcp_stream(registration.host, registration.port)
        return _PeerConnection(stream, f"flowlog-replica-{self.node_id}")

    def _fail_in_flight(self, leader_id: int) -> None:
        """A broken connection: the cores' requests get an error (they back off and resend)."""
        now_ms = self.clock_ms()
        for partition in self._followed_from(leader_id):
            follower = partition.follower_core
            assert follower is not None
            request = follower.in_flight
            if isinstance(request, FetchRequest):
                follower.on_fetch_answer(FetchAnswer(request.request_id, ErrorCode.NETWORK_EXCEPTION), now_ms)
            elif isinstance(request, EpochRequest):
                follower.on_epoch_answer(EpochAnswer(
                    request.request_id, ErrorCode.NETWORK_EXCEPTION, EpochEndOffset(-1, -1)), now_ms)

    async def _fetch_once(self, leader_id: int, connection: _PeerConnection) -> bool:
        """One round: poll every core, send their requests; False if none had one."""
        now_ms = self.clock_ms()
        fetches: dict[PartitionKey, tuple[Partition, FetchRequest]] = {}
        epochs: dict[PartitionKey, tuple[Partition, EpochRequest]] = {}
        for partition in self._followed_from(leader_id):
            follower = partition.follower_core
            assert follower is not None
            request = follower.poll(now_ms)
            key = (partition.topic, partition.index)
            if isinstance(request, FetchRequest):
                fetches[key] = (partition, request)
            elif isinstance(request, EpochRequest):
                epochs[key] = (partition, request)
        if not fetches and not epochs:
            return False
        with trio.fail_after(REPLICA_REQUEST_TIMEOUT_S):
            if epochs:
                await self._send_epochs(connection, epochs)
            if fetches:
                await self._send_fetches(connection, fetches)
        return True

    async def _send_epochs(self, connection: _PeerConnection,
                           epochs: dict[PartitionKey, tuple[Partition, EpochRequest]]) -> None:
        topics: dict[str, list[Any]] = {}
        for (topic, index), (_, request) in epochs.items():
            topics.setdefault(topic, []).append(OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=index, current_leader_epoch=request.current_leader_epoch,
                leader_epoch=request.leader_epoch))
        body = OffsetForLeaderEpochRequest(
            replica_id=self.node_id,
            topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=name, partitions=parts)
                    for name, parts in topics.items()])
        response = await connection.request(EPOCH_KEY, EPOCH_VERSION, body)
        now_ms = self.clock_ms()
        for topic_result in response.topics:
            for answer in topic_result.partitions:
                found = epochs.get((topic_result.topic, answer.partition))
                if found is None:
                    continue
                partition, request = found
                follower = partition.follower_core
                if follower is None:
                    continue
                self._apply(partition, follower.on_epoch_answer(EpochAnswer(
                    request.request_id, ErrorCode(answer.error_code),
                    EpochEndOffset(answer.leader_epoch, answer.end_offset)), now_ms))

    async def _send_fetches(self, connection: _PeerConnection,
                            fetches: dict[PartitionKey, tuple[Partition, FetchRequest]]) -> None:
        config = self.broker.config
        topics: dict[str, list[Any]] = {}
        for (topic, index), (partition, request) in fetches.items():
            topics.setdefault(topic, []).append(FetchRequestBody.FetchPartition(
                partition=index, current_leader_epoch=request.current_leader_epoch,
                fetch_offset=request.fetch_offset, last_fetched_epoch=request.last_fetched_epoch,
                log_start_offset=partition.log_start_offset,
                partition_max_bytes=config.replica_fetch_max_bytes))
        body = FetchRequestBody(
            replica_id=self.node_id, max_wait_ms=config.replica_fetch_wait_max_ms, min_bytes=1,
            max_bytes=config.replica_fetch_response_max_bytes, isolation_level=0, session_id=0, session_epoch=-1,
            topics=[FetchRequestBody.FetchTopic(topic=name, partitions=parts)
                    for name, parts in topics.items()],
            forgotten_topics_data=[], rack_id="")
        response = await connection.request(FETCH_KEY, FETCH_VERSION, body)
        now_ms = self.clock_ms()
        answered: set[PartitionKey] = set()
        for topic_response in response.responses:
            for data in topic_response.partitions:
                key = (topic_response.topic, data.partition_index)
                found = fetches.get(key)
                if found is None:
                    continue
                answered.add(key)
                partition, request = found
                follower = partition.follower_core
                if follower is None:
                    continue
                diverging = data.diverging_epoch
                diverging_epoch = None
                if diverging is not None and diverging.epoch >= 0:
                    diverging_epoch = EpochEndOffset(diverging.epoch, diverging.end_offset)
                code = ErrorCode(data.error_code) if data.error_code else ErrorCode.NONE
                if response.error_code:
                    code = ErrorCode(response.error_code)
                answer = FetchAnswer(
                    request.request_id, code, data.high_watermark, data.log_start_offset,
                    diverging_epoch, data.records or b"")
                self._apply(partition, follower.on_fetch_answer(answer, now_ms))
        for key in fetches.keys() - answered:
            partition, request = fetches[key]
            if partition.follower_core is not None:
                partition.follower_core.on_fetch_answer(
                    FetchAnswer(request.request_id, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), now_ms)
        # The flush policy holds for a follower's appends too, before its next fetch
        # reports them to the leader: with log.flush.interval.messages=1 an acks=all
        # record is then on every ISR member's disk when it is acknowledged (Kafka's
        # follower flushes in its append path the same way).
        for key in answered:
            await fetches[key][0].flush_if_due(now_ms)

    def _apply(self, partition: Partition, actions: list[Action]) -> None:
        now_ms = self.clock_ms()
        for action in actions:
            if isinstance(action, Truncate):
                if action.offset < partition.log.log_end_offset:
                    log.info("%s-%d: truncating to %d (log end %d)", partition.topic,
                             partition.index, action.offset, partition.log.log_end_offset)
                partition.truncate_as_follower(action.offset)
            elif isinstance(action, TruncateFullyAndStartAt):
                partition.truncate_fully_as_follower(action.offset)
            elif isinstance(action, Append):
                partition.append_as_follower(action.records, now_ms)
            elif isinstance(action, SetHighWatermark):
                pass  # the follower core holds it
            elif isinstance(action, AdvanceLogStart) and self._nursery is not None:
                # Under the partition's flush lock (segments are deleted): a task.
                self._nursery.start_soon(self._advance_log_start, partition, action.offset)
            else:  # pragma: no cover
                raise AssertionError(f"unexpected action {action!r}")
