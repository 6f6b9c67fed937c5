"""Restoring state stores from their changelogs, beside processing (trio).

A task with logged stores starts RESTORING: its input partitions are paused
and the restorer reads each of its changelog partitions, from the store's
checkpoint (or the start, when there is none or it cannot be trusted) up to
the end offset seen when restoring began, on its own consumer (no group,
`assign()`), applying raw records in batches (no serdes: the changelog holds
the store's own bytes). Other tasks keep processing meanwhile. When every
changelog partition of a task is caught up, the task is handed back ready.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import attrs
import trio

from flowlog.client import Admin, Consumer, TopicPartition
from flowlog.client.errors import KafkaError
from flowlog_streams.state_manager import TaskStateManager
from flowlog_streams.task import StreamTask
from flowlog_streams.task_id import TaskId

logger = logging.getLogger("flowlog_streams.restore")

# Records per poll while restoring (each poll becomes one atomic write per store).
RESTORE_POLL_RECORDS: Final = 10_000
RESTORE_POLL_WAIT_MS: Final = 100
# How often standbys of source tables move their limit up to the group's committed offsets.
SOURCE_LIMIT_REFRESH_S: Final = 1.0
# A restore reports its progress at most this often.
PROGRESS_INTERVAL_S: Final = 5.0


@attrs.define
class RestoreProgress:
    """What a restore listener and metrics see of one task's restore."""

    task_id: str
    total_records: int
    restored_records: int = 0
    started_at: float = attrs.field(factory=time.monotonic)

    def rate_per_s(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.restored_records / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate_per_s()
        left = max(0, self.total_records - self.restored_records)
        return left / rate if rate > 0 else None


RestoreListener = Callable[[str, RestoreProgress], None]  # (event, progress): start/progress/end


# A standby follows its changelogs for good: its "end" is never reached.
FOLLOW_FOREVER: Final = 2**63 - 1


class _Restoring:
    def __init__(self, task: StreamTask | None, state: TaskStateManager,
                 ends: dict[TopicPartition, int], positions: dict[TopicPartition, int]) -> None:
        self.task = task
        self.state = state
        self.ends = ends
        self.positions = positions
        self.progress = RestoreProgress(
            str(state.task_id),
            sum(max(0, ends[tp] - positions[tp]) for tp in ends if ends[tp] != FOLLOW_FOREVER),
        )
        self.reported_at = time.monotonic()

    def done(self) -> bool:
        return all(self.positions[tp] >= end for tp, end in self.ends.items())


class Restorer:
    def __init__(self, bootstrap: Any, consumer_config: dict[str, Any],
                 on_restored: Callable[[StreamTask], None],
                 listener: RestoreListener | None = None, group_id: str | None = None) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id  # the app's: its committed offsets limit source standbys
        self._admin: Admin | None = None
        self._consumer_config = consumer_config
        self._on_restored = on_restored
        self._listener = listener
        self._active: dict[TaskId, _Restoring] = {}
        self._queued: list[StreamTask] = []
        # Standby replicas: stores kept warm by tailing their changelogs, never handed back.
        self._standbys: dict[TaskId, _Restoring] = {}
        self._queued_standbys: list[TaskStateManager] = []
        self._wakeup = trio.Event()
        self.records_restored = 0

    def restoring(self) -> set[TaskId]:
        return set(self._active) | {t.id for t in self._queued}

    def add(self, task: StreamTask) -> None:
        self._queued.append(task)
        self._wakeup.set()

    def remove(self, task_id: TaskId) -> None:
        """The task was revoked before it finished restoring."""
        self._active.pop(task_id, None)
        self._queued = [t for t in self._queued if t.id != task_id]

    def add_standby(self, state: TaskStateManager) -> None:
        self._queued_standbys.append(state)
        self._wakeup.set()

    def remove_standby(self, task_id: TaskId) -> None:
        self._standbys.pop(task_id, None)
        self._queued_standbys = [s for s in self._queued_standbys if s.task_id != task_id]

    def standby_positions(self) -> dict[str, dict[str, int]]:
        return {
            str(task_id): {f"{tp.topic}-{tp.partition}": p for tp, p in r.positions.items()}
            for task_id, r in self._standbys.items()
        }

    def offset_sums(self) -> dict[TaskId, int]:
        """Per restoring task and standby: the sum of its changelog positions (KIP-441's offset sum)."""
        return {
            task_id: sum(restoring.positions.values())
            for task_id, restoring in (*self._active.items(), *self._standbys.items())
        }

    def progress(self) -> dict[str, dict[str, Any]]:
        return {
            str(task_id): {
                "restored": r.progress.restored_records, "total": r.progress.total_records,
                "rate_per_s": r.progress.rate_per_s(), "eta_s": r.progress.eta_s(),
            }
            for task_id, r in self._active.items()
        }

    async def run(self) -> None:
        options = {**self._consumer_config, "auto_offset_reset": "earliest",
                   "enable_auto_commit": False}
        options.pop("group_id", None)
        group_id = self._group_id
        async with Consumer(self._bootstrap, **options) as consumer, \
                contextlib.AsyncExitStack() as closing:
            next_refresh = 0.0
            while True:
                if not (self._active or self._queued or self._standbys or self._queued_standbys):
                    await self._wakeup.wait()
                    self._wakeup = trio.Event()
                if self._queued or self._queued_standbys:
                    await self._start_queued(consumer)
                if group_id is not None and trio.current_time() >= next_refresh:
                    next_refresh = trio.current_time() + SOURCE_LIMIT_REFRESH_S
                    await self._refresh_source_limits(closing, group_id)
                self._assign(consumer)
                if not self._active and not self._standbys:
                    continue
                batches = await consumer.getmany(
                    max_records=RESTORE_POLL_RECORDS, timeout_ms=RESTORE_POLL_WAIT_MS
                )
                self._apply(batches)
                self._finish_done()

    async def _refresh_source_limits(self, closing: contextlib.AsyncExitStack, group_id: str) -> None:
        """A standby follows a source table only up to the group's committed offset, as
        Kafka Streams' standbys do: were its copy ahead of it, the task promoted on it
        would have to start that table over (state_manager.limit_source_restores).
        The admin client is opened on first need (most apps have no such standby)."""
        limited = [(r, tp) for r in self._standbys.values() for tp in r.state.source_changelogs()]
        if not limited:
            return
        try:
            if self._admin is None:
                self._admin = await closing.enter_async_context(Admin(self._bootstrap))
            committed = await self._admin.list_group_offsets(group_id)
        except (KafkaError, OSError) as error:  # asked again at the next refresh
            logger.debug("committed offsets for the standbys' limits: %s", error)
            return
        for restoring, tp in limited:
            offset = committed.get(tp)
            if offset is not None and offset.offset > restoring.ends[tp]:
                restoring.ends[tp] = offset.offset  # _assign seeks back to its position

    async def _start_queued(self, consumer: Consumer) -> None:
        queued, self._queued = self._queued, []
        for task in queued:
            assert task.state is not None
            restoring = await self._start(consumer, task, task.state, follow=False)
            if restoring is None:
                self._queued.append(task)
                continue
            self._active[task.id] = restoring
            self._report("start", restoring)
            logger.info("task %s: restoring %d records from %s", task.id,
                        restoring.progress.total_records, _where(restoring))
        standbys, self._queued_standbys = self._queued_standbys, []
        for state in standbys:
            restoring = await self._start(consumer, None, state, follow=True)
            if restoring is None:
                self._queued_standbys.append(state)
                continue
            self._standbys[state.task_id] = restoring
            logger.info("standby %s: following %s", state.task_id, _where(restoring))

    async def _start(self, consumer: Consumer, task: StreamTask | None, state: TaskStateManager,
                     *, follow: bool) -> _Restoring | None:
        starts = state.restore_offsets()
        try:
            ends = await consumer.end_offsets(list(starts))
            beginnings = await consumer.beginning_offsets(list(starts))
        except KafkaError as error:
            logger.warning("task %s: changelog offsets unavailable (%s); retrying",
                           state.task_id, error)
            await trio.sleep(0.5)
            return None
        positions = {}
        for tp, start in starts.items():
            if not follow and tp in state.restore_limits:
                ends[tp] = min(ends[tp], state.restore_limits[tp])
            if start > ends[tp]:
                # The changelog is behind the local copy (recreated, truncated): distrust
                # it. (A source table's copy past the committed offset was wiped when
                # its task was made: limit_source_restores.)
                state.reset(tp)
                start = 0
            positions[tp] = max(start, beginnings[tp])
        if follow:
            sources = set(state.source_changelogs())
            # A source table's limit starts at 0 and follows the committed offsets.
            ends = {tp: 0 if tp in sources else FOLLOW_FOREVER for tp in ends}
        return _Restoring(task, state, ends, positions)

    def _assign(self, consumer: Consumer) -> None:
        followed = list(self._active.values()) + list(self._standbys.values())
        wanted = {tp: r.positions[tp] for r in followed for tp in r.ends
                  if r.positions[tp] < r.ends[tp]}
        current = consumer.assignment()
        if set(wanted) != current:
            consumer.assign(list(wanted))
            for tp, position in wanted.items():
                if tp not in current:
                    consumer.seek(tp, position)

    def _apply(self, batches: dict[TopicPartition, list[Any]]) -> None:
        owners = {tp: r for r in (*self._active.values(), *self._standbys.values()) for tp in r.ends}
        for tp, records in batches.items():
            restoring = owners.get(tp)
            if restoring is None or not records:
                continue
            end = restoring.ends[tp]
            records = [r for r in records if r.offset < end]
            if not records:
                restoring.positions[tp] = end
                continue
            restoring.state.restore_batch(tp, records)
            restoring.positions[tp] = records[-1].offset + 1
            restoring.progress.restored_records += len(records)
            self.records_restored += len(records)
            if restoring.task is not None and time.monotonic() - restoring.reported_at >= PROGRESS_INTERVAL_S:
                restoring.reported_at = time.monotonic()
                self._report("progress", restoring)
                eta = restoring.progress.eta_s()
                logger.info("task %s: restored %d of %d records (%.0f/s, eta %s)",
                            restoring.state.task_id, restoring.progress.restored_records,
                            restoring.progress.total_records, restoring.progress.rate_per_s(),
                            "?" if eta is None else f"{eta:.0f}s")

    def _finish_done(self) -> None:
        for task_id, restoring in list(self._active.items()):
            if restoring.done():
                del self._active[task_id]
                self._report("end", restoring)
                logger.info("task %s: restored %d records in %.2fs", task_id,
                            restoring.progress.restored_records,
                            time.monotonic() - restoring.progress.started_at)
                assert restoring.task is not None
                self._on_restored(restoring.task)

    def _report(self, event: str, restoring: _Restoring) -> None:
        if self._listener is not None:
            try:
                self._listener(event, restoring.progress)
            except Exception as error:  # a listener must not stop restoring
                logger.warning("restore listener raised %r", error)


def _where(restoring: _Restoring) -> str:
    return ", ".join(f"{tp.topic}-{tp.partition}@{p}" for tp, p in restoring.positions.items())
