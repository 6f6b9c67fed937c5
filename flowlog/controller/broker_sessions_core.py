"""Broker sessions on the active controller: who heartbeated when, who expired.

Sans-IO (time passed in as now_ms). Like Kafka's BrokerHeartbeatManager this lives
only in the active controller's memory, never in the log: a new controller starts
every registered broker's session afresh, so a controller failover fences nobody
early.
"""

from __future__ import annotations

from collections.abc import Iterable


class BrokerSessions:
    def __init__(self, session_timeout_ms: int) -> None:
        assert session_timeout_ms > 0, "the session timeout is positive"
        self.session_timeout_ms = session_timeout_ms
        self._last_contact_ms: dict[int, int] = {}

    def start_all(self, node_ids: Iterable[int], now_ms: int) -> None:
        """A new controller: every known broker gets a full session from now."""
        self._last_contact_ms = dict.fromkeys(node_ids, now_ms)

    def touch(self, node_id: int, now_ms: int) -> None:
        previous = self._last_contact_ms.get(node_id, now_ms)
        self._last_contact_ms[node_id] = max(previous, now_ms)

    def expire(self, node_id: int, now_ms: int) -> None:
        """End `node_id`'s session now (its process is known to be gone); a later
        heartbeat would start it again."""
        self._last_contact_ms[node_id] = now_ms - self.session_timeout_ms

    def forget(self, node_id: int) -> None:
        self._last_contact_ms.pop(node_id, None)

    def expired(self, live_node_ids: Iterable[int], now_ms: int) -> list[int]:
        """Live brokers whose last contact is a whole session timeout ago, ascending.

        A live broker this controller never heard from (registered before it took
        over, and missed by start_all) gets a session from now.
        """
        expired = []
        for node_id in sorted(live_node_ids):
            last_ms = self._last_contact_ms.setdefault(node_id, now_ms)
            if now_ms - last_ms >= self.session_timeout_ms:
                expired.append(node_id)
        return expired

    def next_expiry_ms(self, live_node_ids: Iterable[int]) -> int | None:
        """When the earliest live session expires (if nobody heartbeats), or None."""
        deadlines = [
            self._last_contact_ms[node_id] + self.session_timeout_ms
            for node_id in live_node_ids
            if node_id in self._last_contact_ms
        ]
        return min(deadlines, default=None)
