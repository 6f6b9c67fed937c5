"""The event loop of a simulation on virtual time: one seeded scheduler, a trace of the
last events for failure reports, and counters of what happened."""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Callable

from .network import SimNetwork


class SimLoop:
    # A runaway run (a message storm) fails instead of hanging the test suite.
    EVENTS_PER_RUN_MAX = 1_000_000
    TRACE_LENGTH = 80

    def __init__(self, seed_text: str) -> None:
        self.seed_text = seed_text
        self.rng = random.Random(seed_text)
        # Its own stream, so the network's draws never shift anyone else's.
        self.network = SimNetwork(random.Random(f"{seed_text}:network"))
        self.now_ms = 0
        self.event_count = 0
        self.trace: deque[tuple[int, str, object]] = deque(maxlen=self.TRACE_LENGTH)
        self.trace_all = False
        # How often each kind of thing happened, to see that a scenario bites.
        self.stats: Counter[str] = Counter()
        # (time, sequence, callback): the sequence keeps same-time events in FIFO order.
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._sequence = 0

    def schedule(self, delay_ms: int, callback: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (self.now_ms + delay_ms, self._sequence, callback))

    def run_until(self, time_ms: int, stop: Callable[[], bool] | None = None) -> None:
        while self._queue and self._queue[0][0] <= time_ms:
            if stop is not None and stop():
                return
            self.now_ms, _, callback = heapq.heappop(self._queue)
            self.event_count += 1
            assert self.event_count < self.EVENTS_PER_RUN_MAX, "event storm"
            callback()
            self.after_event()
        self.now_ms = max(self.now_ms, time_ms)

    def after_event(self) -> None:
        """Checks after every event, for a simulation that checks there."""

    def note(self, what: str, detail: object = None) -> None:
        self.stats[what] += 1
        self.trace.append((self.now_ms, what, detail))
        if self.trace_all:
            print(f"{self.now_ms:>7} {what} {detail if detail is not None else ''}")
