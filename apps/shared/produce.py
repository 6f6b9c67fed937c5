"""Write a generator's records to the broker: its tables first, then its events, paced so
that event time follows the wall clock (or as fast as possible)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs
import trio

from apps.shared.records import OutRecord
from flowlog.client import Producer

# Apps already running get this long to read a freshly written table before the first
# event arrives, so a stream-table join finds it (their fetches are long polls).
TABLE_SETTLE_S = 1.0
# Pacing sleeps only when the producer is this far ahead of its schedule: one wake-up per
# few records, not one per record.
PACING_SLACK_S = 0.005


@attrs.frozen
class Generated:
    """What a generator made: table records (written and flushed first), then events in
    timestamp order."""

    tables: list[OutRecord]
    events: Iterable[OutRecord]


def wall_time_due(first_event_ms: int, event_ms: int, started_s: float, speedup: float) -> float:
    """When (trio clock) an event is due, with event time running `speedup` times as fast
    as the wall clock."""
    return started_s + (event_ms - first_event_ms) / 1000 / speedup


async def produce_generated(bootstrap: str, generated: Generated, *, speedup: float,
                            on_sent: Callable[[OutRecord], None] | None = None) -> int:
    """Write every record; `speedup` 0 means no pacing. Returns the number of events sent."""
    sent = 0
    async with Producer(bootstrap, client_id="flowlog-apps-generator", linger_ms=5) as producer:
        for record in generated.tables:
            await _send(producer, record)
        await producer.flush()
        if generated.tables and speedup > 0:
            await trio.sleep(TABLE_SETTLE_S)
        started_s = trio.current_time()
        first_ms: int | None = None
        for record in generated.events:
            if speedup > 0:
                first_ms = record.timestamp_ms if first_ms is None else first_ms
                due = wall_time_due(first_ms, record.timestamp_ms, started_s, speedup)
                if due - trio.current_time() > PACING_SLACK_S:
                    await trio.sleep_until(due)
            await _send(producer, record)
            sent += 1
            if on_sent is not None:
                on_sent(record)
        await producer.flush()
    return sent


async def _send(producer: Producer, record: OutRecord) -> None:
    await producer.send(record.topic, record.value_bytes(), key=record.key.encode(),
                        timestamp_ms=record.timestamp_ms)
