"""The trio runtime around the plain task objects: poll, process, punctuate, commit, rebalance.

One runtime = one consumer-group member (group id = application id) with
the streams assignor, one producer and its tasks. The loop:

    poll records -> queue them in their tasks (pausing partitions that buffer too much)
    -> each task processes up to max_records_per_task_loop -> wall-clock punctuation
    -> hand kept-back output to the producer -> commit when due or asked

Commit (at-least-once, in one place so it can become a transaction later):
every task prepares (flushes what it holds back), the producer is flushed
and must have delivered everything, then the tasks' input offsets are
committed in one OffsetCommit. Rebalance callbacks take the same lock as the
loop's processing step, so a revocation waits for the record in hand, then
commits and closes only the tasks that move (cooperative).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import trio

from flowlog.client import Consumer, RebalanceListener, TopicPartition
from flowlog.client.errors import KafkaError
from flowlog.client.types import OffsetAndMetadata
from flowlog.protocol.murmur2 import partition_for_key
from flowlog_streams.assignor import LAG_RUNNING_ACTIVE, StreamsAssignor
from flowlog_streams.config import StreamsConfig
from flowlog_streams.errors import StreamsException
from flowlog_streams.metrics import RuntimeMetrics
from flowlog_streams.producer_collector import ProducerCollector
from flowlog_streams.queries import KeyQueryMetadata
from flowlog_streams.restorer import RestoreListener, Restorer
from flowlog_streams.state_manager import StoreFactory, TaskStateManager
from flowlog_streams.task import StreamTask
from flowlog_streams.task_id import TaskId
from flowlog_streams.topic_setup import TopicPlan
from flowlog_streams.topology import StoreSpec, Topology

logger = logging.getLogger("flowlog_streams.runtime")

# Records taken from the consumer per poll (Kafka Streams' max.poll.records): fewer than a
# loop processes, so task queues stay short and partitions pause only when a task waits.
POLL_RECORDS_MAX: Final = 1_000
# A task reading several partitions (a join, a merge of topics) takes them in timestamp
# order while the consumer hands them over a fetched chunk at a time, so one input's queue
# runs ahead of the others' by up to a chunk. Pausing it then drops the consumer's
# read-ahead of it, fetched and decoded again on resume (3x the decoding in the join
# benchmark): such partitions pause at this many times buffered_records_per_partition.
MULTI_INPUT_PAUSE_FACTOR: Final = 20
# Longest wait for records when there is nothing else to do.
POLL_WAIT_MS_MAX: Final = 100
# The shutdown commit is retried this often, backing off linearly.
SHUTDOWN_COMMIT_ATTEMPTS: Final = 5
SHUTDOWN_COMMIT_BACKOFF_S: Final = 0.2
# Repartition topics are purged up to the committed offsets at most this often.
REPARTITION_PURGE_INTERVAL_MS: Final = 30_000


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class StreamRuntime(RebalanceListener):
    def __init__(
        self,
        topology: Topology,
        config: StreamsConfig,
        plan: TopicPlan,
        consumer: Consumer,
        collector: ProducerCollector,
        metrics: RuntimeMetrics,
        *,
        purge: Any = None,
        assignor: StreamsAssignor | None = None,
        on_rebalancing: Any = None,
        open_store: StoreFactory | None = None,
        restore_listener: RestoreListener | None = None,
        global_stores: Mapping[str, Any] | None = None,
    ) -> None:
        self._topology = topology
        self._global_stores = global_stores
        self._config = config
        self._plan = plan
        self._consumer = consumer
        self._collector = collector
        self._metrics = metrics
        self._purge = purge
        self._assignor = assignor
        # Told each loop whether the group is rebalancing (the app's state follows it).
        self._on_rebalancing = on_rebalancing
        self._subtopology_of = {t: s for t, (s, _source) in plan.topics.sources.items()}
        self._internal = frozenset(plan.topics.internal_topics())
        self._deserialization_handler = config.deserialization_handler()
        self._processing_handler = config.processing_handler()
        self.tasks: dict[TaskId, StreamTask] = {}
        self._task_of: dict[TopicPartition, StreamTask] = {}
        self._paused: set[TopicPartition] = set()
        self._lock = trio.Lock()
        self._next_commit_ms = 0
        self._next_purge_ms = 0
        self._purgeable: dict[TopicPartition, int] = {}
        self._open_store = open_store
        # Tasks restoring their stores: not processed, inputs paused, until the restorer is done.
        self._restorer = (
            Restorer(config.bootstrap, config.consumer_config, self._restored, restore_listener,
                     group_id=config.application_id)
            if topology.stores else None
        )
        self._restoring: set[TaskId] = set()
        # Standby replicas: this instance's warm copies of other instances' tasks' stores.
        self._standbys: dict[TaskId, TaskStateManager] = {}
        # What the standbys were last synced against: the plan and the active tasks then.
        self._standby_plan: tuple[tuple[TaskId, ...], frozenset[TaskId]] = ((), frozenset())
        if assignor is not None:
            assignor.offset_sum_source = self.task_offset_sums

    # ---------------------------------------------------------------- main loop

    async def run(self, stop: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            if self._restorer is not None:
                nursery.start_soon(self._restorer.run)
            await self._loop(stop)
            nursery.cancel_scope.cancel()

    async def _loop(self, stop: trio.Event) -> None:
        config = self._config
        self._next_commit_ms = wall_clock_ms() + config.commit_interval_ms
        self._next_purge_ms = wall_clock_ms() + REPARTITION_PURGE_INTERVAL_MS
        processed = 0
        while not stop.is_set():
            wait_ms = 0 if processed else self._idle_wait_ms()
            batches = await self._consumer.getmany(max_records=POLL_RECORDS_MAX, timeout_ms=wait_ms)
            if self._on_rebalancing is not None:
                self._on_rebalancing(self._consumer.rebalance_in_progress())
            async with self._lock:
                self._drop_lost_tasks()
                self._sync_standbys()
                self._add(batches)
                processed = await self._process_all()
                now = wall_clock_ms()
                for task in self.tasks.values():
                    task.punctuate_wall_clock(now)
                await self._collector.drain()
                if now >= self._next_commit_ms or any(t.commit_requested for t in self.tasks.values()):
                    await self._commit(self.tasks.values())
                    self._next_commit_ms = now + config.commit_interval_ms
            if self._purge is not None and wall_clock_ms() >= self._next_purge_ms:
                await self._purge_repartition_topics()
            self._probe_when_due()

    def _probe_when_due(self) -> None:
        """Warm-ups were handed out: rejoin when the plan says, so they can take over."""
        assignor = self._assignor
        if assignor is not None and 0 < assignor.probing_rebalance_at_ms <= wall_clock_ms():
            assignor.probing_rebalance_at_ms = 0
            logger.info("probing rebalance: reporting warm-up lags")
            self._consumer.enforce_rebalance()

    def task_offset_sums(self) -> dict[TaskId, int]:
        """What the next subscription reports: running tasks, restoring ones and standbys."""
        sums = self._restorer.offset_sums() if self._restorer is not None else {}
        for task_id in self.tasks:
            if task_id not in self._restoring:
                sums[task_id] = LAG_RUNNING_ACTIVE
        return sums

    def _idle_wait_ms(self) -> int:
        now = wall_clock_ms()
        deadline = min(
            [self._next_commit_ms, now + POLL_WAIT_MS_MAX]
            + [int(min(t.next_wall_clock_deadline_ms(), now + POLL_WAIT_MS_MAX)) for t in self.tasks.values()]
        )
        return max(0, deadline - now)

    def _add(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in batches.items():
            task = self._task_of.get(tp)
            if task is None:
                continue  # revoked while the records were in flight
            task.add_records(tp, records)

    async def _process_all(self) -> int:
        config = self._config
        now = wall_clock_ms()
        total = 0
        restoring = self._restoring
        for task in list(self.tasks.values()):
            if task.id in restoring:
                continue
            total += task.process(config.max_records_per_task_loop, now)
            if self._collector.must_drain():
                await self._collector.drain()
        self._pause_or_resume()
        self._metrics.records_processed += total
        return total

    def _pause_or_resume(self) -> None:
        """Stop fetching for partitions whose task keeps a backlog (it waits for its other inputs)."""
        limit = self._config.buffered_records_per_partition
        for tp, task in self._task_of.items():
            if task.id in self._restoring:
                continue  # paused until restored
            buffered = task.buffered(tp)
            if tp in self._paused:
                if buffered <= limit // 2:
                    self._consumer.resume(tp)
                    self._paused.discard(tp)
            elif buffered >= (limit if task.input_count == 1 else limit * MULTI_INPUT_PAUSE_FACTOR):
                self._consumer.pause(tp)
                self._paused.add(tp)

    # ---------------------------------------------------------------- commit

    async def _commit(self, tasks: Iterable[StreamTask]) -> bool:
        """Flush what tasks hold, flush the producer, then commit the tasks' offsets.

        Returns False when the OffsetCommit failed (the offsets stay due)."""
        tasks = [t for t in tasks if t.id not in self._restoring]
        started = time.perf_counter()
        for task in tasks:
            task.prepare_commit()
        await self._collector.flush()
        for task in tasks:
            task.checkpoint()  # state with its changelog offsets, before the input offsets
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for task in tasks:
            offsets.update(task.commit_offsets())
        if offsets:
            try:
                await self._consumer.commit(dict[TopicPartition, OffsetAndMetadata | int](offsets))
            except KafkaError as error:
                # Not fatal: the next commit retries; a rebalance hands the tasks on at-least-once.
                self._metrics.commit_failures += 1
                logger.warning("commit failed (will retry): %s", error)
                return False
            for task in tasks:
                task.mark_committed(offsets)
            for tp, offset in offsets.items():
                if tp.topic in self._internal:
                    self._purgeable[tp] = offset.offset
        self._metrics.note_commit((time.perf_counter() - started) * 1000)
        return True

    async def _purge_repartition_topics(self) -> None:
        self._next_purge_ms = wall_clock_ms() + REPARTITION_PURGE_INTERVAL_MS
        if not self._purgeable:
            return
        before, self._purgeable = self._purgeable, {}
        try:
            await self._purge(before)
        except KafkaError as error:
            logger.info("repartition purge failed (retried later): %s", error)

    # ---------------------------------------------------------------- rebalance

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            tasks = {self._task_of[tp] for tp in revoked if tp in self._task_of}
            if not tasks:
                return
            try:
                await self._commit(tasks)
            finally:
                self._close(tasks, "revoked")

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            by_task: dict[TaskId, list[TopicPartition]] = {}
            for tp in assigned:
                subtopology = self._subtopology_of.get(tp.topic)
                if subtopology is None:
                    logger.warning("assigned %s, which no source reads; ignoring it", tp)
                    continue
                by_task.setdefault(TaskId(subtopology, tp.partition), []).append(tp)
            for task_id in by_task:
                if task_id in self._standbys:
                    self._drop_standby(task_id)  # promoted: the active task opens its stores
            stale = {self.tasks[t] for t in by_task if t in self.tasks}
            self._close(stale, "reassigned")  # lost, then given back: start again from committed
            committed = await self._consumer.committed(
                [tp for tps in by_task.values() for tp in tps]
            )
            for task_id, tps in sorted(by_task.items()):
                self._create_task(task_id, tps, committed)
            self._report_owned()

    def _report_owned(self) -> None:
        if self._assignor is not None:
            self._assignor.set_owned(self.tasks, self._standbys)

    def _sync_standbys(self) -> None:
        """Follow the standby tasks of the latest assignment (those with logged stores)."""
        assignor, restorer = self._assignor, self._restorer
        if assignor is None or restorer is None or self._open_store is None:
            return
        plan = (assignor.standby_tasks, frozenset(self.tasks))
        if plan == self._standby_plan:
            return
        self._standby_plan = plan
        wanted = {
            task_id for task_id in assignor.standby_tasks
            if task_id not in self.tasks and self._logged_stores(task_id.subtopology)
        }
        for task_id in list(self._standbys):
            if task_id not in wanted:
                self._drop_standby(task_id)
        for task_id in sorted(wanted - set(self._standbys)):
            state = TaskStateManager(
                task_id, self._logged_stores(task_id.subtopology), self._plan.topics,
                self._config, self._collector, self._open_store,
            )
            self._standbys[task_id] = state
            restorer.add_standby(state)
            logger.info("standby %s started", task_id)
        self._report_owned()

    def _logged_stores(self, subtopology: int) -> list[StoreSpec]:
        stores = self._topology.stores
        return [stores[n] for n in self._topology.stores_of(subtopology) if stores[n].logging]

    def _drop_standby(self, task_id: TaskId) -> None:
        state = self._standbys.pop(task_id)
        if self._restorer is not None:
            self._restorer.remove_standby(task_id)
        state.close()
        logger.info("standby %s closed", task_id)

    def _create_task(
        self, task_id: TaskId, tps: list[TopicPartition],
        committed: dict[TopicPartition, OffsetAndMetadata | None],
    ) -> None:
        task = StreamTask(
            task_id, self._topology, self._plan.topics, tps, self._collector, self._config,
            wall_clock_ms=wall_clock_ms, lag_of=self._lag_of,
            deserialization_handler=self._deserialization_handler,
            processing_handler=self._processing_handler, open_store=self._open_store,
            global_stores=self._global_stores,
            committed={tp: o.offset for tp, o in committed.items() if o is not None},
        )
        for tp in tps:
            offset = committed.get(tp)
            if offset is not None:
                task.restore_partition_time(tp, offset.metadata)
                continue
            reset = self._reset_of(tp.topic)
            if reset != self._config.auto_offset_reset:
                if reset == "earliest":
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek_to_end(tp)
        self.tasks[task_id] = task
        for tp in tps:
            self._task_of[tp] = task
        self._metrics.tasks_created += 1
        logger.info("task %s started on %s", task_id, ", ".join(f"{t.topic}-{t.partition}" for t in tps))
        if task.state is not None and task.state.restore_offsets() and self._restorer is not None:
            self._restoring.add(task_id)
            self._consumer.pause(*tps)
            self._restorer.add(task)

    def _restored(self, task: StreamTask) -> None:
        """The restorer caught the task's stores up: it processes from now on."""
        if task.id in self._restoring and self.tasks.get(task.id) is task:
            self._restoring.discard(task.id)
            self._consumer.resume(*task.partitions)

    def _reset_of(self, topic: str) -> str:
        source_name = self._plan.topics.sources[topic][1]
        source = self._topology.nodes[source_name]
        return getattr(source, "auto_offset_reset", None) or self._config.auto_offset_reset

    def _lag_of(self, tp: TopicPartition) -> int | None:
        state = self._consumer.fetcher.states.get(tp)
        if state is None or state.high_watermark < 0 or state.position is None:
            return None
        return max(0, state.high_watermark - state.position)

    def _drop_lost_tasks(self) -> None:
        """Partitions lost with the membership (session expired): close their tasks, no commit."""
        assignment = self._consumer.assignment()
        lost = {task for tp, task in self._task_of.items() if tp not in assignment}
        if lost:
            self._close(lost, "lost")

    def _close(self, tasks: Iterable[StreamTask], why: str) -> None:
        for task in tasks:
            if task.id in self._restoring:
                self._restoring.discard(task.id)
                if self._restorer is not None:
                    self._restorer.remove(task.id)
            task.close()
            self.tasks.pop(task.id, None)
            for tp in task.partitions:
                self._task_of.pop(tp, None)
                self._paused.discard(tp)
            self._metrics.retire(task)
            logger.info("task %s closed (%s)", task.id, why)
        self._report_owned()

    def abandon(self) -> None:
        """After a failure: close every task without committing anything more."""
        self._close(list(self.tasks.values()), "abandoned after a failure")
        for task_id in list(self._standbys):
            self._drop_standby(task_id)

    async def close_all(self) -> None:
        """Clean shutdown: commit every task, then close it."""
        async with self._lock:
            try:
                await self._collector.drain()
                # The last commit matters most (nothing retries it later): try a few times.
                for attempt in range(SHUTDOWN_COMMIT_ATTEMPTS):
                    if await self._commit(self.tasks.values()):
                        break
                    await trio.sleep(SHUTDOWN_COMMIT_BACKOFF_S * (attempt + 1))
                else:
                    logger.error(
                        "the final commit failed %d times: records processed since the last "
                        "commit will be processed again", SHUTDOWN_COMMIT_ATTEMPTS,
                    )
            finally:
                self._close(list(self.tasks.values()), "shutdown")
                for task_id in list(self._standbys):
                    self._drop_standby(task_id)

    # ---------------------------------------------------------------- metrics

    def local_stores(self, name: str) -> list[Any]:
        """The typed store `name` of every task that processes (restoring ones are not ready)."""
        return [
            task.state.get(name) for task in self.tasks.values()
            if task.state is not None and name in task.state.stores and task.id not in self._restoring
        ]

    def global_stores(self, name: str) -> list[Any]:
        """The global table store `name` (every instance holds all of it)."""
        stores = self._global_stores or {}
        return [stores[name]] if name in stores else []

    def metadata_for_key(self, store_name: str, key_bytes: bytes | None) -> KeyQueryMetadata:
        if key_bytes is None:
            raise StreamsException("metadata_for_key: the key serializes to null")
        topology = self._topology
        subtopology = next(
            s for s in topology.subtopologies()
            if any(store_name in getattr(topology.nodes[n], "stores", ()) for n in s.node_names)
        )
        sources = self._plan.topics.subtopology_topics()[subtopology.id]
        width = max(self._plan.partition_counts[t] for t in sources)
        partition = partition_for_key(key_bytes, width)
        host = None
        if self._assignor is not None:
            for server, partitions in self._assignor.partitions_by_host.items():
                if any(tp.topic in sources and tp.partition == partition for tp in partitions):
                    host = server
                    break
        return KeyQueryMetadata(partition, host)

    def restore_progress(self) -> dict[str, Any]:
        if self._restorer is None:
            return {"records_restored": 0, "restoring": {}, "standbys": {}}
        return {"records_restored": self._restorer.records_restored,
                "restoring": self._restorer.progress(),
                "standbys": self._restorer.standby_positions()}

    def lag(self) -> dict[str, int | None]:
        result: dict[str, int | None] = {}
        for tp, task in self._task_of.items():
            state = self._consumer.fetcher.states.get(tp)
            queue = task.queues[tp]
            position = queue.records[0][4] if queue.records else (
                state.position if state is not None else None
            )
            high = state.high_watermark if state is not None else -1
            result[f"{tp.topic}-{tp.partition}"] = (
                None if position is None or high < 0 else max(0, high - position)
            )
        return result
