"""Delayed operations waiting on keys, with deadlines (sans-IO), after Kafka's
DelayedOperationPurgatory.

An operation (an acks=all produce, a long-poll fetch) is tried once and, if it cannot
complete yet, watched under the keys whose changes may complete it (its partitions).
Whoever changes a key (a high watermark move, an append) calls check_and_complete(key),
which tries each operation watching it; an operation completes once, under whichever
key gets there first, and is then forgotten under all of them. expire(now_ms) hands
back the operations whose deadline passed. The clock is the caller's; the shell wakes
the waiting request (a trio.Event) for every operation returned, never by polling.

This generalises the partition waiter sets in flowlog/broker/partition.py (woken by
every append) with conditions, several keys per operation and deadlines.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Hashable, Iterable
from typing import Generic, Protocol, TypeVar

import attrs

# Bound on operations parked in one purgatory; past it a request is answered at once.
OPERATIONS_MAX_DEFAULT = 100_000


class DelayedOperation(Protocol):
    def try_complete(self) -> bool:
        """Check the operation's condition; when met, record the result and return True."""
        ...


K = TypeVar("K", bound=Hashable)
Op = TypeVar("Op", bound=DelayedOperation)


class Parked(enum.Enum):
    COMPLETED = "completed"  # done at once: answer now
    WATCHING = "watching"  # parked: answered when returned by a later call
    FULL = "full"  # too many parked: answer now with what there is


@attrs.define(eq=False)
class _Entry(Generic[K, Op]):
    operation: Op
    keys: tuple[K, ...]
    deadline_ms: int
    done: bool = False


class Purgatory(Generic[K, Op]):
    def __init__(self, operations_max: int = OPERATIONS_MAX_DEFAULT) -> None:
        self.operations_max = operations_max
        self._watchers: dict[K, dict[int, _Entry[K, Op]]] = {}
        self._entries: dict[int, _Entry[K, Op]] = {}
        self._deadlines: list[tuple[int, int]] = []
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._entries)

    def try_complete_else_watch(self, operation: Op, keys: Iterable[K], deadline_ms: int) -> Parked:
        if operation.try_complete():
            return Parked.COMPLETED
        if len(self._entries) >= self.operations_max:
            return Parked.FULL
        entry: _Entry[K, Op] = _Entry(operation, tuple(dict.fromkeys(keys)), deadline_ms)
        assert entry.keys, "an operation must watch at least one key"
        entry_id = self._next_id
        self._next_id += 1
        self._entries[entry_id] = entry
        for key in entry.keys:
            self._watchers.setdefault(key, {})[entry_id] = entry
        heapq.heappush(self._deadlines, (deadline_ms, entry_id))
        return Parked.WATCHING

    def check_and_complete(self, key: K) -> list[Op]:
        """Try every operation watching `key`; return (and forget) those that completed."""
        watching = self._watchers.get(key)
        if not watching:
            return []
        completed = []
        for entry_id, entry in list(watching.items()):
            if entry.operation.try_complete():
                self._forget(entry_id, entry)
                completed.append(entry.operation)
        return completed

    def remove_key(self, key: K) -> list[Op]:
        """Forget every operation watching `key` (its partition left this broker or
        changed role) and return them, for the caller to answer with an error."""
        watching = self._watchers.get(key)
        if not watching:
            return []
        removed = list(watching.items())
        for entry_id, entry in removed:
            self._forget(entry_id, entry)
        return [entry.operation for _, entry in removed]

    def expire(self, now_ms: int) -> list[Op]:
        """Forget and return the operations whose deadline is <= now_ms."""
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            _, entry_id = heapq.heappop(self._deadlines)
            entry = self._entries.get(entry_id)
            if entry is not None:  # else completed or removed earlier
                self._forget(entry_id, entry)
                expired.append(entry.operation)
        return expired

    def next_deadline_ms(self) -> int | None:
        while self._deadlines and self._deadlines[0][1] not in self._entries:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def watched_keys(self) -> list[K]:
        return [key for key, watching in self._watchers.items() if watching]

    def _forget(self, entry_id: int, entry: _Entry[K, Op]) -> None:
        entry.done = True
        del self._entries[entry_id]
        for key in entry.keys:
            watching = self._watchers.get(key)
            if watching is not None:
                watching.pop(entry_id, None)
                if not watching:
                    del self._watchers[key]
