"""StreamsAssignor: the "stream" group assignor (cooperative), a simpler Kafka Streams
StreamsPartitionAssignor around the pure core in task_assignment.py.

It maps tasks to source partitions, carries each member's tasks in the
subscription user data and the plan in the assignment user data
(assignment_info.py), and withholds a task moving between members until its
old owner has let it go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from flowlog.client.assignors import (
    COOPERATIVE,
    GroupAssignor,
    MemberAssignment,
    MemberSubscription,
)
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
    LAG_RUNNING_ACTIVE,
    ClientAssignment,
    ClientState,
    assign_tasks,
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
        self._owned_active: frozenset[TaskId] = frozenset()
        self._owned_standby: frozenset[TaskId] = frozenset()
        self._task_lags: dict[TaskId, int] = {}
        # The latest assignment this member received (on_assignment).
        self.active_tasks: tuple[TaskId, ...] = ()
        self.standby_tasks: tuple[TaskId, ...] = ()
        self.partitions_by_host: dict[str, tuple[TopicPartition, ...]] = {}
        self.error_code = ERROR_NONE
        self.generation = -1

    def set_owned(
        self,
        active: Iterable[TaskId],
        standby: Iterable[TaskId],
        *,
        task_lags: Mapping[TaskId, int] | None = None,
    ) -> None:
        """What this member runs now (and, later, its lags): the next subscription reports it."""
        self._owned_active = frozenset(active)
        self._owned_standby = frozenset(standby)
        self._task_lags = dict(task_lags or {})

    def subscription_user_data(
        self, topics: tuple[str, ...], owned: tuple[TopicPartition, ...]
    ) -> bytes:
        return encode_subscription_info(SubscriptionInfo(
            process_id=self._process_id,
            application_server=self._application_server,
            previous_active=self._owned_active,
            previous_standby=self._owned_standby,
            task_lags=self._task_lags,
        ))

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        """Keep the plan; an empty assignment (the leader left us out) means no task."""
        info = (
            decode_assignment_info(assignment.user_data)
            if assignment.user_data is not None else AssignmentInfo()
        )
        self.active_tasks, self.standby_tasks = info.active, info.standby
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
        clients = {
            member_id: ClientState(
                previous_active={t for t, h in holder.items() if h == member_id},
                previous_standby=info.previous_standby,
                task_lags=info.task_lags,
                process_id=info.process_id,
                application_server=info.application_server,
            )
            for member_id, info in infos.items()
        }
        plan = assign_tasks(
            clients, list(partitions_of), num_standby_replicas=self._num_standby_replicas
        )
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
                )),
            )
        return result


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
