"""A follower's side of one partition's replication (sans-IO), after Kafka's
AbstractFetcherThread.

On becoming a follower of leader L at epoch E the replica first makes sure its log
has no tail that L's log lacks, then fetches from its log end. Divergence is found
either with an OffsetForLeaderEpoch round trip before the first fetch (KIP-101), or
inline: each fetch carries the epoch of our last batch and the leader answers with
a DivergingEpoch instead of records when our log went further in that epoch than its
own (KIP-320). Either answer is (epoch, end offset) and gives the truncation point by
KIP-279's rule: truncate to min(leader's end of the epoch, our own end of it, our log
end); if the leader answered with an epoch we do not have, truncate to the end of
our largest smaller epoch and ask again.

The core only decides. It returns actions (truncate, append, move the high
watermark, move the log start) for the shell to carry out on the log, in order, and reads the log back
through ReplicaLog. When the next fetch is sent is the shell's choice: its fetch
offset tells the leader what this replica holds, so a shell that promises durable
acks flushes before fetching again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.record_batch import iter_batch_spans, parse_header
from flowlog.replication.leader_epoch_cache import UNDEFINED_EPOCH, EpochEndOffset, ReplicaLog
from flowlog.replication.messages import EpochAnswer, EpochRequest, FetchAnswer, FetchRequest


@attrs.frozen
class FollowerConfig:
    # A request with no answer after this long is sent again (its answer, if it
    # ever comes, is then ignored).
    request_timeout_ms: int = 30_000
    # After an error answer (a leader that does not know its epoch yet, ...).
    retry_backoff_ms: int = 100
    # Truncate with OffsetForLeaderEpoch before fetching (KIP-101), instead of
    # relying on the leader's DivergingEpoch in fetch answers (KIP-320).
    truncate_with_epoch_request: bool = False


@attrs.frozen
class Truncate:
    """Drop every batch holding an offset >= offset, and the epochs that start there
    (the epoch cache too when offset >= the log end: a former leader may have an
    epoch entry at its log end with no batch)."""

    offset: int


@attrs.frozen
class TruncateFullyAndStartAt:
    """Empty the log; it restarts at offset (the leader's log start passed ours)."""

    offset: int


@attrs.frozen
class Append:
    """Append these batches as they are (offsets and epochs kept: the leader's)."""

    records: bytes | memoryview
    base_offset: int
    next_offset: int


@attrs.frozen
class SetHighWatermark:
    offset: int


@attrs.frozen
class AdvanceLogStart:
    """Delete the records below offset: the leader's log start moved past ours
    (retention or DeleteRecords there), as Kafka's follower does."""

    offset: int


Action = Truncate | TruncateFullyAndStartAt | Append | SetHighWatermark | AdvanceLogStart


class FollowerProtocolError(ValueError):
    """The leader sent records that cannot follow our log (a broken invariant)."""


class PartitionFollower:
    """One partition this broker follows, for one (leader, leader epoch)."""

    def __init__(
        self,
        replica_id: int,
        leader_id: int,
        leader_epoch: int,
        log: ReplicaLog,
        *,
        high_watermark: int,
        config: FollowerConfig,
        next_request_id: Callable[[], int],
    ) -> None:
        """next_request_id: ids unique for this partition over the process's life (one
        counter per partition, shared by its successive follower cores), so that a late
        answer to an earlier core (another leader or epoch) never matches ours."""
        self.replica_id = replica_id
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.log = log
        self.config = config
        self.high_watermark = high_watermark
        # Kafka's "Truncating" state: ask the leader where our last epoch ends first.
        # A log with no epoch has no tail to check.
        self.truncating = config.truncate_with_epoch_request and log.latest_epoch != UNDEFINED_EPOCH
        self._next_request_id = next_request_id
        self.in_flight: FetchRequest | EpochRequest | None = None
        self._in_flight_sent_ms = 0
        self._not_before_ms = 0

    # --- requests ----------------------------------------------------------------------

    def poll(self, now_ms: int) -> FetchRequest | EpochRequest | None:
        """The request to send now, if any: one at a time, resent after a timeout."""
        if self.in_flight is not None:
            if now_ms - self._in_flight_sent_ms < self.config.request_timeout_ms:
                return None
            self.in_flight = None  # lost: its late answer will not match
        if now_ms < self._not_before_ms:
            return None
        request_id = self._next_request_id()
        request: FetchRequest | EpochRequest
        if self.truncating:
            request = EpochRequest(request_id, self.replica_id, self.leader_epoch, self.log.latest_epoch)
        else:
            request = FetchRequest(request_id, self.replica_id, self.leader_epoch,
                                   self.log.log_end_offset, self.log.latest_epoch)
        self.in_flight = request
        self._in_flight_sent_ms = now_ms
        return request

    def on_epoch_answer(self, answer: EpochAnswer, now_ms: int) -> list[Action]:
        request = self.in_flight
        if not isinstance(request, EpochRequest) or request.request_id != answer.request_id:
            return []  # stale, duplicated or late
        self.in_flight = None
        if answer.error is not ErrorCode.NONE:
            self._back_off(now_ms)
            return []
        offset, complete = self.truncation_offset(answer.end)
        self.truncating = not complete
        return self._truncate(offset)

    def on_fetch_answer(self, answer: FetchAnswer, now_ms: int) -> list[Action]:
        request = self.in_flight
        if not isinstance(request, FetchRequest) or request.request_id != answer.request_id:
            return []
        self.in_flight = None
        if request.fetch_offset != self.log.log_end_offset:
            return []  # our log changed since (cannot happen through this core; be safe)
        if answer.error is ErrorCode.OFFSET_OUT_OF_RANGE:
            return self._out_of_range(answer, now_ms)
        if answer.error is not ErrorCode.NONE:
            # FENCED_LEADER_EPOCH: the metadata will move us on; UNKNOWN_LEADER_EPOCH or
            # NOT_LEADER_OR_FOLLOWER: the leader has not caught up with it yet.
            self._back_off(now_ms)
            return []
        if answer.diverging_epoch is not None:
            offset, _complete = self.truncation_offset(answer.diverging_epoch)
            return self._truncate(offset)
        actions: list[Action] = []
        next_offset = request.fetch_offset
        if answer.records:
            append = self._append(answer.records, request.fetch_offset)
            actions.append(append)
            next_offset = append.next_offset
        high_watermark = min(answer.high_watermark, next_offset)
        if high_watermark > self.high_watermark:
            # Never back: a new leader may not yet know the high watermark we had.
            self.high_watermark = high_watermark
            actions.append(SetHighWatermark(high_watermark))
        # Follow the leader's log start, but never past what is committed here (Kafka's
        # maybeIncrementLogStartOffset refuses a start above the high watermark).
        log_start = min(answer.log_start_offset, self.high_watermark)
        if log_start > self.log.log_start_offset:
            actions.append(AdvanceLogStart(log_start))
        return actions

    # --- truncation --------------------------------------------------------------------

    def truncation_offset(self, leader_end: EpochEndOffset) -> tuple[int, bool]:
        """Where to truncate given the leader's (epoch, end offset) for our latest epoch,
        and whether that settles it (KIP-279)."""
        log_end = self.log.log_end_offset
        if leader_end.end_offset < 0:
            # The leader knows nothing of it: keep what is committed (Kafka's choice).
            return min(self.high_watermark, log_end), True
        if leader_end.epoch == UNDEFINED_EPOCH:
            return min(leader_end.end_offset, log_end), True
        our_epoch, our_end = self.log.end_offset_for_epoch(leader_end.epoch)
        if our_end < 0:
            # We never had that epoch nor an earlier one: the leader's end is the bound.
            return min(leader_end.end_offset, log_end), True
        if our_epoch != leader_end.epoch:
            # We skipped the epoch the leader answered with: cut to the end of our
            # largest earlier epoch, then ask again about the epoch we then end with.
            return min(our_end, log_end), False
        return min(our_end, leader_end.end_offset, log_end), True

    def _truncate(self, offset: int) -> list[Action]:
        actions: list[Action] = [Truncate(offset)]
        if offset < self.high_watermark:
            # Only an unclean election can take committed data away; Kafka follows the
            # leader, and so do we (the simulation flags it as a lost commit).
            self.high_watermark = offset
            actions.append(SetHighWatermark(offset))
        return actions

    def _out_of_range(self, answer: FetchAnswer, now_ms: int) -> list[Action]:
        if 0 <= self.log.log_end_offset < answer.log_start_offset:
            # The leader deleted what we would fetch next (retention): start at its start.
            self.high_watermark = max(self.high_watermark, answer.log_start_offset)
            return [TruncateFullyAndStartAt(answer.log_start_offset),
                    SetHighWatermark(self.high_watermark)]
        # Our last epoch is unknown to the leader: find the divergence the slow way.
        self.truncating = True
        self._back_off(now_ms)
        return []

    def _append(self, records: bytes | memoryview, fetch_offset: int) -> Append:
        spans: Sequence[tuple[int, int]] = iter_batch_spans(records)
        if not spans:
            raise FollowerProtocolError("fetched records hold no whole batch")
        first = parse_header(records, spans[0][0])
        last = parse_header(records, spans[-1][0])
        if first.base_offset < fetch_offset:
            raise FollowerProtocolError(
                f"leader sent a batch at {first.base_offset}, below our log end {fetch_offset}")
        end = spans[-1][0] + spans[-1][1]
        whole = records if end == len(records) else memoryview(records)[:end]
        return Append(whole, first.base_offset, last.next_offset)

    def _back_off(self, now_ms: int) -> None:
        self._not_before_ms = now_ms + self.config.retry_backoff_ms
