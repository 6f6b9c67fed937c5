"""Punctuation schedules: callbacks on stream time or wall-clock time, as Kafka Streams fires them.

A schedule fires when its clock reaches its deadline, at most once per
check; missed intervals are skipped (the next deadline stays aligned to the
first one). Stream-time schedules start with deadline 0, so they fire on the
first record; wall-clock ones at now + interval.
"""

from __future__ import annotations

from collections.abc import Callable

from flowlog_streams.processor import PunctuationType, Punctuator


class Schedule:
    __slots__ = ("node_name", "interval_ms", "type", "callback", "deadline_ms", "cancelled")

    def __init__(
        self,
        node_name: str,
        interval_ms: int,
        punctuation_type: PunctuationType,
        callback: Punctuator,
        deadline_ms: int,
    ) -> None:
        self.node_name = node_name
        self.interval_ms = interval_ms
        self.type = punctuation_type
        self.callback = callback
        self.deadline_ms = deadline_ms
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def advance(self, now_ms: int) -> None:
        following = self.deadline_ms + self.interval_ms
        if now_ms >= following:
            missed = (now_ms - self.deadline_ms) // self.interval_ms
            following = self.deadline_ms + (missed + 1) * self.interval_ms
        self.deadline_ms = following


class ScheduleQueue:
    """The schedules of one kind in one task; `due(now)` runs what is due."""

    def __init__(self) -> None:
        self.schedules: list[Schedule] = []
        self.next_deadline_ms: float = float("inf")

    def add(self, schedule: Schedule) -> None:
        self.schedules.append(schedule)
        self.next_deadline_ms = min(self.next_deadline_ms, schedule.deadline_ms)

    def run_due(self, now_ms: int, fire: Callable[[Schedule, int], None]) -> int:
        """Fire each due schedule once (in deadline order); returns how many fired."""
        fired = 0
        for schedule in sorted(self.schedules, key=lambda s: s.deadline_ms):
            if schedule.cancelled or schedule.deadline_ms > now_ms:
                continue
            fire(schedule, now_ms)
            fired += 1
            schedule.advance(now_ms)
        self.schedules = [s for s in self.schedules if not s.cancelled]
        self.next_deadline_ms = min((s.deadline_ms for s in self.schedules), default=float("inf"))
        return fired
