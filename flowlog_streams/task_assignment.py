"""Which client runs which task: the pure core of the streams assignor (no I/O, deterministic).

Every task active on exactly one client, active counts within one of each
other, as many tasks as balance allows left with their previous owner, each
sub-topology spread over the clients, standbys on other processes.

Warm-ups (Kafka Streams' KIP-441): when the balanced plan would move a task to
a client whose copy of its state lags by more than `acceptable_recovery_lag`,
the task stays active on a caught-up client and the intended owner gets a
warm-up copy (restored like a standby) instead; the assignment then asks for a
probing rebalance, and the move happens once the warm-up has caught up. At
most `max_warmup_replicas` warm-ups exist at a time; a task that no client has
caught up goes to its intended owner at once (waiting would not help).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import attrs

from flowlog_streams.task_id import TaskId

# A task_lags value: the client was running the task as active (Kafka Streams' -2).
LAG_RUNNING_ACTIVE: Final = -2
_LAG_UNKNOWN: Final = sys.maxsize


def task_set(values: Iterable[TaskId]) -> frozenset[TaskId]:
    return frozenset(values)


def task_tuple(values: Iterable[TaskId]) -> tuple[TaskId, ...]:
    return tuple(values)


def lag_dict(values: Mapping[TaskId, int]) -> dict[TaskId, int]:
    return dict(values)


@attrs.frozen(kw_only=True)
class ClientState:
    """What one member reports; task_lags is empty until changelog offsets are reported."""

    previous_active: frozenset[TaskId] = attrs.field(default=frozenset(), converter=task_set)
    previous_standby: frozenset[TaskId] = attrs.field(default=frozenset(), converter=task_set)
    task_lags: Mapping[TaskId, int] = attrs.field(factory=dict, converter=lag_dict)
    process_id: str
    application_server: str | None = None


@attrs.frozen(kw_only=True)
class ClientAssignment:
    active: tuple[TaskId, ...] = ()
    standby: tuple[TaskId, ...] = ()
    # Tasks restored toward a later handoff (Kafka Streams' warm-ups): run as standbys.
    warmup: tuple[TaskId, ...] = ()


# Kafka Streams' defaults (acceptable.recovery.lag, max.warmup.replicas).
DEFAULT_ACCEPTABLE_RECOVERY_LAG: Final = 10_000
DEFAULT_MAX_WARMUP_REPLICAS: Final = 2


def assign_tasks(
    clients: Mapping[str, ClientState],
    tasks: Sequence[TaskId],
    *,
    num_standby_replicas: int = 0,
    stateful_tasks: Iterable[TaskId] = (),
    acceptable_recovery_lag: int = DEFAULT_ACCEPTABLE_RECOVERY_LAG,
    max_warmup_replicas: int = DEFAULT_MAX_WARMUP_REPLICAS,
) -> dict[str, ClientAssignment]:
    """Active, standby and warm-up tasks per client id; the same answer for any input order.

    Only `stateful_tasks` (those with logged stores) wait for warm-ups: the others move at once."""
    if num_standby_replicas < 0:
        raise ValueError(f"num_standby_replicas must not be negative, got {num_standby_replicas}")
    if acceptable_recovery_lag < 0:
        raise ValueError(f"acceptable_recovery_lag must not be negative, got {acceptable_recovery_lag}")
    if max_warmup_replicas < 1:
        raise ValueError(f"max_warmup_replicas must be at least 1, got {max_warmup_replicas}")
    ids = sorted(clients)
    all_tasks = sorted(set(tasks))
    if not ids:
        return {}
    active = _assign_active(clients, ids, all_tasks)
    stateful = sorted(set(stateful_tasks) & set(all_tasks))
    warmup = _hold_for_warmups(
        clients, ids, stateful, active, acceptable_recovery_lag, max_warmup_replicas
    )
    standby = _assign_standby(clients, ids, all_tasks, active, num_standby_replicas)
    for client, tasks_warming in warmup.items():
        # A standby copy there is already kept warm: no second copy.
        warmup[client] = [t for t in tasks_warming if t not in standby[client]]
    return {
        c: ClientAssignment(
            active=tuple(sorted(active[c])),
            standby=tuple(sorted(standby[c])),
            warmup=tuple(sorted(warmup[c])),
        )
        for c in ids
    }


def needs_probing_rebalance(plan: Mapping[str, ClientAssignment]) -> bool:
    """Warm-ups were handed out: a later rebalance must look at their lags again."""
    return any(assignment.warmup for assignment in plan.values())


def _caught_up(client: ClientState, task: TaskId, acceptable_lag: int) -> bool:
    return _state_rank(client, task) <= acceptable_lag


def _hold_for_warmups(
    clients: Mapping[str, ClientState],
    ids: list[str],
    tasks: list[TaskId],
    active: dict[str, list[TaskId]],
    acceptable_lag: int,
    max_warmups: int,
) -> dict[str, list[TaskId]]:
    """Keep tasks on caught-up clients where the intended owner would have to restore.

    Moves such tasks (in `active`, in place) to the most caught-up client, then
    the least loaded, and returns the warm-ups their intended owners get."""
    warmup: dict[str, list[TaskId]] = {c: [] for c in ids}
    budget = max_warmups
    owner = {t: c for c in ids for t in active[c]}
    for task in tasks:
        intended = owner[task]
        if _caught_up(clients[intended], task, acceptable_lag):
            continue
        caught_up = [c for c in ids if _caught_up(clients[c], task, acceptable_lag)]
        if not caught_up:
            continue  # nobody has it warm: restoring it now is as good as later
        holder = min(caught_up, key=lambda c: (_state_rank(clients[c], task), len(active[c]), c))
        active[intended].remove(task)
        active[holder].append(task)
        if budget > 0:
            warmup[intended].append(task)
            budget -= 1
    return warmup


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
