"""Which __consumer_offsets partitions this broker coordinates, and how (sans-IO).

A broker coordinates the groups of the partitions it leads, as in Kafka. When it
becomes a partition's leader it loads the partition's groups (replays its log) and
answers COORDINATOR_LOAD_IN_PROGRESS for them meanwhile; when it stops leading
(or leads again at another leader epoch: its log may have been truncated while it
followed) it unloads them and answers NOT_COORDINATOR, so clients look the
coordinator up again. A load that finishes after its partition moved is dropped.

The shell (coordinator.py) reports the partitions it leads after every role change
(`update`), carries out the returned actions in order (unloads first), and reports
finished loads (`finish_load`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from flowlog.protocol.errors import ErrorCode


@attrs.frozen
class Load:
    """Replay partition `index` of the log into a scratch manager, then finish_load."""

    index: int
    leader_epoch: int


@attrs.frozen
class Unload:
    """Drop the partition's groups (parked requests: NOT_COORDINATOR)."""

    index: int


Action = Load | Unload


@attrs.define
class _Owned:
    leader_epoch: int
    loaded: bool = False


class CoordinatorPartitions:
    def __init__(self) -> None:
        self._owned: dict[int, _Owned] = {}

    def update(self, led: Mapping[int, int]) -> list[Action]:
        """`led`: partition index -> leader epoch, for every partition led now."""
        unloads: list[Action] = []
        loads: list[Action] = []
        for index, owned in list(self._owned.items()):
            if led.get(index) != owned.leader_epoch:
                del self._owned[index]
                unloads.append(Unload(index))
        for index, leader_epoch in sorted(led.items()):
            if index not in self._owned:
                self._owned[index] = _Owned(leader_epoch)
                loads.append(Load(index, leader_epoch))
        return unloads + loads

    def reload(self, index: int) -> list[Action]:
        """Memory went ahead of the log (an append failed): start over from the log."""
        owned = self._owned.get(index)
        if owned is None:
            return []
        owned.loaded = False
        return [Unload(index), Load(index, owned.leader_epoch)]

    def finish_load(self, index: int, leader_epoch: int) -> bool:
        """True if the load is still wanted: adopt its groups. False: drop them."""
        owned = self._owned.get(index)
        if owned is None or owned.leader_epoch != leader_epoch or owned.loaded:
            return False
        owned.loaded = True
        return True

    def error_for(self, index: int) -> ErrorCode | None:
        """None if this broker serves the partition's groups now, else the error."""
        owned = self._owned.get(index)
        if owned is None:
            return ErrorCode.NOT_COORDINATOR
        if not owned.loaded:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return None

    @property
    def loading(self) -> bool:
        return any(not owned.loaded for owned in self._owned.values())

    def leader_epoch(self, index: int) -> int | None:
        owned = self._owned.get(index)
        return None if owned is None else owned.leader_epoch


def write_error(append_error: ErrorCode) -> ErrorCode:
    """What a group request hears when its write to the log failed or did not commit,
    as Kafka's GroupMetadataManager maps it: retriable coordinator errors, so the
    client looks the coordinator up again (or simply retries)."""
    if append_error is ErrorCode.NONE:
        return ErrorCode.NONE
    if append_error in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    return ErrorCode.NOT_COORDINATOR
