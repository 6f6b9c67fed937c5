"""The consumer: assign() or subscribe() (group member), with pipelined background fetching.

    async with Consumer("127.0.0.1:9092", auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("events", 0)])
        async for record in consumer:
            ...

    async with Consumer(bootstrap, group_id="billing") as consumer:
        consumer.subscribe(["events"])
        batch = await consumer.getmany(max_records=500, timeout_ms=1000)
        await consumer.commit()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio

from flowlog.client.cluster import Cluster
from flowlog.client.config import ConsumerConfig, build_config
from flowlog.client.errors import (
    ClientClosedError,
    ConfigurationError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
)
from flowlog.client.fetcher import (
    RESET_COMMITTED,
    RESET_EARLIEST,
    RESET_LATEST,
    RESET_NONE,
    Fetcher,
    PartitionState,
)
from flowlog.client.group import GroupMember, RebalanceListener
from flowlog.client.offsets import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    READ_COMMITTED,
    READ_UNCOMMITTED,
    list_offsets,
)
from flowlog.client.types import ConsumerRecord, OffsetAndMetadata, TopicPartition

DEFAULT_MAX_RECORDS = 500


class Consumer:
    def __init__(self, bootstrap_servers: str | list[str], **options: Any) -> None:
        self.config = build_config(ConsumerConfig, options)
        if self.config.auto_offset_reset not in (RESET_EARLIEST, RESET_LATEST, RESET_NONE):
            raise ConfigurationError("auto_offset_reset must be 'earliest', 'latest' or 'none'")
        if self.config.isolation_level not in ("read_uncommitted", "read_committed"):
            raise ConfigurationError("isolation_level must be read_uncommitted or read_committed")
        self._bootstrap_servers = bootstrap_servers
        self._isolation = (
            READ_COMMITTED if self.config.isolation_level == "read_committed" else READ_UNCOMMITTED
        )
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None
        self._cluster: Cluster | None = None
        self._fetcher: Fetcher | None = None
        self._group: GroupMember | None = None
        self._closed = False
        self._iterator_batch: list[ConsumerRecord] = []

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Consumer:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        self._cluster = Cluster(self._bootstrap_servers, self.config, self._nursery)
        self._fetcher = Fetcher(self._cluster, self.config, self._nursery)
        try:
            await self._cluster.with_retries(self._cluster.any_connection, what="bootstrap")
        except BaseException:
            await self._shutdown()
            raise
        if self.config.group_id is not None:
            self._group = GroupMember(self._cluster, self.config, self._nursery, self)
            self._fetcher.committed_loader = self._group.load_committed
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            if self._group is not None and not self._closed:
                with trio.move_on_after(self.config.request_timeout_ms / 1000) as scope:
                    scope.shield = True
                    await self._group.leave()
        finally:
            await self._shutdown()
        return None

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)

    async def _shutdown(self) -> None:
        self._closed = True
        if self._cluster is not None:
            self._cluster.close()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            await self._nursery_manager.__aexit__(None, None, None)
            self._nursery = None

    def statistics(self) -> dict[str, Any]:
        return {
            "fetcher": self.fetcher.statistics(),
            "cluster": self.cluster.statistics(),
            "group": self._group.statistics() if self._group is not None else None,
        }

    def rebalance_in_progress(self) -> bool:
        """The group member is between JoinGroup and applying its new assignment."""
        return self._group is not None and self._group.rebalancing

    def enforce_rebalance(self) -> None:
        """Rejoin the group now (Kafka's enforceRebalance), e.g. for a probing rebalance."""
        self._require_group()._request_rejoin()

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None or self._closed:
            raise ClientClosedError("use the consumer inside `async with Consumer(...)`")
        return self._cluster

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None or self._closed:
            raise ClientClosedError("use the consumer inside `async with Consumer(...)`")
        return self._fetcher

    # ---------------------------------------------------------------- assignment

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Manual assignment: consume exactly these partitions (no group rebalancing)."""
        if self._group is not None and self._group.subscribed:
            raise IllegalStateError("assign() and subscribe() cannot be mixed")
        self.fetcher.assign(set(partitions), None)

    def subscribe(self, topics: Iterable[str], *, listener: RebalanceListener | None = None) -> None:
        """Join the consumer group `group_id`; partitions arrive via rebalances."""
        if self._group is None:
            raise ConfigurationError("subscribe() needs a group_id")
        if self.fetcher.states and not self._group.subscribed:
            raise IllegalStateError("assign() and subscribe() cannot be mixed")
        self._group.subscribe(list(topics), listener)

    def unsubscribe(self) -> None:
        if self._group is not None:
            self._group.unsubscribe()
        self.fetcher.assign(set(), None)

    def assignment(self) -> set[TopicPartition]:
        return set(self.fetcher.states)

    def _set_group_assignment(self, partitions: set[TopicPartition]) -> None:
        """Called by the group member after a rebalance; new partitions start at committed."""
        if self._closed or self._fetcher is None:
            return
        self.fetcher.assign(partitions, RESET_COMMITTED)

    # ---------------------------------------------------------------- positions

    def _state(self, tp: TopicPartition) -> PartitionState:
        state = self.fetcher.states.get(tp)
        if state is None:
            raise IllegalStateError(f"{tp} is not assigned to this consumer")
        return state

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self._state(tp).seek(offset)
        self.fetcher.drop_buffered(tp)
        self.fetcher.notify()

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self._reset(partitions, RESET_EARLIEST)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        self._reset(partitions, RESET_LATEST)

    def _reset(self, partitions: Iterable[TopicPartition], strategy: str) -> None:
        for tp in partitions or list(self.fetcher.states):
            state = self._state(tp)
            state.position = state.fetch_offset = None
            state.reset = strategy
            state.error = None
            state.epoch += 1
            self.fetcher.drop_buffered(tp)
        self.fetcher.notify()

    async def seek_to_timestamp(
        self, timestamps: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int | None]:
        """Seek each partition to its first offset with timestamp >= the given one (ms).

        Where no such record exists the partition goes to its end; the result maps
        each partition to the offset found, or None in that case.
        """
        for tp in timestamps:
            self._state(tp)
        found = await list_offsets(self.cluster, dict(timestamps), isolation_level=self._isolation)
        result: dict[TopicPartition, int | None] = {}
        at_end = []
        for tp in timestamps:
            offset = found[tp][0]
            if offset >= 0:
                self.seek(tp, offset)
                result[tp] = offset
            else:
                at_end.append(tp)
                result[tp] = None
        if at_end:
            self.seek_to_end(*at_end)
        return result

    async def position(self, tp: TopicPartition, *, timeout_ms: int | None = None) -> int:
        """The offset of the next record the application will get (resolving a reset)."""
        timeout_s = (timeout_ms or self.config.default_api_timeout_ms) / 1000
        with trio.move_on_after(timeout_s):
            while True:
                state = self._state(tp)
                if state.error is not None:
                    raise state.error
                if state.position is not None:
                    await trio.lowlevel.checkpoint()
                    return state.position
                await self.fetcher.wait_changed()
        raise KafkaTimeoutError(f"position of {tp} unknown after {timeout_s * 1000:.0f} ms")

    def pause(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            state = self._state(tp)
            state.paused = True
            state.epoch += 1
            state.fetch_offset = state.position
            self.fetcher.drop_buffered(tp)
        self.fetcher.notify()

    def resume(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self._state(tp).paused = False
        self.fetcher.notify()

    def paused(self) -> set[TopicPartition]:
        return {tp for tp, state in self.fetcher.states.items() if state.paused}

    def highwater(self, tp: TopicPartition) -> int:
        """The high watermark seen in the last fetch of `tp` (-1 before any)."""
        return self._state(tp).high_watermark

    async def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        found = await list_offsets(self.cluster, dict.fromkeys(partitions, EARLIEST_TIMESTAMP))
        return {tp: offset for tp, (offset, _t) in found.items()}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        found = await list_offsets(
            self.cluster, dict.fromkeys(partitions, LATEST_TIMESTAMP), isolation_level=self._isolation
        )
        return {tp: offset for tp, (offset, _t) in found.items()}

    async def partitions_for(self, topic: str) -> list[int]:
        return sorted(await self.cluster.partitions(topic))

    # ---------------------------------------------------------------- records

    async def getmany(
        self, max_records: int = DEFAULT_MAX_RECORDS, timeout_ms: int = 0
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to max_records buffered records by partition; waits up to timeout_ms for some."""
        await trio.lowlevel.checkpoint_if_cancelled()
        fetcher = self.fetcher
        deadline = trio.current_time() + timeout_ms / 1000
        while True:
            self._raise_errors()
            taken = self._take(max_records)
            if taken:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return taken
            if fetcher.data_ready.is_set():
                fetcher.data_ready = trio.Event()
            with trio.move_on_at(deadline) as scope:
                await fetcher.data_ready.wait()
            if scope.cancelled_caught:
                return {}

    async def getone(self, timeout_ms: int | None = None) -> ConsumerRecord:
        """The next record; waits up to timeout_ms (forever if None)."""
        if not self._iterator_batch:
            timeout = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
            while not self._iterator_batch:
                batches = await self.getmany(DEFAULT_MAX_RECORDS, timeout)
                for records in batches.values():
                    self._iterator_batch.extend(records)
                if timeout_ms is not None and not self._iterator_batch:
                    raise KafkaTimeoutError(f"no record within {timeout_ms} ms")
            self._iterator_batch.reverse()
        return self._iterator_batch.pop()

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> ConsumerRecord:
        if self._closed:
            raise StopAsyncIteration
        return await self.getone()

    def _raise_errors(self) -> None:
        if self._group is not None:
            self._group.raise_error()
        for state in self.fetcher.states.values():
            if state.error is not None:
                error = state.error
                if not isinstance(error, KafkaError) or not error.retriable:
                    raise error

    def _take(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        fetcher = self.fetcher
        buffer = fetcher.buffer
        was_full = fetcher.buffer_full()
        taken: dict[TopicPartition, list[ConsumerRecord]] = {}
        room = max_records
        while buffer and room > 0:
            chunk = buffer[0]
            state = fetcher.states.get(chunk.tp)
            if state is None or state.epoch != chunk.epoch or state.paused:
                buffer.popleft()
                if state is not None and state.epoch == chunk.epoch and state.position is not None:
                    # A paused partition's records are dropped: fetch them again on resume.
                    state.fetch_offset = state.position
                continue
            position = state.position if state.position is not None else 0
            records = chunk.records
            start = chunk.index
            while start < len(records) and records[start].offset < position:
                start += 1
            end = min(len(records), start + room)
            if end > start:
                taken.setdefault(chunk.tp, []).extend(records[start:end])
                room -= end - start
                state.position = records[end - 1].offset + 1
            chunk.index = end
            if end >= len(records):
                buffer.popleft()
                state.position = max(position, state.position or 0, chunk.next_fetch_offset)
        if was_full and not fetcher.buffer_full():
            fetcher.notify()
        return taken

    # ---------------------------------------------------------------- offsets (group)

    def _require_group(self) -> GroupMember:
        if self._group is None:
            raise ConfigurationError("offset commits need a group_id")
        return self._group

    def positions_to_commit(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {
            tp: OffsetAndMetadata(state.position)
            for tp, state in self.fetcher.states.items()
            if state.position is not None
        }

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata | int] | None = None) -> None:
        """Commit offsets (default: the current positions) and wait for the broker."""
        group = self._require_group()
        await group.commit(_as_offsets(offsets) if offsets is not None else self.positions_to_commit())

    def commit_nowait(self, offsets: dict[TopicPartition, OffsetAndMetadata | int] | None = None) -> None:
        """Start a commit in the background; errors are logged in statistics, not raised."""
        group = self._require_group()
        chosen = _as_offsets(offsets) if offsets is not None else self.positions_to_commit()
        assert self._nursery is not None
        self._nursery.start_soon(group.commit_in_background, chosen)

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata | None]:
        return await self._require_group().fetch_committed(list(partitions))


def _as_offsets(
    offsets: dict[TopicPartition, OffsetAndMetadata | int],
) -> dict[TopicPartition, OffsetAndMetadata]:
    return {
        tp: value if isinstance(value, OffsetAndMetadata) else OffsetAndMetadata(value)
        for tp, value in offsets.items()
    }
