"""The leader's side of one partition's replication (sans-IO), after Kafka's Partition.

The leader tracks each follower's log end offset (the offset of its last valid fetch)
and when it last caught up; the high watermark is the minimum log end offset over the
ISR, the leader's own included, and never moves back. ISR changes go through the
controller (AlterPartition, KIP-497) and take effect only once committed; until then
the high watermark counts the *maximal* ISR (the committed one plus a pending
addition), so a replica is never relied on before the controller knows it is in sync,
and never dropped from the count before the controller agrees it is out.

Why that is safe: the controller's ISR is always a subset of the leader's maximal ISR
(it grows only through the leader's requests and otherwise only shrinks), a new leader
is elected from it, and every member of the maximal ISR holds every offset below the
high watermark. So nothing below a high watermark is lost by a clean election.

The leader's own contribution (`local_end_offset`) is whatever the flush policy makes
acknowledgeable: the log end offset when replication alone is trusted (Kafka's
default), or the flushed offset when acks must survive a power loss of every replica.
"""

from __future__ import annotations

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.leader_epoch_cache import EpochEndOffset, ReplicaLog, end_offset_for
from flowlog.replication.messages import AlterPartitionRequest, PartitionState

UNKNOWN_OFFSET = -1
# Fetch's replica id for a consumer (any negative id is one).
CONSUMER_REPLICA_ID = -1


@attrs.frozen
class LeaderConfig:
    replica_lag_time_max_ms: int = 30_000
    min_insync_replicas: int = 1
    # An AlterPartition left unanswered this long is sent again (the controller
    # answers a repeated request with the state it already committed).
    alter_partition_retry_ms: int = 2_000


@attrs.define
class FollowerProgress:
    """The leader's view of one follower (Kafka's ReplicaState)."""

    replica_id: int
    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_ms: int = 0
    last_fetch_ms: int = 0
    # The leader's log end offset when that last fetch arrived.
    last_fetch_leader_end_offset: int = UNKNOWN_OFFSET


@attrs.frozen
class FetchCheck:
    """Whether a fetch may read, and up to where.

    error NONE with diverging_epoch set: answer with no records and that epoch, the
    fetcher truncates (Fetch v12+). read_end_offset: the leader's log end offset for a
    follower, the high watermark for a consumer.
    """

    error: ErrorCode
    diverging_epoch: EpochEndOffset | None = None
    read_end_offset: int = -1

    @property
    def may_read(self) -> bool:
        return self.error is ErrorCode.NONE and self.diverging_epoch is None


@attrs.frozen
class FollowerFetchOutcome:
    high_watermark_moved: bool
    # Send this to the controller (an ISR expansion), if set.
    alter_partition: AlterPartitionRequest | None = None


class NotLeaderForState(ValueError):
    """A partition state for another leader or epoch was given to this leader core."""


