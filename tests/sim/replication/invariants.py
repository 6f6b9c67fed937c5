"""The replication invariants, checked after every event of a simulated run.

- the high watermark never moves back on a replica (within one process life), never
  passes the replica's log end and always falls on a batch boundary;
- committed data never changes: every batch below any replica's high watermark is
  the same batch (offsets, epoch, bytes) on every replica that has it below its own
  high watermark, so replicas agree up to their high watermarks;
- every acknowledged acks=all record is at its offset, unchanged, on every replica in
  the controller's ISR (on disk for one that is down), and so survives every leader
  change, since leaders come from the ISR;
- at most one replica leads an epoch, and it is the one the controller chose;
- a consumer sees only committed batches, in order, without gaps;
- a replica's epoch cache is what its batches imply (plus at most a leader's epoch
  starting at its log end).
At the end of a run (liveness), every replica holds the same log up to the same high
watermark, so a fenced leader's uncommitted tail is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlog.replication.leader_epoch_cache import cache_from_batches

from .log import StoredBatch

if TYPE_CHECKING:
    from .broker import SimBroker
    from .clients import SimConsumer
    from .cluster import SimCluster

PREFIX_REWRITTEN_BYTES = 16  # base offset, batch length, leader epoch


class InvariantViolation(AssertionError):
    pass


class InvariantChecker:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.committed: dict[int, StoredBatch] = {}
        # (broker, incarnation) -> highest high watermark seen
        self._high_watermarks: dict[tuple[int, int], int] = {}
        # broker -> offset up to which its log was matched against `committed`
        self._verified: dict[int, int] = {}
        # base offset -> the producer's batch (its bytes after the rewritten prefix)
        self.acknowledged: dict[int, bytes] = {}
        self._acknowledged_dirty = False
        self._leaders: dict[int, int] = {}

    def fail(self, text: str) -> None:
        raise InvariantViolation(text)

    # --- hooks -------------------------------------------------------------------------

    def on_start(self, broker: SimBroker) -> None:
        self._verified[broker.broker_id] = 0
        self._acknowledged_dirty = True

    def on_crash(self, broker: SimBroker) -> None:
        self._acknowledged_dirty = True

    def on_truncate(self, broker: SimBroker) -> None:
        self._acknowledged_dirty = True
        self._check_epoch_cache(broker)

    def on_isr_change(self) -> None:
        self._acknowledged_dirty = True

    def on_leader(self, broker: SimBroker) -> None:
        assert broker.leader is not None
        epoch = broker.leader.leader_epoch
        holder = self._leaders.setdefault(epoch, broker.broker_id)
        if holder != broker.broker_id:
            self.fail(f"brokers {holder} and {broker.broker_id} both lead epoch {epoch}")
        chosen = self.cluster.controller.leaders_by_epoch.get(epoch)
        if chosen != broker.broker_id:
            self.fail(f"broker {broker.broker_id} leads epoch {epoch}, the controller chose {chosen}")

    def on_acknowledged(self, base_offset: int, client_batch: bytes) -> None:
        self.acknowledged[base_offset] = client_batch[PREFIX_REWRITTEN_BYTES:]
        self._acknowledged_dirty = True

    def on_serve(self, broker: SimBroker, fetch_offset: int, records: bytes) -> None:
        """A leader answers a consumer: everything it sends is below its high watermark."""
        self._check_broker(broker)

    def on_consumed(self, consumer: SimConsumer, batch: StoredBatch) -> None:
        if batch.base_offset != consumer.position:
            self.fail(f"consumer at {consumer.position} got a batch at {batch.base_offset}")
        committed = self.committed.get(batch.base_offset)
        if committed != batch:
            self.fail(f"consumer saw {_describe(batch)}, committed is {_describe(committed)}")

    # --- after every event -------------------------------------------------------------

    def after_event(self) -> None:
        for broker in self.cluster.brokers.values():
            if broker.up:
                self._check_broker(broker)
        if self._acknowledged_dirty:
            self._acknowledged_dirty = False
            self.check_acknowledged()

    def _check_broker(self, broker: SimBroker) -> None:
        high_watermark = broker.high_watermark
        log = broker.log
        key = (broker.broker_id, broker.incarnation)
        seen = self._high_watermarks.get(key, -1)
        if high_watermark < seen:
            self.fail(f"broker {broker.broker_id} high watermark went back {seen} -> {high_watermark}")
        self._high_watermarks[key] = high_watermark
        if high_watermark > log.log_end_offset:
            self.fail(f"broker {broker.broker_id} high watermark {high_watermark} past its log "
                      f"end {log.log_end_offset}")
        verified = self._verified.get(broker.broker_id, 0)
        if high_watermark <= verified:
            return
        for batch in log.batches:  # short logs; the prefix below `verified` is skipped fast
            if batch.next_offset <= verified:
                continue
            if batch.base_offset >= high_watermark:
                break
            if batch.next_offset > high_watermark:
                self.fail(f"broker {broker.broker_id} high watermark {high_watermark} inside "
                          f"{_describe(batch)}")
            first = self.committed.setdefault(batch.base_offset, batch)
            if first != batch:
                self.fail(f"committed data changed at {batch.base_offset}: broker "
                          f"{broker.broker_id} has {_describe(batch)}, committed {_describe(first)}")
        self._verified[broker.broker_id] = high_watermark

    def check_acknowledged(self) -> None:
        for replica in sorted(self.cluster.controller.state.isr):
            broker = self.cluster.brokers[replica]
            batches = broker.log.batches if broker.up else broker.image.batches
            by_offset = {batch.base_offset: batch for batch in batches}
            for base_offset, content in self.acknowledged.items():
                held = by_offset.get(base_offset)
                if held is None or held.data[PREFIX_REWRITTEN_BYTES:] != content:
                    state = "up" if broker.up else "down"
                    self.fail(f"acknowledged batch at {base_offset} missing on ISR member "
                              f"{replica} ({state}): it holds {_describe(held)}")

    def _check_epoch_cache(self, broker: SimBroker) -> None:
        log = broker.log
        implied = cache_from_batches((b.base_offset, b.epoch) for b in log.batches).entries
        entries = log.epoch_cache.entries
        extra_at_end = (len(entries) == len(implied) + 1 and entries[-1][1] == log.log_end_offset
                        and (not implied or entries[-1][0] > implied[-1][0]))
        if entries != implied and not (extra_at_end and entries[:-1] == implied):
            self.fail(f"broker {broker.broker_id} epoch cache {entries}, its batches imply {implied}")

    # --- at the end --------------------------------------------------------------------

    def check_converged(self) -> None:
        brokers = list(self.cluster.brokers.values())
        reference = brokers[0]
        for broker in brokers:
            self._check_epoch_cache(broker)
            if broker.high_watermark != broker.log.log_end_offset:
                self.fail(f"broker {broker.broker_id} high watermark {broker.high_watermark} "
                          f"below its log end {broker.log.log_end_offset} after the calm")
            if broker.log.batches != reference.log.batches:
                self.fail(f"logs differ after the calm: broker {broker.broker_id} "
                          f"{_summary(broker.log.batches)} vs broker {reference.broker_id} "
                          f"{_summary(reference.log.batches)}")
        self.check_acknowledged()


def _describe(batch: StoredBatch | None) -> str:
    if batch is None:
        return "nothing"
    return f"[{batch.base_offset}, {batch.next_offset}) epoch {batch.epoch} {bytes(batch.data[61:])!r}"


def _summary(batches: list[StoredBatch]) -> str:
    return f"{len(batches)} batches, epochs {[b.epoch for b in batches][-8:]} (last 8)"
