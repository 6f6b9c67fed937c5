"""The streams assignor's user data: what a member reports, what the leader hands out.

JSON (orjson, already a dependency) with short keys, task ids as "0_1"
strings. Why not struct: keyed objects give the compatibility rule below for
free, where a struct layout needs a hand-written reader per version; the
payloads are small and read once per rebalance. The rule: a new version only
adds keys, and readers ignore keys they don't know, so a leader reads a
newer member's subscription by the fields it knows and a newer member reads
an older leader's assignment. A change that cannot follow the rule needs a
new protocol name ("stream2"): JoinGroup's vote then keeps old and new
members apart until all of them speak it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import orjson

from flowlog.client.types import TopicPartition
from flowlog_streams.task_assignment import lag_dict, task_set, task_tuple
from flowlog_streams.task_id import TaskId

USER_DATA_VERSION: Final = 1
# Assignment error codes.
ERROR_NONE: Final = 0
# Some sub-topology's source topic is missing from the metadata: its tasks were skipped.
ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA: Final = 1
# The member's subscription user data could not be read: it was given no task.
ERROR_UNREADABLE_SUBSCRIPTION: Final = 2


class InvalidStreamsUserData(ValueError):
    """Bytes that are not a streams subscription or assignment user data."""


@attrs.frozen(kw_only=True)
class SubscriptionInfo:
    process_id: str
    application_server: str | None = None
    previous_active: frozenset[TaskId] = attrs.field(default=frozenset(), converter=task_set)
    previous_standby: frozenset[TaskId] = attrs.field(default=frozenset(), converter=task_set)
    # Per task with local state: the sum of its changelog positions, or LAG_RUNNING_ACTIVE (-2)
    # for a task running here (Kafka Streams' task offset sums); the leader turns them into lags.
    task_offset_sums: Mapping[TaskId, int] = attrs.field(factory=dict, converter=lag_dict)
    version: int = USER_DATA_VERSION


def _hosts_dict(
    values: Mapping[str, Iterable[TopicPartition]]
) -> dict[str, tuple[TopicPartition, ...]]:
    return {host: tuple(partitions) for host, partitions in values.items()}


@attrs.frozen(kw_only=True)
class AssignmentInfo:
    active: tuple[TaskId, ...] = attrs.field(default=(), converter=task_tuple)
    standby: tuple[TaskId, ...] = attrs.field(default=(), converter=task_tuple)
    # application_server -> partitions of the tasks running there (for interactive queries).
    partitions_by_host: Mapping[str, tuple[TopicPartition, ...]] = attrs.field(
        factory=dict, converter=_hosts_dict
    )
    error_code: int = ERROR_NONE
    # Warm-up tasks: restored like standbys until a probing rebalance hands them over.
    warmup: tuple[TaskId, ...] = attrs.field(default=(), converter=task_tuple)
    # Wall-clock ms at which every member rejoins to let warm-ups take over; 0: none.
    probing_rebalance_at_ms: int = 0
    version: int = USER_DATA_VERSION


def encode_subscription_info(info: SubscriptionInfo) -> bytes:
    return orjson.dumps({
        "v": info.version,
        "pid": info.process_id,
        "srv": info.application_server,
        "act": [str(t) for t in sorted(info.previous_active)],
        "stb": [str(t) for t in sorted(info.previous_standby)],
        "ofs": {str(t): offset for t, offset in sorted(info.task_offset_sums.items())},
    })


def decode_subscription_info(data: bytes) -> SubscriptionInfo:
    """Raises InvalidStreamsUserData; a newer version is read by the fields this one knows."""
    body, version = _load(data, "subscription")
    sums = _field(body, "ofs", dict, "subscription")
    return SubscriptionInfo(
        version=version,
        process_id=_field(body, "pid", str, "subscription"),
        application_server=_field(body, "srv", (str, type(None)), "subscription"),
        previous_active=_tasks(_field(body, "act", list, "subscription")),
        previous_standby=_tasks(_field(body, "stb", list, "subscription")),
        task_offset_sums={_task(k): _integer(v, "task offset sum") for k, v in sums.items()},
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
        "wrm": [str(t) for t in info.warmup],
        "probe": info.probing_rebalance_at_ms,
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
        # Absent from plans written before warm-ups existed.
        warmup=sorted(_tasks(_optional(body, "wrm", list, [], "assignment"))),
        probing_rebalance_at_ms=_optional(body, "probe", int, 0, "assignment"),
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


def _optional(body: dict[str, Any], key: str, kind: type, default: Any, what: str) -> Any:
    return _field(body, key, kind, what) if key in body else default


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
