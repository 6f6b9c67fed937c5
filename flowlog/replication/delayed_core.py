"""The two delayed operations of replication, for purgatory_core.Purgatory (sans-IO).

DelayedProduce: an acks=all produce waits until the high watermark passes the last
record of each partition it wrote (PartitionLeader.produce_result), under the leader
epoch it appended in; a changed epoch or a lost leadership answers
NOT_LEADER_OR_FOLLOWER, because the records may have been truncated and the offsets
reused by another leader since.

DelayedFetch: a long-poll fetch waits until some partition it reads has data past
its fetch offset (the log end for a follower, the high watermark for a consumer), or
its partition changed role; the shell then reads again and, if it still has less
than min_bytes, parks again until its deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

import attrs

from flowlog.protocol.errors import ErrorCode
from flowlog.replication.leader_core import PartitionLeader

K = TypeVar("K", bound=Hashable)


@attrs.define(eq=False)
class DelayedProduce(Generic[K]):
    # key -> (leader epoch of the append, offset after the partition's last record)
    required: Mapping[K, tuple[int, int]]
    # The broker's current leader core of a partition, or None if it leads it no more.
    leader_of: Callable[[K], PartitionLeader | None]
    results: dict[K, ErrorCode] = attrs.Factory(dict)

    def try_complete(self) -> bool:
        for key, (leader_epoch, required_offset) in self.required.items():
            if key in self.results:
                continue
            leader = self.leader_of(key)
            if leader is None or leader.leader_epoch != leader_epoch:
                self.results[key] = ErrorCode.NOT_LEADER_OR_FOLLOWER
                continue
            result = leader.produce_result(required_offset)
            if result is not None:
                self.results[key] = result
        return len(self.results) == len(self.required)

    def expire(self) -> dict[K, ErrorCode]:
        """The answer at the deadline: partitions not done time out."""
        for key in self.required:
            self.results.setdefault(key, ErrorCode.REQUEST_TIMED_OUT)
        return self.results


@attrs.define(eq=False)
class DelayedFetch(Generic[K]):
    # key -> fetch offset
    fetch_offsets: Mapping[K, int]
    # Where a partition's readable data ends for this fetcher now, or None when the
    # partition cannot serve it any more (role or epoch changed): answer at once.
    readable_end: Callable[[K], int | None]
    woken_by: K | None = None

    def try_complete(self) -> bool:
        for key, fetch_offset in self.fetch_offsets.items():
            end = self.readable_end(key)
            if end is None or end > fetch_offset:
                self.woken_by = key
                return True
        return False
