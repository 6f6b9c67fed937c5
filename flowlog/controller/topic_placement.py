"""Where a new topic goes: its random id, legal names, and replica placement."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from flowlog.controller.controller_api import RandomSource
from flowlog.controller.metadata_records import UUID_SIZE_BYTES

TOPIC_NAME_LENGTH_MAX = 249
LEGAL_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")
# Kafka reserves the all-zero id (no topic) and 1 (its own metadata topic).
RESERVED_TOPIC_ID_VALUES = frozenset({0, 1})
# A fresh 128-bit draw collides with probability ~n/2**128; more misses mean a broken source.
TOPIC_ID_ATTEMPTS_MAX = 16


def topic_name_error(name: str) -> str | None:
    """Why `name` is not a legal Kafka topic name, or None if it is."""
    if not name:
        return "the topic name is empty"
    if name in (".", ".."):
        return f"the topic name {name!r} is reserved"
    if len(name) > TOPIC_NAME_LENGTH_MAX:
        return f"the topic name is {len(name)} characters long; at most {TOPIC_NAME_LENGTH_MAX}"
    if not LEGAL_TOPIC_NAME.fullmatch(name):
        return f"the topic name {name!r} has characters outside [a-zA-Z0-9._-]"
    return None


def collision_key(name: str) -> str:
    """Names equal under this key clash in metric names, so Kafka refuses the second one."""
    return name.replace(".", "_")


def new_topic_id(random_source: RandomSource, is_taken: Callable[[bytes], bool]) -> bytes:
    """A random non-reserved 16-byte id that `is_taken` says is free."""
    for _ in range(TOPIC_ID_ATTEMPTS_MAX):
        value = random_source.getrandbits(UUID_SIZE_BYTES * 8)
        if value in RESERVED_TOPIC_ID_VALUES:
            continue
        topic_id = value.to_bytes(UUID_SIZE_BYTES, "big")
        if not is_taken(topic_id):
            return topic_id
    raise RuntimeError(f"no free topic id in {TOPIC_ID_ATTEMPTS_MAX} random draws")


def place_replicas(
    live_broker_ids: Sequence[int],
    partition_count: int,
    replication_factor: int,
    random_source: RandomSource,
    racks: Mapping[int, str | None] | None = None,
) -> list[tuple[int, ...]]:
    """Replicas per partition, round-robin over the live brokers from a random start.

    Partition p's first replica (its preferred leader) is the broker at position
    start + p, so leaders spread evenly. Without racks the others follow in order;
    with racks (any broker has one) the brokers are first ordered so racks alternate,
    and each partition takes its followers from racks it does not use yet before it
    reuses one: a rack failure then takes at most ceil(rf / racks) replicas.
    """
    broker_count = len(live_broker_ids)
    assert 1 <= replication_factor <= broker_count, "the caller checks the replication factor"
    start_index = random_source.getrandbits(32) % broker_count
    rack_of = dict(racks or {})
    if not any(rack_of.get(broker) for broker in live_broker_ids):
        return [
            tuple(
                live_broker_ids[(start_index + partition + replica) % broker_count]
                for replica in range(replication_factor)
            )
            for partition in range(partition_count)
        ]
    ordered = rack_alternating(live_broker_ids, rack_of)
    return [
        _rack_aware_replicas(ordered, rack_of, start_index + partition, replication_factor)
        for partition in range(partition_count)
    ]


def rack_alternating(
    broker_ids: Sequence[int], rack_of: Mapping[int, str | None]
) -> list[int]:
    """Brokers ordered rack by rack in turn: r1's first, r2's first, ..., r1's second.

    A broker without a rack counts as its own rack, so it is never grouped with others.
    """
    by_rack: dict[str, list[int]] = {}
    for broker in sorted(broker_ids):
        rack = rack_of.get(broker) or f"\0no-rack-{broker}"
        by_rack.setdefault(rack, []).append(broker)
    columns = [by_rack[rack] for rack in sorted(by_rack)]
    depth = max(len(column) for column in columns)
    return [column[row] for row in range(depth) for column in columns if row < len(column)]


def _rack_aware_replicas(
    ordered: Sequence[int], rack_of: Mapping[int, str | None], first_position: int, count: int
) -> tuple[int, ...]:
    size = len(ordered)
    candidates = [ordered[(first_position + step) % size] for step in range(size)]
    chosen = [candidates[0]]
    used_racks = {_rack_key(candidates[0], rack_of)}
    rack_count = len({_rack_key(broker, rack_of) for broker in ordered})
    # First pass: only brokers on racks not used yet; second: anyone left.
    for broker in candidates[1:]:
        if len(chosen) == count or len(used_racks) == rack_count:
            break
        if _rack_key(broker, rack_of) not in used_racks:
            chosen.append(broker)
            used_racks.add(_rack_key(broker, rack_of))
    for broker in candidates[1:]:
        if len(chosen) == count:
            break
        if broker not in chosen:
            chosen.append(broker)
    return tuple(chosen)


def _rack_key(broker: int, rack_of: Mapping[int, str | None]) -> str:
    return rack_of.get(broker) or f"\0no-rack-{broker}"


def replica_assignment_error(
    replicas: Sequence[int], registered_broker_ids: set[int]
) -> str | None:
    """Why one explicit replica list is unusable, or None."""
    if not replicas:
        return "a partition has no replicas"
    if len(set(replicas)) != len(replicas):
        return f"replicas {list(replicas)} repeat a broker"
    unknown = sorted(set(replicas) - registered_broker_ids)
    if unknown:
        return f"replicas {list(replicas)} name unregistered brokers {unknown}"
    return None
