"""StreamsApp: run a topology as one member of the consumer group `application_id`.

    app = StreamsApp(topology, application_id="activity", bootstrap="127.0.0.1:9092",
                     state_dir="./state")
    trio.run(app.run)          # until SIGTERM / SIGINT / cancellation / app.close()

    async with app:            # or in the background of your own trio code
        ...
    # leaving the block closes it: commit, leave the group

States: CREATED -> REBALANCING -> RUNNING (<-> REBALANCING) -> PENDING_SHUTDOWN
-> NOT_RUNNING, or ERROR when processing fails (a handler chose to fail, output
could not be delivered). A clean stop commits; a crash commits nothing more, so
what was not committed is processed again by whoever takes the tasks over.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any, Final

import trio

from flowlog.client import Admin, Consumer, Producer
from flowlog.client.assignors import MemberAssignment
from flowlog.client.types import TopicPartition
from flowlog_streams.assignor import StreamsAssignor
from flowlog_streams.config import build_config
from flowlog_streams.global_table import GlobalStateManager, GlobalUpdater
from flowlog_streams.metrics import RuntimeMetrics
from flowlog_streams.producer_collector import ProducerCollector
from flowlog_streams.queries import (
    InvalidStateStoreError,
    KeyQueryMetadata,
    ReadOnlyKeyValueView,
    ReadOnlyWindowView,
)
from flowlog_streams.restorer import RestoreListener
from flowlog_streams.runtime import StreamRuntime
from flowlog_streams.states import State, StateListener, StateMachine
from flowlog_streams.store_factory import store_opener
from flowlog_streams.stores import RocksResources
from flowlog_streams.task_id import TaskId
from flowlog_streams.topic_setup import TopicPlan, prepare_topics
from flowlog_streams.topology import KEY_VALUE, Topology

logger = logging.getLogger("flowlog_streams.app")

# The consumer's read-ahead, in decoded records (users may override in consumer_config).
STREAMS_READ_AHEAD_RECORDS: Final = 50_000
# A clean shutdown (final commit, LeaveGroup) gets this long before it is abandoned.
SHUTDOWN_TIMEOUT_S: Final = 30.0


async def _changelog_end_sums(
    admin: Admin, changelogs: Mapping[int, list[str]], tasks: list[TaskId]
) -> dict[TaskId, int]:
    """Per task: the sum of its changelog partitions' end offsets (for the leader's lags)."""
    wanted = {
        task: [TopicPartition(topic, task.partition) for topic in changelogs.get(task.subtopology, ())]
        for task in tasks
    }
    ends = await admin.list_offsets({tp: "latest" for tps in wanted.values() for tp in tps})
    return {task: sum(ends[tp][0] for tp in tps) for task, tps in wanted.items()}


class _StateAwareAssignor(StreamsAssignor):
    """The streams assignor, telling the app when a rebalance starts and ends."""

    def __init__(self, *args: Any, states: StateMachine, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._states = states

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        super().on_assignment(assignment, generation)
        if self._states.state is State.REBALANCING:
            self._states.move(State.RUNNING)


class StreamsApp:
    def __init__(
        self,
        topology: Topology,
        *,
        application_id: str,
        bootstrap: str | list[str] = "127.0.0.1:9092",
        state_dir: str = "./state",
        state_listener: StateListener | None = None,
        restore_listener: RestoreListener | None = None,
        **options: Any,
    ) -> None:
        self.topology = topology
        self.config = build_config(
            {"application_id": application_id, "bootstrap": bootstrap, "state_dir": state_dir, **options}
        )
        if not topology.nodes:
            raise ValueError("the topology is empty")
        topology.subtopologies()  # invalid graphs fail here, not after connecting
        self.process_id = str(uuid.uuid4())
        self._states = StateMachine(state_listener)
        self._stop = trio.Event()
        self._running = trio.Event()
        self._runtime: StreamRuntime | None = None
        self._metrics = RuntimeMetrics()
        self._background: Any = None
        self._done = trio.Event()
        self._restore_listener = restore_listener

    # ---------------------------------------------------------------- state

    @property
    def state(self) -> State:
        return self._states.state

    def add_state_listener(self, listener: StateListener) -> None:
        self._states.listeners.append(listener)

    def close(self) -> None:
        """Ask the app to stop (commit, leave the group); `run()` returns once it has."""
        self._stop.set()

    async def wait_until_running(self) -> None:
        """Return once the first assignment is in (state RUNNING)."""
        await self._running.wait()

    # ---------------------------------------------------------------- interactive queries

    def store(self, name: str) -> ReadOnlyKeyValueView | ReadOnlyWindowView:
        """A read-only view of this instance's local store `name` (all its tasks'), or of a
        global table's store (the whole table)."""
        global_store = self.topology.global_stores.get(name)
        spec = self.topology.stores.get(name) or (global_store.spec if global_store else None)
        if spec is None:
            raise InvalidStateStoreError(
                f"no store {name!r}; the topology has {sorted(self.topology.stores)}"
            )
        if self.state is not State.RUNNING and self.state is not State.REBALANCING:
            raise InvalidStateStoreError(f"store {name!r} is not queryable in state {self.state.value}")

        def stores() -> list[Any]:
            runtime = self._runtime
            if runtime is None:
                return []
            if global_store is not None:
                return runtime.global_stores(name)
            return runtime.local_stores(name)

        if spec.kind == KEY_VALUE:
            return ReadOnlyKeyValueView(name, stores)
        return ReadOnlyWindowView(name, stores)

    def metadata_for_key(self, store_name: str, key: Any) -> KeyQueryMetadata:
        """Which partition (task) holds `key` in `store_name`, and which host runs it."""
        spec = self.topology.stores.get(store_name)
        runtime = self._runtime
        if spec is None or runtime is None:
            raise InvalidStateStoreError(f"store {store_name!r} is not queryable now")
        key_serde = spec.key_serde or self.config.default_key_serde
        return runtime.metadata_for_key(store_name, key_serde.serialize(store_name, key))

    def metrics(self) -> dict[str, Any]:
        runtime = self._runtime
        tasks = runtime.tasks if runtime is not None else {}
        lag = runtime.lag() if runtime is not None else {}
        snapshot = self._metrics.snapshot(tasks, lag)
        if runtime is not None:
            snapshot.update(runtime.restore_progress())
        snapshot["state"] = self.state.value
        snapshot["application_id"] = self.config.application_id
        return snapshot

    # ---------------------------------------------------------------- run

    async def run(self) -> None:
        """Run until close(), SIGTERM/SIGINT (in the main thread) or cancellation."""
        if self.state is not State.CREATED:
            raise RuntimeError(f"run() needs a new app (state is {self.state.value})")
        self.add_state_listener(self._note_running)
        self._states.move(State.REBALANCING)
        try:
            try:
                async with trio.open_nursery() as nursery:
                    # The work runs shielded: cancelling run() asks for a clean stop (commit,
                    # leave the group), bounded by SHUTDOWN_TIMEOUT_S, instead of tearing the
                    # clients down under it.
                    with trio.CancelScope(shield=True) as work:
                        nursery.start_soon(self._close_when_cancelled, work)
                        if threading.current_thread() is threading.main_thread():
                            nursery.start_soon(self._close_on_signals)
                        await self._run()
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # The nursery only watches signals: surface the one real error as itself.
                single = _single_error(group)
                if single is None:
                    raise
                raise single from None
        except BaseException as error:
            if _only_cancelled(error) and self.state is State.PENDING_SHUTDOWN:
                self._states.move(State.NOT_RUNNING)
            elif self.state not in (State.NOT_RUNNING, State.ERROR):
                logger.error("streams app %s failed: %r", self.config.application_id, error)
                self._states.move(State.ERROR)
            raise
        else:
            self._states.move(State.NOT_RUNNING)
        finally:
            self._done.set()

    def _note_rebalancing(self, rebalancing: bool) -> None:
        state = self._states.state
        if rebalancing and state is State.RUNNING:
            self._states.move(State.REBALANCING)
        elif not rebalancing and state is State.REBALANCING and self._running.is_set():
            self._states.move(State.RUNNING)

    def _note_running(self, new: State, old: State) -> None:
        if new is State.RUNNING:
            self._running.set()

    async def _close_when_cancelled(self, work: trio.CancelScope) -> None:
        try:
            await trio.sleep_forever()
        finally:
            if not self._stop.is_set():
                self.close()
                work.deadline = trio.current_time() + SHUTDOWN_TIMEOUT_S

    async def _close_on_signals(self) -> None:
        # After the first signal the default handlers are back: a second one ends the
        # process at once (press Ctrl-C twice to skip the final commit).
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("signal %s: shutting down", signal.Signals(signum).name)
                self.close()
                return

    async def _run(self) -> None:
        config = self.config
        async with Admin(config.bootstrap, **config.admin_config) as admin:
            plan = await prepare_topics(admin, self.topology, config)
            async with Producer(config.bootstrap, **config.producer_config) as producer:
                for topic in sorted({s.topic for s in self.topology.sinks() if s.topic}):
                    await producer.partitions_for(plan.topics.decorate(topic))
                assignor = _StateAwareAssignor(
                    plan.topics.subtopology_topics(), process_id=self.process_id,
                    application_server=config.application_server,
                    num_standby_replicas=config.num_standby_replicas, states=self._states,
                    stateful_subtopologies=self._changelogs_by_subtopology(plan),
                    acceptable_recovery_lag=config.acceptable_recovery_lag,
                    max_warmup_replicas=config.max_warmup_replicas,
                    probing_rebalance_interval_ms=config.probing_rebalance_interval_ms,
                )
                assignor.changelog_end_sums = partial(
                    _changelog_end_sums, admin, self._changelogs_by_subtopology(plan)
                )
                consumer_options = {
                    # Read-ahead in records: enough to keep fetches in flight, bounded so a
                    # topic of tiny records cannot fill memory with decoded records.
                    "fetch_buffer_max_records": STREAMS_READ_AHEAD_RECORDS,
                    "auto_offset_reset": config.auto_offset_reset,
                    "session_timeout_ms": config.session_timeout_ms,
                    "heartbeat_interval_ms": config.heartbeat_interval_ms,
                    **config.consumer_config,
                    "group_id": config.application_id,
                    "enable_auto_commit": False,
                    "partition_assignment_strategy": (assignor,),
                }
                topology = self.topology
                resources = (
                    RocksResources(config.rocksdb_cache_bytes)
                    if topology.stores or topology.global_stores else None
                )
                globals_ = None
                try:
                    async with trio.open_nursery() as nursery:
                        if topology.global_stores:
                            globals_ = GlobalStateManager(
                                topology.global_stores, config, store_opener(resources)
                            )
                            # Every global table is complete before the group is joined.
                            await nursery.start(GlobalUpdater(globals_, config).run)
                        async with Consumer(config.bootstrap, **consumer_options) as consumer:
                            runtime = StreamRuntime(
                                topology, config, plan, consumer, ProducerCollector(producer),
                                self._metrics, purge=admin.delete_records, assignor=assignor,
                                on_rebalancing=self._note_rebalancing,
                                open_store=store_opener(resources),
                                restore_listener=self._restore_listener,
                                global_stores=globals_.stores if globals_ is not None else None,
                            )
                            self._runtime = runtime
                            consumer.subscribe(sorted(plan.topics.sources), listener=runtime)
                            await self._process_until_stopped(runtime)
                        nursery.cancel_scope.cancel()
                finally:
                    if globals_ is not None:
                        globals_.close()
                    if resources is not None:
                        resources.close()

    def _changelogs_by_subtopology(self, plan: TopicPlan) -> dict[int, list[str]]:
        """Sub-topology id -> its logged stores' changelog topics (stateful ones only)."""
        topology = self.topology
        result = {}
        for subtopology in topology.subtopologies():
            topics = [
                plan.topics.decorate(spec.changelog)
                for spec in (topology.stores[n] for n in topology.stores_of(subtopology.id))
                if spec.logging
            ]
            if topics:
                result[subtopology.id] = topics
        return result

    async def _process_until_stopped(self, runtime: StreamRuntime) -> None:
        try:
            await runtime.run(self._stop)
        except BaseException:
            runtime.abandon()  # nothing more is committed after a failure
            raise
        await self._shut_down(runtime)

    async def _shut_down(self, runtime: StreamRuntime) -> None:
        self._states.move(State.PENDING_SHUTDOWN)
        with trio.move_on_after(SHUTDOWN_TIMEOUT_S) as scope:
            scope.shield = True
            await runtime.close_all()
        if scope.cancelled_caught:
            logger.warning("the final commit did not finish within %.0f s", SHUTDOWN_TIMEOUT_S)

    # ---------------------------------------------------------------- async with

    async def __aenter__(self) -> StreamsApp:
        self._background = trio.open_nursery()
        nursery = await self._background.__aenter__()
        nursery.start_soon(self._run_in_background)
        return self

    async def _run_in_background(self) -> None:
        await self.run()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self._background.__aexit__(*exc_info)


def _only_cancelled(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_only_cancelled(inner) for inner in error.exceptions)
    return isinstance(error, trio.Cancelled)


def _single_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    return leaves[0] if len(leaves) == 1 and not isinstance(leaves[0], trio.Cancelled) else None
