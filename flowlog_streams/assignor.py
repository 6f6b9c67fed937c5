"""Which member runs which task: a simpler Kafka Streams StreamsPartitionAssignor.

assign_tasks is the pure core: every task active on exactly one client, active
counts within one of each other, as many tasks as balance allows left with
their previous owner, each sub-topology spread over the clients, standbys on
other processes. StreamsAssignor is the GroupAssignor ("stream", cooperative)
around it: it maps tasks to source partitions, carries each member's tasks in
the subscription user data and the plan in the assignment user data, and
withholds a task moving between members until its old owner has let it go.

User data is JSON (orjson, already a dependency) with short keys, task ids
as "0_1" strings. Why not struct: keyed objects give the compatibility rule
below for free, where a struct layout needs a hand-written reader per
version; the payloads are small and read once per rebalance. The rule: a
new version only adds keys, and readers ignore keys they don't know, so a
leader reads a newer member's subscription by the fields it knows and a newer
member reads an older leader's assignment. A change that cannot follow the
rule needs a new protocol name ("stream2"): JoinGroup's vote then keeps old
and new members apart until all of them speak it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
import orjson

from flowlog.client.assignors import (
    COOPERATIVE,
    GroupAssignor,
    MemberAssignment,
    MemberSubscription,
)
from flowlog.client.types import TopicPartition
from flowlog_streams.task_id import TaskId

log = logging.getLogger(__name__)

USER_DATA_VERSION: Final = 1
# A task_lags value: the client was running the task as active (Kafka Streams' -2).
LAG_RUNNING_ACTIVE: Final = -2
_LAG_UNKNOWN: Final = sys.maxsize
# Assignment error codes.
ERROR_NONE: Final = 0
# Some sub-topology's source topic is missing from the metadata: its tasks were skipped.
ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA: Final = 1
# The member's subscription user data could not be read: it was given no task.
ERROR_UNREADABLE_SUBSCRIPTION: Final = 2


def _task_set(values: Iterable[TaskId]) -> frozenset[TaskId]:
    return frozenset(values)


def _task_tuple(values: Iterable[TaskId]) -> tuple[TaskId, ...]:
    return tuple(values)


def _lag_dict(values: Mapping[TaskId, int]) -> dict[TaskId, int]:
    return dict(values)


@attrs.frozen(kw_only=True)
class ClientState:
    """What one member reports; task_lags is empty until changelog offsets are reported."""

    previous_active: frozenset[TaskId] = attrs.field(default=frozenset(), converter=_task_set)
    previous_standby: frozenset[TaskId] = attrs.field(default=frozenset(), converter=_task_set)
    task_lags: Mapping[TaskId, int] = attrs.field(factory=dict, converter=_lag_dict)
    process_id: str
    application_server: str | None = None


@attrs.frozen(kw_only=True)
class ClientAssignment:
    active: tuple[TaskId, ...] = ()
    standby: tuple[TaskId, ...] = ()
    # Tasks restored toward a later handoff (Kafka Streams' warm-ups); none yet.
    warmup: tuple[TaskId, ...] = ()


# ---------------------------------------------------------------- the pure core


def assign_tasks(
    clients: Mapping[str, ClientState], tasks: Sequence[TaskId], *, num_standby_replicas: int = 0
) -> dict[str, ClientAssignment]:
    """Active and standby tasks per client id; the same answer for any input order."""
    if num_standby_replicas < 0:
        raise ValueError(f"num_standby_replicas must not be negative, got {num_standby_replicas}")
    ids = sorted(clients)
    all_tasks = sorted(set(tasks))
    if not ids:
        return {}
    active = _assign_active(clients, ids, all_tasks)
    standby = _assign_standby(clients, ids, all_tasks, active, num_standby_replicas)
    return {
        c: ClientAssignment(active=tuple(sorted(active[c])), standby=tuple(sorted(standby[c])))
        for c in ids
    }


def _state_rank(client: ClientState, task: TaskId) -> int:
    """Lower is more caught up: the reported lag, else running it, else a standby, else unknown."""
    lag = client.task_lags.get(task)
    if lag is not None:
        return lag
    if task in client.previous_active:
        return LAG_RUNNING_ACTIVE
    return 0 if task in client.previous_standby else _LAG_UNKNOWN


def _assign_active(
    clients: Mapping[str, ClientState], ids: list[str], tasks: list[TaskId]
) -> dict[str, list[TaskId]]:
    # One previous owner per task; two claims (one is stale): the most caught up, then the first id.
    owner: dict[TaskId, str] = {}
    for task in tasks:
        claimants = [c for c in ids if task in clients[c].previous_active]
        if claimants:
            owner[task] = min(claimants, key=lambda c: (_state_rank(clients[c], task), c))
    previous = {c: [t for t in tasks if owner.get(t) == c] for c in ids}
    # Balanced counts: `extra` clients run one more task. Give those slots to clients that
    # keep one more task by it (each then keeps what its count allows: optimal), then to
    # clients with state for more tasks.
    floor, extra = divmod(len(tasks), len(ids))
    warm = {c: sum(1 for t in tasks if _state_rank(clients[c], t) != _LAG_UNKNOWN) for c in ids}
    by_benefit = sorted(ids, key=lambda c: (-min(len(previous[c]), floor + 1), -warm[c], c))
    capacity = {c: floor + (1 if index < extra else 0) for index, c in enumerate(by_benefit)}
    assignment = {c: _spread_pick(previous[c], capacity[c]) for c in ids}
    kept = {t for c in ids for t in assignment[c]}
    for task in tasks:
        if task in kept:
            continue
        candidates = [c for c in ids if len(assignment[c]) < capacity[c]]
        target = min(candidates, key=lambda c: (
            _state_rank(clients[c], task),
            _count_of_subtopology(assignment[c], task.subtopology),
            len(assignment[c]),
            c,
        ))
        assignment[target].append(task)
    return assignment


def _spread_pick(tasks: list[TaskId], count: int) -> list[TaskId]:
    """`count` of `tasks`, taking from each sub-topology in turn so that they stay spread."""
    if len(tasks) <= count:
        return list(tasks)
    by_turn = sorted(tasks, key=lambda t: (_rank_within_subtopology(tasks, t), t))
    return by_turn[:count]


def _rank_within_subtopology(tasks: list[TaskId], task: TaskId) -> int:
    return sum(1 for t in tasks if t.subtopology == task.subtopology and t < task)


def _count_of_subtopology(tasks: Iterable[TaskId], subtopology: int) -> int:
    return sum(1 for t in tasks if t.subtopology == subtopology)


def _assign_standby(
    clients: Mapping[str, ClientState],
    ids: list[str],
    tasks: list[TaskId],
    active: Mapping[str, list[TaskId]],
    replicas: int,
) -> dict[str, list[TaskId]]:
    standby: dict[str, list[TaskId]] = {c: [] for c in ids}
    if replicas == 0:
        return standby
    owner = {t: c for c in ids for t in active[c]}
    holders: dict[TaskId, list[str]] = {t: [] for t in tasks}

    # Copies of one task sit in distinct processes: two in one process share its state directory.
    def eligible(client: str, task: TaskId, ignore: str | None) -> bool:
        processes = {clients[owner[task]].process_id}
        processes |= {clients[h].process_id for h in holders[task] if h != ignore}
        return clients[client].process_id not in processes

    def place(client: str, task: TaskId) -> None:
        holders[task].append(client)
        standby[client].append(task)

    process_count = len({clients[c].process_id for c in ids})
    total = len(tasks) * min(replicas, process_count - 1)
    ceiling = -(-total // len(ids))
    # Clients that had the task first (their copy is warm), up to a fair share each.
    for task in tasks:
        warm = sorted(
            (c for c in ids if _state_rank(clients[c], task) != _LAG_UNKNOWN),
            key=lambda c: (_state_rank(clients[c], task), c),
        )
        for client in warm:
            if len(holders[task]) < replicas and len(standby[client]) < ceiling and eligible(
                client, task, None
            ):
                place(client, task)
    for task in tasks:
        while len(holders[task]) < replicas:
            candidates = [c for c in ids if eligible(c, task, None)]
            if not candidates:
                break
            place(min(candidates, key=lambda c: (len(standby[c]), c)), task)
    _balance_standby(standby, holders, eligible, clients)
    return standby


def _balance_standby(
    standby: dict[str, list[TaskId]],
    holders: dict[TaskId, list[str]],
    eligible: Callable[[str, TaskId, str | None], bool],
    clients: Mapping[str, ClientState],
) -> None:
    """Move standbys from the fullest to emptier clients until no allowed move evens them more."""
    total = sum(len(tasks) for tasks in standby.values())
    # Each move lowers the sum of squared counts, so this many rounds bound the loop.
    for _ in range(total * len(standby) + 1):
        move = None
        for source in sorted(standby, key=lambda c: (-len(standby[c]), c)):
            # Copies the client did not have go first: moving those loses no warm state.
            order = sorted(standby[source], key=lambda t: (
                _state_rank(clients[source], t) != _LAG_UNKNOWN, t
            ))
            for task in order:
                takers = [
                    c for c in standby
                    if len(standby[c]) + 1 < len(standby[source])
                    and c not in holders[task] and eligible(c, task, source)
                ]
                if takers:
                    move = (source, task, min(takers, key=lambda c: (len(standby[c]), c)))
                    break
            if move:
                break
        if move is None:
            return
        source, task, target = move
        standby[source].remove(task)
        holders[task].remove(source)
        standby[target].append(task)
        holders[task].append(target)


# ---------------------------------------------------------------- the group assignor


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
        tasks: dict[TaskId, tuple[TopicPartition, ...]] = {}
        for subtopology, topics in sorted(self._source_topics.items()):
            missing = [t for t in topics if t not in partitions_per_topic]
            if missing:
                log.warning("sub-topology %d skipped: source topics %s not in metadata",
                            subtopology, missing)
                continue
            for partition in range(max((partitions_per_topic[t] for t in topics), default=0)):
                tasks[TaskId(subtopology, partition)] = tuple(
                    TopicPartition(t, partition)
                    for t in topics if partition < partitions_per_topic[t]
                )
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


# ---------------------------------------------------------------- user data


class InvalidStreamsUserData(ValueError):
    """Bytes that are not a streams subscription or assignment user data."""


@attrs.frozen(kw_only=True)
class SubscriptionInfo:
    process_id: str
    application_server: str | None = None
    previous_active: frozenset[TaskId] = attrs.field(default=frozenset(), converter=_task_set)
    previous_standby: frozenset[TaskId] = attrs.field(default=frozenset(), converter=_task_set)
    task_lags: Mapping[TaskId, int] = attrs.field(factory=dict, converter=_lag_dict)
    version: int = USER_DATA_VERSION


def _hosts_dict(
    values: Mapping[str, Iterable[TopicPartition]]
) -> dict[str, tuple[TopicPartition, ...]]:
    return {host: tuple(partitions) for host, partitions in values.items()}


@attrs.frozen(kw_only=True)
class AssignmentInfo:
    active: tuple[TaskId, ...] = attrs.field(default=(), converter=_task_tuple)
    standby: tuple[TaskId, ...] = attrs.field(default=(), converter=_task_tuple)
    # application_server -> partitions of the tasks running there (for interactive queries).
    partitions_by_host: Mapping[str, tuple[TopicPartition, ...]] = attrs.field(
        factory=dict, converter=_hosts_dict
    )
    error_code: int = ERROR_NONE
    version: int = USER_DATA_VERSION


def encode_subscription_info(info: SubscriptionInfo) -> bytes:
    return orjson.dumps({
        "v": info.version,
        "pid": info.process_id,
        "srv": info.application_server,
        "act": [str(t) for t in sorted(info.previous_active)],
        "stb": [str(t) for t in sorted(info.previous_standby)],
        "lag": {str(t): lag for t, lag in sorted(info.task_lags.items())},
    })


def decode_subscription_info(data: bytes) -> SubscriptionInfo:
    """Raises InvalidStreamsUserData; a newer version is read by the fields this one knows."""
    body, version = _load(data, "subscription")
    lags = _field(body, "lag", dict, "subscription")
    return SubscriptionInfo(
        version=version,
        process_id=_field(body, "pid", str, "subscription"),
        application_server=_field(body, "srv", (str, type(None)), "subscription"),
        previous_active=_tasks(_field(body, "act", list, "subscription")),
        previous_standby=_tasks(_field(body, "stb", list, "subscription")),
        task_lags={_task(key): _integer(lag, "task lag") for key, lag in lags.items()},
    )


def encode_assignment_info(info: AssignmentInfo) -> bytes:
    hosts: dict[str, dict[str, list[int]]] = {}
    for host, partitions in sorted(info.partitions_by_host.items()):
        by_topic = hosts.setdefault(host, {})
        for tp in sorted(partitions):
            by_topic.setdefault(tp.topic, []).append(tp.partition)
    return orjson.dumps({
        "v": info.version,
        "act": [str(t) for t in info.active],
        "stb": [str(t) for t in info.standby],
        "hosts": hosts,
        "err": info.error_code,
    })


def decode_assignment_info(data: bytes) -> AssignmentInfo:
    """Raises InvalidStreamsUserData; a newer version is read by the fields this one knows."""
    body, version = _load(data, "assignment")
    hosts: dict[str, list[TopicPartition]] = {}
    for host, by_topic in _field(body, "hosts", dict, "assignment").items():
        if not isinstance(by_topic, dict):
            raise InvalidStreamsUserData(f"assignment host {host!r}: expected an object")
        hosts[host] = []
        for topic, partitions in by_topic.items():
            if not isinstance(partitions, list):
                raise InvalidStreamsUserData(f"partitions of topic {topic!r} are not a list")
            hosts[host].extend(TopicPartition(topic, _integer(p, "partition")) for p in partitions)
    return AssignmentInfo(
        version=version,
        active=sorted(_tasks(_field(body, "act", list, "assignment"))),
        standby=sorted(_tasks(_field(body, "stb", list, "assignment"))),
        partitions_by_host=hosts,
        error_code=_field(body, "err", int, "assignment"),
    )


def _load(data: bytes, what: str) -> tuple[dict[str, Any], int]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidStreamsUserData(f"streams {what} user data is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise InvalidStreamsUserData(f"streams {what} user data is not a JSON object")
    version = _integer(body.get("v"), f"{what} version")
    if version < 1:
        raise InvalidStreamsUserData(f"streams {what} user data version {version} is below 1")
    return body, version


def _field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in body:
        raise InvalidStreamsUserData(f"streams {what} user data lacks {key!r}")
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidStreamsUserData(f"streams {what} user data {key!r} has a wrong type: {value!r}")
    return value


def _integer(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidStreamsUserData(f"{what} is not an integer: {value!r}")
    return value


def _task(text: object) -> TaskId:
    if not isinstance(text, str):
        raise InvalidStreamsUserData(f"not a task id: {text!r}")
    try:
        return TaskId.parse(text)
    except ValueError as error:
        raise InvalidStreamsUserData(str(error)) from error


def _tasks(values: list[object]) -> frozenset[TaskId]:
    return frozenset(_task(v) for v in values)
