"""What a leader knows about one follower's log (etcd's Progress, simplified).

PROBE: the follower's match is unknown; one AppendRequest at a time finds it.
REPLICATE: the follower matches; entries stream optimistically (next runs ahead of match).
SNAPSHOT: next was compacted away; a snapshot is in flight, resent if not answered.
"""

from __future__ import annotations

import enum

import attrs


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@attrs.define
class Progress:
    next_index: int
    match_index: int = 0
    state: ProgressState = ProgressState.PROBE
    # PROBE: a probe is out; cleared by its answer or by the next heartbeat.
    probe_sent: bool = False
    # SNAPSHOT: ticks since the snapshot went out.
    snapshot_age_ticks: int = 0
    # Heard from in the current check-quorum window.
    recently_active: bool = False

    def become_probe(self, next_index: int) -> None:
        self.state = ProgressState.PROBE
        self.next_index = max(next_index, self.match_index + 1)
        self.probe_sent = False

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next_index = max(self.next_index, self.match_index + 1)

    def become_snapshot(self) -> None:
        self.state = ProgressState.SNAPSHOT
        self.snapshot_age_ticks = 0

    def acknowledge(self, match_index: int) -> bool:
        """A success up to match_index; False if it tells nothing new (stale, duplicate)."""
        if match_index <= self.match_index:
            return False
        self.match_index = match_index
        self.next_index = max(self.next_index, match_index + 1)
        return True
