"""One simulated broker for the partition: the shell around the replication cores.

It does what the trio broker will do with them: apply the controller's partition
state (become leader or follower, adopt a new ISR), serve follower and consumer
fetches and produces, park waiting requests in the purgatories, carry out the
follower's actions on the log, flush, heartbeat. Flush policy per run:

- durable: an offset counts for the high watermark only once flushed on the replica
  (the leader's own end is its flushed offset; a follower flushes before it fetches
  again, since its fetch offset acknowledges what it holds). Crashes lose the page
  cache, so unflushed data.
- lazy (Kafka's default): the log end counts; crashes are process crashes that keep
  the page cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.delayed_core import DelayedFetch, DelayedProduce
from flowlog.replication.follower_core import (
    Action,
    Append,
    PartitionFollower,
    SetHighWatermark,
    Truncate,
)
from flowlog.replication.leader_core import CONSUMER_REPLICA_ID, PartitionLeader
from flowlog.replication.leader_epoch_cache import UNDEFINED as _UNDEFINED
from flowlog.replication.leader_epoch_cache import end_offset_for
from flowlog.replication.messages import (
    NO_LEADER,
    EpochAnswer,
    EpochRequest,
    FetchAnswer,
    FetchRequest,
    PartitionState,
)
from flowlog.replication.purgatory_core import Parked, Purgatory

from .controller import AlterPartitionResult
from .log import DurableImage, SimLog
from .wire import (
    CONTROLLER_ID,
    ConsumerFetch,
    ConsumerFetchAnswer,
    Envelope,
    Heartbeat,
    Produce,
    ProduceAnswer,
    ReplicaFetch,
    StateUpdate,
)

if TYPE_CHECKING:
    from .cluster import SimCluster

KEY = 0  # the one partition
TICK_MS = 10
HEARTBEAT_INTERVAL_MS = 50
REPLICA_FETCH_MAX_WAIT_MS = 200
FETCH_BATCHES_MAX = 8
FLUSH_DELAY_MS_MAX = 6
LAZY_FLUSH_INTERVAL_MS = 100


class SimBroker:
    def __init__(self, broker_id: int, cluster: SimCluster) -> None:
        self.broker_id = broker_id
        self.cluster = cluster
        self.image = DurableImage()
        self.log = SimLog(self.image)
        self.up = False
        self.incarnation = 0
        self.state: PartitionState | None = None
        self.registered = False
        self.leader: PartitionLeader | None = None
        self.follower: PartitionFollower | None = None
        self._high_watermark = 0
        self.produces: Purgatory[int, DelayedProduce[int]] = Purgatory()
        self.fetches: Purgatory[int, DelayedFetch[int]] = Purgatory()
        self._answers: dict[int, Callable[[], None]] = {}
        self._flush_in_flight = False
        self._flush_again = False
        self._last_heartbeat_ms = -HEARTBEAT_INTERVAL_MS
        self._request_ids = itertools.count(1)

    # --- life ------------------------------------------------------------------------------

    @property
    def high_watermark(self) -> int:
        if self.leader is not None:
            return self.leader.high_watermark
        if self.follower is not None:
            return self.follower.high_watermark
        return self._high_watermark

    def start(self) -> None:
        assert not self.up
        self.up = True
        self.incarnation += 1
        self.log = SimLog(self.image)
        self._high_watermark = self.log.checkpointed_high_watermark
        self.state = None
        self.registered = False  # until the controller answers a heartbeat
        self.leader = self.follower = None
        self.produces, self.fetches, self._answers = Purgatory(), Purgatory(), {}
        self._flush_in_flight = self._flush_again = False
        self._last_heartbeat_ms = -HEARTBEAT_INTERVAL_MS
        self._request_ids = itertools.count(1)
        self.cluster.checker.on_start(self)
        self._schedule_tick(self.cluster.rng.randrange(1, TICK_MS + 1))

    def crash(self, lose_page_cache: bool) -> None:
        if not self.up:
            return
        self.image = self.log.image_after_crash(self.cluster.rng, lose_page_cache)
        self.up = False
        self.leader = self.follower = None
        self.cluster.checker.on_crash(self)

    def _schedule_tick(self, delay_ms: int) -> None:
        incarnation = self.incarnation
        self.cluster.schedule(delay_ms, lambda: self._tick(incarnation))

    def _alive(self, incarnation: int) -> bool:
        return self.up and self.incarnation == incarnation

    def _tick(self, incarnation: int) -> None:
        if not self._alive(incarnation):
            return
        now_ms = self.cluster.now_ms
        if now_ms - self._last_heartbeat_ms >= HEARTBEAT_INTERVAL_MS:
            self._last_heartbeat_ms = now_ms
            self._send(CONTROLLER_ID, Heartbeat(self.broker_id, self.incarnation))
        if self.leader is not None:
            request = self.leader.tick(now_ms)
            if request is not None:
                self._send(CONTROLLER_ID, request)
        for operation in self.produces.expire(now_ms):
            self._answer(operation)
        for fetch in self.fetches.expire(now_ms):
            self._answer(fetch)
        self._maybe_fetch()
        if not self.cluster.durable and now_ms % LAZY_FLUSH_INTERVAL_MS < TICK_MS:
            self._flush()
        self._schedule_tick(TICK_MS)

    def _send(self, recipient: int, body: object, to_incarnation: int | None = None) -> None:
        self.cluster.send(Envelope(self.broker_id, recipient, body, self.incarnation, to_incarnation))

    # --- metadata --------------------------------------------------------------------------

    def receive(self, envelope: Envelope) -> None:
        body = envelope.body
        if isinstance(body, StateUpdate) and envelope.to_incarnation == self.incarnation:
            # The controller answered this process's heartbeat: it knows we restarted
            # and took away any leadership of our previous life.
            self.registered = True
        if not self.registered:
            # A restarted broker acts on nothing before that: a broadcast sent before
            # could name it leader of an epoch whose tail its crash lost.
            return
        if isinstance(body, StateUpdate):
            self.apply_state(body.state)
        elif isinstance(body, AlterPartitionResult):
            self._on_alter_partition_result(body)
        elif isinstance(body, ReplicaFetch):
            self._on_replica_fetch(envelope, body)
        elif isinstance(body, EpochRequest):
            self._on_epoch_request(envelope, body)
        elif isinstance(body, FetchAnswer):
            if self.follower is not None:
                self._apply(self.follower.on_fetch_answer(body, self.cluster.now_ms))
        elif isinstance(body, EpochAnswer):
            if self.follower is not None:
                self._apply(self.follower.on_epoch_answer(body, self.cluster.now_ms))
        elif isinstance(body, Produce):
            self._on_produce(envelope, body)
        elif isinstance(body, ConsumerFetch):
            self._on_consumer_fetch(envelope, body)
        else:
            raise AssertionError(f"unexpected message {body!r}")

    def apply_state(self, state: PartitionState) -> None:
        if not state.newer_than(self.state):
            return
        self.state = state
        now_ms = self.cluster.now_ms
        if state.leader == self.broker_id:
            if self.leader is not None and self.leader.leader_epoch == state.leader_epoch:
                if self.leader.on_partition_state(state):
                    self._on_high_watermark_moved()
                return
            self._become_leader(state, now_ms)
        elif (self.follower is None or self.follower.leader_epoch != state.leader_epoch
              or self.leader is not None):
            self._become_follower(state)

    def _leave_role(self) -> None:
        self._high_watermark = self.high_watermark
        self.leader = self.follower = None
        for operation in self.produces.remove_key(KEY):
            operation.try_complete()  # no leader now: NOT_LEADER_OR_FOLLOWER
            self._answer(operation)
        for fetch in self.fetches.remove_key(KEY):
            self._answer(fetch)

    def _become_leader(self, state: PartitionState, now_ms: int) -> None:
        self._leave_role()
        self.log.assign_epoch(state.leader_epoch)
        local_end = self.log.flushed_offset if self.cluster.durable else self.log.log_end_offset
        self.leader = PartitionLeader(
            self.broker_id, state, self.log, local_end_offset=local_end,
            high_watermark=self._high_watermark, epoch_start_offset=self.log.log_end_offset,
            now_ms=now_ms, config=self.cluster.leader_config)
        self.cluster.checker.on_leader(self)
        self.cluster.note("leader", (self.broker_id, state.leader_epoch, self.log.log_end_offset))
        if self.leader.on_local_end_offset(local_end):
            self._on_high_watermark_moved()

    def _become_follower(self, state: PartitionState) -> None:
        self._leave_role()
        if state.leader == NO_LEADER:
            return
        self.follower = PartitionFollower(
            self.broker_id, state.leader, state.leader_epoch, self.log,
            high_watermark=self._high_watermark, config=self.cluster.follower_config,
            next_request_id=self._request_ids.__next__)
        self._maybe_fetch()

    def _on_alter_partition_result(self, result: AlterPartitionResult) -> None:
        if self.leader is not None and result.error is not ErrorCode.NONE:
            self.leader.on_alter_partition_error(result.request, result.error)
        self.apply_state(result.state)

    def _on_high_watermark_moved(self) -> None:
        for operation in self.produces.check_and_complete(KEY):
            self._answer(operation)
        for fetch in self.fetches.check_and_complete(KEY):
            self._answer(fetch)

    # --- follower side ---------------------------------------------------------------------

    def _maybe_fetch(self) -> None:
        follower = self.follower
        if follower is None:
            return
        if self.cluster.durable and self.log.durable_count < len(self.log.batches):
            self._flush()  # our fetch offset acknowledges what we hold: flush first
            return
        request = follower.poll(self.cluster.now_ms)
        if isinstance(request, FetchRequest):
            self._send(follower.leader_id, ReplicaFetch(request, REPLICA_FETCH_MAX_WAIT_MS))
        elif isinstance(request, EpochRequest):
            self._send(follower.leader_id, request)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Truncate):
                self.cluster.note("truncate", (self.broker_id, action.offset, self.log.log_end_offset))
                if action.offset < self.log.log_end_offset:
                    self.cluster.stats["truncate dropping a tail"] += 1
                self.log.truncate_to(action.offset)
                self.cluster.checker.on_truncate(self)
            elif isinstance(action, Append):
                self.log.append_as_follower(action.records)
            elif isinstance(action, SetHighWatermark):
                pass  # the follower core holds it; the checker reads it
            else:
                raise AssertionError(f"unexpected action {action!r}")
        self._maybe_fetch()

    # --- leader side -----------------------------------------------------------------------

    def _epoch_error(self, current_leader_epoch: int) -> ErrorCode:
        known = self.state.leader_epoch if self.state is not None else -1
        if current_leader_epoch >= 0 and current_leader_epoch < known:
            return ErrorCode.FENCED_LEADER_EPOCH
        if current_leader_epoch > known:
            return ErrorCode.UNKNOWN_LEADER_EPOCH
        return ErrorCode.NOT_LEADER_OR_FOLLOWER

    def _on_replica_fetch(self, envelope: Envelope, fetch: ReplicaFetch) -> None:
        request = fetch.request
        leader = self.leader
        reply_to = envelope.sender_incarnation
        if leader is None:
            error = self._epoch_error(request.current_leader_epoch)
            self._send(envelope.sender, FetchAnswer(request.request_id, error), reply_to)
            return
        check = leader.check_fetch(request.replica_id, request.current_leader_epoch,
                                   request.fetch_offset, request.last_fetched_epoch)
        if not check.may_read:
            self._send(envelope.sender, FetchAnswer(
                request.request_id, check.error, leader.high_watermark, 0, check.diverging_epoch),
                reply_to)
            return
        outcome = leader.on_follower_fetch(request.replica_id, request.fetch_offset, self.cluster.now_ms)
        if outcome.alter_partition is not None:
            self._send(CONTROLLER_ID, outcome.alter_partition)
        if outcome.high_watermark_moved:
            self._on_high_watermark_moved()

        def answer() -> None:
            self._answer_replica_fetch(envelope, request, leader)

        self._serve_fetch(request.fetch_offset, fetch.max_wait_ms, answer,
                          lambda: self.log.log_end_offset if self.leader is leader else None)

    def _answer_replica_fetch(self, envelope: Envelope, request: FetchRequest,
                              leader: PartitionLeader) -> None:
        if self.leader is not leader:
            answer = FetchAnswer(request.request_id, ErrorCode.NOT_LEADER_OR_FOLLOWER)
        else:
            records = self.log.read(request.fetch_offset, self.log.log_end_offset, FETCH_BATCHES_MAX)
            answer = FetchAnswer(request.request_id, ErrorCode.NONE, leader.high_watermark, 0,
                                 records=records)
        self._send(envelope.sender, answer, envelope.sender_incarnation)
        if isinstance(answer.records, bytes) and answer.records and self.log.flushed_offset < \
                self.log.log_end_offset:
            self.cluster.on_unflushed_served(self.broker_id)

    def _serve_fetch(self, fetch_offset: int, max_wait_ms: int, answer: Callable[[], None],
                     readable_end: Callable[[], int | None]) -> None:
        """Answer now if there is data, else park until some arrives or the deadline."""
        delayed: DelayedFetch[int] = DelayedFetch({KEY: fetch_offset}, lambda _key: readable_end())
        deadline_ms = self.cluster.now_ms + max_wait_ms
        if max_wait_ms <= 0 or self.fetches.try_complete_else_watch(
                delayed, [KEY], deadline_ms) is not Parked.WATCHING:
            answer()
            return
        self._answers[id(delayed)] = answer
        self._wake_at(deadline_ms)

    def _on_epoch_request(self, envelope: Envelope, request: EpochRequest) -> None:
        leader = self.leader
        reply_to = envelope.sender_incarnation
        if leader is None:
            error = self._epoch_error(request.current_leader_epoch)
            self._send(envelope.sender, EpochAnswer(request.request_id, error, _UNDEFINED), reply_to)
            return
        check = leader.check_fetch(request.replica_id, request.current_leader_epoch, 0)
        if check.error in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH):
            self._send(envelope.sender, EpochAnswer(request.request_id, check.error, _UNDEFINED), reply_to)
            return
        end = end_offset_for(self.log, request.leader_epoch)
        self._send(envelope.sender, EpochAnswer(request.request_id, ErrorCode.NONE, end), reply_to)

    def _on_produce(self, envelope: Envelope, produce: Produce) -> None:
        leader = self.leader
        reply_to = envelope.sender_incarnation

        def reply(error: ErrorCode, base_offset: int = -1) -> None:
            self._send(envelope.sender, ProduceAnswer(produce.sequence, error, base_offset), reply_to)

        if leader is None:
            reply(ErrorCode.NOT_LEADER_OR_FOLLOWER)
            return
        error = leader.check_append(produce.acks)
        if error is not ErrorCode.NONE:
            reply(error)
            return
        stored = self.log.append_as_leader(produce.batch, leader.leader_epoch)
        if not self.cluster.durable and leader.on_local_end_offset(self.log.log_end_offset):
            self._on_high_watermark_moved()
        self._flush()
        for fetch in self.fetches.check_and_complete(KEY):  # followers wait on our end
            self._answer(fetch)
        if produce.acks != -1:
            reply(ErrorCode.NONE, stored.base_offset)
            return
        delayed: DelayedProduce[int] = DelayedProduce(
            {KEY: (leader.leader_epoch, stored.next_offset)},
            lambda _key: self.leader)
        deadline_ms = self.cluster.now_ms + produce.timeout_ms

        def answer() -> None:
            reply(delayed.results.get(KEY, ErrorCode.REQUEST_TIMED_OUT), stored.base_offset)

        if self.produces.try_complete_else_watch(delayed, [KEY], deadline_ms) is Parked.WATCHING:
            self._answers[id(delayed)] = answer
            self._wake_at(deadline_ms)
        else:
            answer()

    def _on_consumer_fetch(self, envelope: Envelope, fetch: ConsumerFetch) -> None:
        leader = self.leader
        reply_to = envelope.sender_incarnation
        if leader is None:
            error = self._epoch_error(fetch.current_leader_epoch)
            self._send(envelope.sender, ConsumerFetchAnswer(fetch.request_id, error), reply_to)
            return
        check = leader.check_fetch(CONSUMER_REPLICA_ID, fetch.current_leader_epoch,
                                   fetch.fetch_offset, fetch.last_fetched_epoch)
        if not check.may_read:
            self._send(envelope.sender, ConsumerFetchAnswer(
                fetch.request_id, check.error, leader.high_watermark, check.diverging_epoch), reply_to)
            return

        def answer() -> None:
            if self.leader is not leader:
                body = ConsumerFetchAnswer(fetch.request_id, ErrorCode.NOT_LEADER_OR_FOLLOWER)
            else:
                high_watermark = leader.high_watermark
                records = self.log.read(fetch.fetch_offset, high_watermark, FETCH_BATCHES_MAX)
                self.cluster.checker.on_serve(self, fetch.fetch_offset, records)
                body = ConsumerFetchAnswer(fetch.request_id, ErrorCode.NONE, high_watermark,
                                           records=records)
            self._send(envelope.sender, body, reply_to)

        self._serve_fetch(fetch.fetch_offset, fetch.max_wait_ms, answer,
                          lambda: leader.high_watermark if self.leader is leader else None)

    def _answer(self, operation: object) -> None:
        if isinstance(operation, DelayedProduce):
            operation.expire()  # fills in REQUEST_TIMED_OUT where still open
        answer = self._answers.pop(id(operation), None)
        if answer is not None:
            answer()

    def _wake_at(self, deadline_ms: int) -> None:
        incarnation = self.incarnation

        def expire() -> None:
            if self._alive(incarnation):
                for operation in self.produces.expire(self.cluster.now_ms):
                    self._answer(operation)
                for fetch in self.fetches.expire(self.cluster.now_ms):
                    self._answer(fetch)

        self.cluster.schedule(max(0, deadline_ms - self.cluster.now_ms), expire)

    # --- flush -----------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._flush_in_flight:
            self._flush_again = True
            return
        if self.log.durable_count >= len(self.log.batches):
            return
        self._flush_in_flight = True
        count = self.log.flush_covering()
        incarnation = self.incarnation

        def completed() -> None:
            if not self._alive(incarnation):
                return
            self._flush_in_flight = False
            self.log.flush_completed(count, self.high_watermark)
            if self.cluster.durable and self.leader is not None:
                flushed = self.log.flushed_offset
                if flushed > self.leader.local_end_offset and self.leader.on_local_end_offset(flushed):
                    self._on_high_watermark_moved()
            if self._flush_again:
                self._flush_again = False
                self._flush()
            self._maybe_fetch()

        self.cluster.schedule(self.cluster.rng.randint(1, FLUSH_DELAY_MS_MAX), completed)
