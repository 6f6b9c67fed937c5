"""StreamsAssignor: the "stream" group assignor (cooperative), a simpler Kafka Streams
StreamsPartitionAssignor around the pure core in task_assignment.py.

It maps tasks to source partitions, carries each member's tasks in the
subscription user data and the plan in the assignment user data
(assignment_info.py), and withholds a task moving between members until its
old owner has let it go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from flowlog.client.assignors import (
    COOPERATIVE,
    GroupAssignor,
    MemberAssignment,
    MemberSubscription,
)
from flowlog.client.errors import KafkaError
from flowlog.client.types import TopicPartition
from flowlog_streams.assignment_info import (
    ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA,
    ERROR_NONE,
    ERROR_UNREADABLE_SUBSCRIPTION,
    USER_DATA_VERSION,
    AssignmentInfo,
    InvalidStreamsUserData,
    SubscriptionInfo,
    decode_assignment_info,
    decode_subscription_info,
    encode_assignment_info,
    encode_subscription_info,
)
from flowlog_streams.partitions import task_partitions
from flowlog_streams.task_assignment import (
    DEFAULT_ACCEPTABLE_RECOVERY_LAG,
    DEFAULT_MAX_WARMUP_REPLICAS,
    LAG_RUNNING_ACTIVE,
    ClientAssignment,
    ClientState,
    assign_tasks,
    needs_probing_rebalance,
)
from flowlog_streams.task_id import TaskId

log = logging.getLogger(__name__)

__all__ = [
    "ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA",
    "ERROR_NONE",
    "ERROR_UNREADABLE_SUBSCRIPTION",
    "LAG_RUNNING_ACTIVE",
    "USER_DATA_VERSION",
    "AssignmentInfo",
    "ClientAssignment",
    "ClientState",
    "InvalidStreamsUserData",
    "StreamsAssignor",
    "SubscriptionInfo",
    "assign_tasks",
    "decode_assignment_info",
    "decode_subscription_info",
    "encode_assignment_info",
    "encode_subscription_info",
]


class StreamsAssignor(GroupAssignor):
    """The "stream" protocol: tasks to members, with their source partitions.

    A task moving between members is withheld from its new owner while the old
    one still holds it: owns one of its partitions, or claims it in its user
    data (claims of a newer generation win a conflict). The old owner gets an
    assignment without it, revokes its partitions or drops its claim (either
    makes it rejoin at once), and the next rebalance hands the task on.
    """

    name = "stream"
    rebalance_protocol = COOPERATIVE

    def __init__(
        self,
        source_topics_by_subtopology: Mapping[int, tuple[str, ...]],
        *,
        process_id: str,
        application_server: str | None = None,
        num_standby_replicas: int = 0,
        stateful_subtopologies: Iterable[int] = (),
        acceptable_recovery_lag: int = DEFAULT_ACCEPTABLE_RECOVERY_LAG,
        max_warmup_replicas: int = DEFAULT_MAX_WARMUP_REPLICAS,
        probing_rebalance_interval_ms: int = 600_000,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        if num_standby_replicas < 0:
            raise ValueError(f"num_standby_replicas must be >= 0, got {num_standby_replicas}")
        readers: dict[str, int] = {}
        for subtopology, topics in sorted(source_topics_by_subtopology.items()):
            for topic in topics:
                # Two tasks would then claim one partition for two consumers.
                if readers.setdefault(topic, subtopology) != subtopology:
                    raise ValueError(
                        f"source topic {topic!r} feeds sub-topologies {readers[topic]} and "
                        f"{subtopology}; a topic may feed only one"
                    )
        self._source_topics = {
            s: tuple(sorted(ts)) for s, ts in source_topics_by_subtopology.items()
        }
        self._process_id = process_id
        self._application_server = application_server
        self._num_standby_replicas = num_standby_replicas
        self._stateful = frozenset(stateful_subtopologies)
        self._acceptable_recovery_lag = acceptable_recovery_lag
        self._max_warmup_replicas = max_warmup_replicas
        self._probing_interval_ms = probing_rebalance_interval_ms
        self._wall_clock_ms = wall_clock_ms
        # This member's copies of tasks as offset sums (the runtime's), read when it joins.
        self.offset_sum_source: Callable[[], Mapping[TaskId, int]] | None = None
        # The leader's view of the changelogs: end offset sum per stateful task.
        self.changelog_end_sums: (
            Callable[[list[TaskId]], Awaitable[Mapping[TaskId, int]]] | None
        ) = None
        self._joined_offset_sums: dict[TaskId, int] = {}
        self._end_sums: Mapping[TaskId, int] | None = None
        self._owned_active: frozenset[TaskId] = frozenset()
        self._owned_standby: frozenset[TaskId] = frozenset()
        # The latest assignment this member received (on_assignment).
        self.active_tasks: tuple[TaskId, ...] = ()
        # Standbys and warm-ups alike: copies this member keeps restored.
        self.standby_tasks: tuple[TaskId, ...] = ()
        self.warmup_tasks: tuple[TaskId, ...] = ()
        self.probing_rebalance_at_ms = 0
        self.partitions_by_host: dict[str, tuple[TopicPartition, ...]] = {}
        self.error_code = ERROR_NONE
        self.generation = -1

    def set_owned(
        self,
        active: Iterable[TaskId],
        standby: Iterable[TaskId],
        *,
        task_offset_sums: Mapping[TaskId, int] | None = None,
    ) -> None:
        """What this member runs now (and its offset sums): the next subscription reports it."""
        self._owned_active = frozenset(active)
        self._owned_standby = frozenset(standby)
        self._joined_offset_sums = dict(task_offset_sums or {})

    def on_join(self) -> None:
        # Frozen here: the member compares its user data after the assignment with the join's.
        if self.offset_sum_source is not None:
            self._joined_offset_sums = dict(self.offset_sum_source())

    def subscription_user_data(
        self, topics: tuple[str, ...], owned: tuple[TopicPartition, ...]
    ) -> bytes:
        return encode_subscription_info(SubscriptionInfo(
            process_id=self._process_id,
            application_server=self._application_server,
            previous_active=self._owned_active,
            previous_standby=self._owned_standby,
            task_offset_sums=self._joined_offset_sums,
        ))

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        """Keep the plan; an empty assignment (the leader left us out) means no task."""
        info = (
            decode_assignment_info(assignment.user_data)
            if assignment.user_data is not None else AssignmentInfo()
        )
        self.active_tasks = info.active
        self.standby_tasks = tuple(sorted({*info.standby, *info.warmup}))
        self.warmup_tasks = info.warmup
        self.probing_rebalance_at_ms = info.probing_rebalance_at_ms
        self.partitions_by_host = dict(info.partitions_by_host)
        self.error_code, self.generation = info.error_code, generation
        # Tasks gone from the plan are revoked right after this call: stop claiming them.
        self._owned_active &= frozenset(info.active)

    def task_partitions(
        self, partitions_per_topic: Mapping[str, int]
    ) -> dict[TaskId, tuple[TopicPartition, ...]]:
        """Every task and its source partitions; a sub-topology with a topic missing is skipped."""
        tasks, missing = task_partitions(self._source_topics, partitions_per_topic)
        for subtopology, topics in missing.items():
            log.warning("sub-topology %d skipped: source topics %s not in metadata",
                        subtopology, topics)
        return tasks

    def _stateful_tasks(self, partitions_per_topic: Mapping[str, int]) -> list[TaskId]:
        tasks, _missing = task_partitions(self._source_topics, partitions_per_topic)
        return sorted(t for t in tasks if t.subtopology in self._stateful)

    async def before_assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> None:
        self._end_sums = None
        stateful = self._stateful_tasks(partitions_per_topic)
        if not stateful or self.changelog_end_sums is None:
            return
        try:
            self._end_sums = await self.changelog_end_sums(stateful)
        except KafkaError as error:
            # Without lags this plan holds nothing back for warm-ups; the next one will.
            log.warning("changelog end offsets unavailable, no warm-ups this time: %s", error)

    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        partitions_of = self.task_partitions(partitions_per_topic)
        incomplete = any(
            t not in partitions_per_topic for ts in self._source_topics.values() for t in ts
        )
        infos: dict[str, SubscriptionInfo] = {}
        for member_id in sorted(members):
            user_data = members[member_id].user_data
            try:
                infos[member_id] = (
                    decode_subscription_info(user_data) if user_data is not None
                    else SubscriptionInfo(process_id=member_id)
                )
            except InvalidStreamsUserData as error:
                log.warning("member %s gets no task: %s", member_id, error)
        holder = _resolve_holders(members, infos, partitions_of)
        end_sums = self._end_sums or {}
        clients = {
            member_id: ClientState(
                previous_active={t for t, h in holder.items() if h == member_id},
                previous_standby=info.previous_standby,
                task_lags=_lags(info.task_offset_sums, end_sums),
                process_id=info.process_id,
                application_server=info.application_server,
            )
            for member_id, info in infos.items()
        }
        plan = assign_tasks(
            clients, list(partitions_of), num_standby_replicas=self._num_standby_replicas,
            stateful_tasks=[t for t in partitions_of if t in end_sums],
            acceptable_recovery_lag=self._acceptable_recovery_lag,
            max_warmup_replicas=self._max_warmup_replicas,
        )
        probe_at = (
            self._wall_clock_ms() + self._probing_interval_ms
            if needs_probing_rebalance(plan) else 0
        )
        if probe_at:
            log.info("warm-ups %s; probing rebalance in %d ms", {
                m: [str(t) for t in a.warmup] for m, a in plan.items() if a.warmup
            }, self._probing_interval_ms)
        partition_owners: dict[TopicPartition, set[str]] = {}
        for member_id, member in members.items():
            for tp in member.owned:
                partition_owners.setdefault(tp, set()).add(member_id)

        def held_elsewhere(task: TaskId, member_id: str) -> bool:
            return holder.get(task, member_id) != member_id or any(
                partition_owners.get(tp, set()) - {member_id} for tp in partitions_of[task]
            )

        active = {
            m: tuple(t for t in assignment.active if not held_elsewhere(t, m))
            for m, assignment in plan.items()
        }
        hosts: dict[str, list[TopicPartition]] = {}
        for member_id, tasks in sorted(active.items()):
            server = infos[member_id].application_server
            if server is not None:
                hosts.setdefault(server, []).extend(tp for t in tasks for tp in partitions_of[t])
        result = {}
        for member_id in members:
            code = ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA if incomplete else ERROR_NONE
            if member_id not in infos:
                code = ERROR_UNREADABLE_SUBSCRIPTION
            tasks = active.get(member_id, ())
            result[member_id] = MemberAssignment(
                tuple(sorted(tp for t in tasks for tp in partitions_of[t])),
                encode_assignment_info(AssignmentInfo(
                    active=tasks,
                    standby=plan[member_id].standby if member_id in plan else (),
                    partitions_by_host=hosts,
                    error_code=code,
                    warmup=plan[member_id].warmup if member_id in plan else (),
                    probing_rebalance_at_ms=probe_at,
                )),
            )
        return result


def _lags(offset_sums: Mapping[TaskId, int], end_sums: Mapping[TaskId, int]) -> dict[TaskId, int]:
    """Kafka Streams' rule: end minus the member's sum; the whole changelog when it has none
    (or a sum past the end: its copy is from an older changelog and will be thrown away)."""
    lags = {}
    for task, end in end_sums.items():
        offset = offset_sums.get(task)
        if offset == LAG_RUNNING_ACTIVE:
            lags[task] = LAG_RUNNING_ACTIVE
        elif offset is None or offset < 0 or offset > end:
            lags[task] = end
        else:
            lags[task] = end - offset
    return lags


def _resolve_holders(
    members: Mapping[str, MemberSubscription],
    infos: Mapping[str, SubscriptionInfo],
    partitions_of: Mapping[TaskId, tuple[TopicPartition, ...]],
) -> dict[TaskId, str]:
    """Who holds each task now: a claim by owned partition or user data; the newest generation wins."""
    task_of = {tp: task for task, tps in partitions_of.items() for tp in tps}
    holder: dict[TaskId, str] = {}
    generation: dict[TaskId, int] = {}
    for member_id in sorted(members):
        member = members[member_id]
        claimed = {task_of[tp] for tp in member.owned if tp in task_of}
        if member_id in infos:
            claimed |= {t for t in infos[member_id].previous_active if t in partitions_of}
        for task in sorted(claimed):
            if task not in holder or member.generation > generation[task]:
                holder[task] = member_id
                generation[task] = member.generation
    return holder
