"""Simulated clients: producers (acks=all or acks=1) and a consumer, each talking to
the leader the controller currently names (a client's metadata refresh, made instant)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.record_batch import iter_batch_spans, parse_header
from flowlog.replication.messages import NO_LEADER

from .log import StoredBatch, client_batch
from .wire import ConsumerFetch, ConsumerFetchAnswer, Envelope, Produce, ProduceAnswer

if TYPE_CHECKING:
    from .cluster import SimCluster

PRODUCE_TIMEOUT_MS = 400
CLIENT_REQUEST_TIMEOUT_MS = 700
CLIENT_BACKOFF_MS = 20
CONSUMER_MAX_WAIT_MS = 150


class SimProducer:
    def __init__(self, client_id: int, acks: int, cluster: SimCluster, rng: random.Random,
                 interval_ms: tuple[int, int]) -> None:
        self.client_id = client_id
        self.acks = acks
        self.cluster = cluster
        self.rng = rng
        self.interval_ms = interval_ms
        self.sequence = 0
        self.in_flight: tuple[int, bytes] | None = None
        self.acknowledged = 0

    def start(self) -> None:
        self.cluster.schedule(self.rng.randint(*self.interval_ms), self.send)

    def send(self) -> None:
        if not self.cluster.clients_active:
            return
        state = self.cluster.controller.state
        if state.leader == NO_LEADER:
            self.cluster.schedule(CLIENT_BACKOFF_MS, self.send)
            return
        self.sequence += 1
        sequence = self.sequence
        batch = client_batch(f"p{self.client_id}-{sequence}".encode(), self.cluster.now_ms)
        self.in_flight = (sequence, batch)
        self.cluster.send(Envelope(self.client_id, state.leader,
                                   Produce(sequence, self.acks, batch, PRODUCE_TIMEOUT_MS)))

        def timeout() -> None:
            if self.in_flight is not None and self.in_flight[0] == sequence:
                self.in_flight = None
                self.cluster.note("produce timeout", (self.client_id, sequence))
                self._next()

        self.cluster.schedule(CLIENT_REQUEST_TIMEOUT_MS, timeout)

    def receive(self, envelope: Envelope) -> None:
        answer = envelope.body
        assert isinstance(answer, ProduceAnswer)
        if self.in_flight is None or self.in_flight[0] != answer.sequence:
            return  # a duplicate or an answer after our timeout
        _, batch = self.in_flight
        self.in_flight = None
        self.cluster.note("produced", (self.client_id, self.acks, answer.sequence, answer.error.name,
                                       answer.base_offset))
        self.cluster.stats[f"acks={self.acks} {answer.error.name}"] += 1
        if answer.error is ErrorCode.NONE:
            self.acknowledged += 1
            if self.acks == -1:
                self.cluster.checker.on_acknowledged(answer.base_offset, batch)
        self._next()

    def _next(self) -> None:
        self.cluster.schedule(self.rng.randint(*self.interval_ms), self.send)


class SimConsumer:
    def __init__(self, client_id: int, cluster: SimCluster) -> None:
        self.client_id = client_id
        self.cluster = cluster
        self.position = 0
        self.last_epoch = -1
        self.request_id = 0
        self.in_flight: int | None = None
        self.consumed: list[StoredBatch] = []

    def start(self) -> None:
        self.cluster.schedule(CLIENT_BACKOFF_MS, self.poll)

    def poll(self) -> None:
        state = self.cluster.controller.state
        if state.leader == NO_LEADER:
            self.cluster.schedule(CLIENT_BACKOFF_MS, self.poll)
            return
        self.request_id += 1
        request_id = self.request_id
        self.in_flight = request_id
        self.cluster.send(Envelope(self.client_id, state.leader, ConsumerFetch(
            request_id, state.leader_epoch, self.position, self.last_epoch, CONSUMER_MAX_WAIT_MS)))

        def timeout() -> None:
            if self.in_flight == request_id:
                self.in_flight = None
                self.poll()

        self.cluster.schedule(CLIENT_REQUEST_TIMEOUT_MS, timeout)

    def receive(self, envelope: Envelope) -> None:
        answer = envelope.body
        assert isinstance(answer, ConsumerFetchAnswer)
        if answer.request_id != self.in_flight:
            return
        self.in_flight = None
        if answer.diverging_epoch is not None:
            self.cluster.checker.fail(
                f"consumer at {self.position} (epoch {self.last_epoch}) told to truncate to "
                f"{answer.diverging_epoch}: it had read data that was not kept")
        if answer.error is not ErrorCode.NONE:
            self.cluster.schedule(CLIENT_BACKOFF_MS, self.poll)
            return
        for start, size in iter_batch_spans(answer.records):
            header = parse_header(answer.records, start)
            batch = StoredBatch(header.base_offset, header.next_offset,
                                header.partition_leader_epoch, answer.records[start:start + size])
            self.cluster.checker.on_consumed(self, batch)
            self.consumed.append(batch)
            self.position = batch.next_offset
            self.last_epoch = batch.epoch
        self.cluster.schedule(0, self.poll)