class PartitionLeader:
    """One partition this broker leads at one leader epoch; replaced at the next."""

    def __init__(
        self,
        replica_id: int,
        state: PartitionState,
        log: ReplicaLog,
        *,
        local_end_offset: int,
        high_watermark: int,
        epoch_start_offset: int,
        now_ms: int,
        config: LeaderConfig,
    ) -> None:
        if state.leader != replica_id:
            raise NotLeaderForState(f"replica {replica_id} is not the leader of {state}")
        assert replica_id in state.isr, "a leader is always in its ISR"
        assert 0 <= high_watermark <= local_end_offset <= log.log_end_offset
        self.replica_id = replica_id
        self.log = log
        self.config = config
        self.replicas = state.replicas
        self.leader_epoch = state.leader_epoch
        self.partition_epoch = state.partition_epoch
        self.isr = state.isr
        # Where this epoch's data starts: a follower must reach it to rejoin the ISR
        # (it then has truncated against this leader).
        self.epoch_start_offset = epoch_start_offset
        self.local_end_offset = local_end_offset
        self.high_watermark = high_watermark
        # Followers in the ISR count as caught up now, so they are not dropped before
        # they had a chance to fetch from the new leader (Kafka resets them likewise).
        self.followers = {
            replica: FollowerProgress(replica, last_caught_up_ms=now_ms if replica in state.isr else 0)
            for replica in state.replicas
            if replica != replica_id
        }
        self.pending: AlterPartitionRequest | None = None
        self.pending_sent_ms = 0

    # --- ISR views ---------------------------------------------------------------------

    @property
    def maximal_isr(self) -> frozenset[int]:
        """The committed ISR plus a pending addition (a pending removal still counts)."""
        if self.pending is None:
            return self.isr
        return self.isr | self.pending.new_isr

    # --- produce -----------------------------------------------------------------------

    def check_append(self, acks: int) -> ErrorCode:
        """Before appending: acks=all needs min.insync.replicas in the committed ISR."""
        if acks == -1 and len(self.isr) < self.config.min_insync_replicas:
            return ErrorCode.NOT_ENOUGH_REPLICAS
        return ErrorCode.NONE

    def produce_result(self, required_offset: int) -> ErrorCode | None:
        """An acks=all produce whose last record is at required_offset - 1: None while
        it must wait, else its answer. The records are committed either way once the
        high watermark passes them; if the ISR shrank below min.insync.replicas while
        waiting the producer hears NOT_ENOUGH_REPLICAS_AFTER_APPEND (as Kafka)."""
        if self.high_watermark < required_offset:
            return None
        if len(self.maximal_isr) < self.config.min_insync_replicas:
            return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return ErrorCode.NONE

    def on_local_end_offset(self, offset: int) -> bool:
        """The leader's acknowledgeable end moved (an append, or a flush); True if the
        high watermark moved."""
        assert offset >= self.local_end_offset, "the local end offset never moves back"
        self.local_end_offset = offset
        return self._advance_high_watermark()

    # --- fetch -------------------------------------------------------------------------

    def check_fetch(
        self,
        replica_id: int,
        current_leader_epoch: int,
        fetch_offset: int,
        last_fetched_epoch: int = -1,
    ) -> FetchCheck:
        """Kafka's checks of one fetched partition, in its order (KIP-320): the leader
        epoch fence, the replica, the diverging epoch, the offset range."""
        if current_leader_epoch >= 0:
            if current_leader_epoch < self.leader_epoch:
                return FetchCheck(ErrorCode.FENCED_LEADER_EPOCH)
            if current_leader_epoch > self.leader_epoch:
                return FetchCheck(ErrorCode.UNKNOWN_LEADER_EPOCH)
        from_follower = replica_id >= 0
        if from_follower and replica_id not in self.followers:
            return FetchCheck(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        read_end = self.log.log_end_offset if from_follower else self.high_watermark
        if last_fetched_epoch >= 0:
            end = end_offset_for(self.log, last_fetched_epoch)
            if end.undefined or fetch_offset < self.log.log_start_offset:
                return FetchCheck(ErrorCode.OFFSET_OUT_OF_RANGE)
            if end.epoch < last_fetched_epoch or end.end_offset < fetch_offset:
                return FetchCheck(ErrorCode.NONE, diverging_epoch=end, read_end_offset=read_end)
        if not self.log.log_start_offset <= fetch_offset <= self.log.log_end_offset:
            return FetchCheck(ErrorCode.OFFSET_OUT_OF_RANGE)
        return FetchCheck(ErrorCode.NONE, read_end_offset=read_end)

    def on_follower_fetch(self, replica_id: int, fetch_offset: int, now_ms: int) -> FollowerFetchOutcome:
        """A follower's fetch passed check_fetch with no diverging epoch: its log matches
        ours up to fetch_offset, which is its log end offset. Call once per request (not
        again when a parked fetch completes)."""
        progress = self.followers[replica_id]
        leader_end = self.log.log_end_offset
        assert fetch_offset <= leader_end, "check_fetch refuses fetches past our log end"
        # Kafka's rule: caught up now if at our end; caught up as of the previous fetch
        # if it reached what our end was then.
        if fetch_offset >= leader_end:
            progress.last_caught_up_ms = max(progress.last_caught_up_ms, now_ms)
        elif fetch_offset >= progress.last_fetch_leader_end_offset >= 0:
            progress.last_caught_up_ms = max(progress.last_caught_up_ms, progress.last_fetch_ms)
        progress.log_end_offset = fetch_offset
        progress.last_fetch_ms = now_ms
        progress.last_fetch_leader_end_offset = leader_end
        moved = self._advance_high_watermark()
        return FollowerFetchOutcome(moved, self._maybe_expand(replica_id, now_ms))

    # --- ISR changes -------------------------------------------------------------------

    def tick(self, now_ms: int) -> AlterPartitionRequest | None:
        """Periodic work: drop lagging followers from the ISR, resend a lost request."""
        if self.pending is not None:
            if now_ms - self.pending_sent_ms >= self.config.alter_partition_retry_ms:
                self.pending_sent_ms = now_ms
                return self.pending
            return None
        lagging = self.out_of_sync_replicas(now_ms)
        if not lagging:
            return None
        return self._propose(self.isr - lagging, now_ms)

    def out_of_sync_replicas(self, now_ms: int) -> frozenset[int]:
        """ISR members not caught up within replica.lag.time.max.ms (Kafka's rule: at
        our log end, or caught up recently enough)."""
        leader_end = self.log.log_end_offset
        lag_max_ms = self.config.replica_lag_time_max_ms
        return frozenset(
            replica
            for replica in self.isr
            if replica != self.replica_id
            and self.followers[replica].log_end_offset != leader_end
            and now_ms - self.followers[replica].last_caught_up_ms > lag_max_ms
        )

    def on_partition_state(self, state: PartitionState) -> bool:
        """A newer committed state of our own leadership (an AlterPartition answer or a
        metadata update): adopt its ISR. True if the high watermark moved."""
        if state.leader != self.replica_id or state.leader_epoch != self.leader_epoch:
            raise NotLeaderForState(f"{state} is not leader {self.replica_id} epoch {self.leader_epoch}")
        if state.partition_epoch <= self.partition_epoch:
            return False  # stale or repeated
        assert self.replica_id in state.isr
        self.partition_epoch = state.partition_epoch
        self.isr = state.isr
        self.replicas = state.replicas
        # Whatever was pending was applied or superseded: re-decide from the new state.
        self.pending = None
        for replica in state.replicas:
            if replica != self.replica_id and replica not in self.followers:
                self.followers[replica] = FollowerProgress(replica)
        return self._advance_high_watermark()

    def on_alter_partition_error(self, request: AlterPartitionRequest, error: ErrorCode) -> None:
        """The controller refused `request` (stale partition epoch, fenced or ineligible
        replica, a newer leader): forget it and wait for the metadata."""
        if self.pending == request:
            self.pending = None

    # --- helpers -----------------------------------------------------------------------

    def _maybe_expand(self, replica_id: int, now_ms: int) -> AlterPartitionRequest | None:
        """A follower outside the ISR that reached the high watermark within this epoch
        (so it has truncated against us) is proposed back in."""
        if self.pending is not None or replica_id in self.isr:
            return None
        end = self.followers[replica_id].log_end_offset
        if end < self.high_watermark or end < self.epoch_start_offset:
            return None
        return self._propose(self.isr | {replica_id}, now_ms)

    def _propose(self, new_isr: frozenset[int], now_ms: int) -> AlterPartitionRequest:
        assert self.replica_id in new_isr
        self.pending = AlterPartitionRequest(self.replica_id, self.leader_epoch, self.partition_epoch, new_isr)
        self.pending_sent_ms = now_ms
        return self.pending

    def _advance_high_watermark(self) -> bool:
        candidate = self.local_end_offset
        for replica in self.maximal_isr:
            if replica != self.replica_id:
                candidate = min(candidate, self.followers[replica].log_end_offset)
        if candidate <= self.high_watermark:
            return False  # never backwards (an unknown follower end, -1, holds it)
        self.high_watermark = candidate
        return True
