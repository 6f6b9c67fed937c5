"""suppress(): hold a table's updates back, emitting final results or at most one per interval.

Kafka Streams' rules (`ki/suppress/*`, `si/InMemoryTimeOrderedKeyValueChangeBuffer.java`):
- `Suppressed.until_window_closes(config)`: a windowed result is buffered
  until its window closes, then emitted exactly once: buffer time = window
  end, emitted when end <= stream time - grace (- gap for sessions, whose
  end is their last record). Deletions are dropped: a final result is never a
  tombstone.
- `Suppressed.until_time_limit(wait, config)`: buffer time = the first
  buffered update's timestamp; the key's latest value is emitted once
  stream time - wait reaches it. Deletions are kept.
- Emission happens only when a record arrives (stream time moves), in
  buffer-time order. The buffer is a store (in memory, changelogged), so a
  restarted task gets it back.
- `window_close_wall_clock_ms` (an app setting, off by default; not in Kafka
  Streams): after that long without records, wall-clock time moves the
  buffer's stream time on, so final results of a quiet partition come out.
- `BufferConfig.max_records(n)` bounds it: `.emit_early_when_full()` (its
  default) emits the oldest entries early; `.shutdown_when_full()` never
  does, and a strict buffer that overflows stops the app with an error.
  `unbounded()` has no limit (Kafka Streams' `maxBytes` is not offered yet).
"""

from __future__ import annotations

import heapq
import itertools
import struct
from typing import Any

import attrs

from flowlog_streams.aggregate_processors import Change
from flowlog_streams.errors import SerializationError, StreamsException
from flowlog_streams.processor import Processor, ProcessorContext, PunctuationType, Record
from flowlog_streams.serdes import Serde
from flowlog_streams.windows import (
    Duration,
    SessionWindows,
    SlidingWindows,
    TimeWindows,
    Windowed,
    to_ms,
)

_BUFFER_TIME = struct.Struct(">q")


@attrs.frozen
class BufferConfig:
    records_limit: int | None = None
    # When full: emit the oldest early (False), or stop with an error (True).
    strict: bool = True

    @classmethod
    def unbounded(cls) -> BufferConfig:
        return cls()

    @classmethod
    def max_records(cls, count: int) -> BufferConfig:
        if count < 1:
            raise ValueError("max_records must be >= 1")
        return cls(records_limit=count, strict=False)

    def emit_early_when_full(self) -> BufferConfig:
        return attrs.evolve(self, strict=False)

    def shutdown_when_full(self) -> BufferConfig:
        return attrs.evolve(self, strict=True)


@attrs.frozen
class Suppressed:
    until_close: bool
    time_to_wait_ms: int
    buffer: BufferConfig

    @classmethod
    def until_window_closes(cls, buffer: BufferConfig | None = None) -> Suppressed:
        return cls(True, 0, buffer or BufferConfig.unbounded())

    @classmethod
    def until_time_limit(cls, time_to_wait: Duration, buffer: BufferConfig | None = None) -> Suppressed:
        return cls(False, to_ms(time_to_wait, "time to wait"), buffer or BufferConfig.unbounded())


class BufferedValueSerde:
    """The buffer store's values: 8-byte buffer time, then the table's value bytes."""

    def __init__(self, inner: Serde) -> None:
        self._inner = inner

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        buffer_time, value = obj
        data = self._inner.serialize(topic, value)
        return _BUFFER_TIME.pack(buffer_time) + (data or b"")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < 8:
            raise SerializationError("suppress buffer entry is too short")
        return _BUFFER_TIME.unpack_from(data)[0], self._inner.deserialize(topic, bytes(data[8:]))


class KTableSuppressProcessor(Processor):
    def __init__(self, store_name: str, suppressed: Suppressed,
                 windows: TimeWindows | SlidingWindows | SessionWindows | None) -> None:
        self._store_name = store_name
        self._suppressed = suppressed
        self._delay_ms = suppressed.time_to_wait_ms
        if suppressed.until_close:
            if windows is None:
                raise StreamsException("until_window_closes() needs a windowed table")
            self._delay_ms = windows.grace_ms
            if isinstance(windows, SessionWindows):
                self._delay_ms += windows.gap_ms
        self._observed_ms = -1
        # key -> (buffer time, value, timestamp); a heap of (buffer time, order, key) to emit by.
        self._entries: dict[Any, tuple[int, Any, int]] = {}
        self._heap: list[tuple[int, int, Any]] = []
        self._order = itertools.count()
        self._idle_ms = 0
        self._last_record_wall_ms = 0

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._store = context.get_state_store(self._store_name)
        self._forward = context.forward
        # A restored buffer: index what the store holds.
        for key, (buffer_time, value) in self._store.all():
            found = self._store.get_with_timestamp(key)
            timestamp = found[1] if found is not None else buffer_time
            self._remember(key, buffer_time, value, timestamp)
        idle_ms = getattr(context.app_config, "window_close_wall_clock_ms", None)
        if idle_ms:
            # A departure from Kafka Streams (opt-in): on a quiet partition stream time stands
            # still and windows never close; after idle_ms without records, let wall-clock
            # time move this buffer's stream time on.
            self._idle_ms = idle_ms
            self._last_record_wall_ms = context.current_system_time_ms()
            context.schedule(max(1, min(idle_ms, 1_000)), PunctuationType.WALL_CLOCK_TIME,
                             self._advance_when_idle)

    def _advance_when_idle(self, now_ms: int) -> None:
        idle = now_ms - self._last_record_wall_ms
        if idle < self._idle_ms or self._observed_ms < 0:
            return
        self._observed_ms += idle
        self._last_record_wall_ms = now_ms
        self._emit_due()

    def _remember(self, key: Any, buffer_time: int, value: Any, timestamp: int) -> None:
        self._entries[key] = (buffer_time, value, timestamp)
        heapq.heappush(self._heap, (buffer_time, next(self._order), key))

    def process(self, record: Record) -> None:
        key = record.key
        change = record.value
        value = change.new if isinstance(change, Change) else change
        if record.timestamp > self._observed_ms:
            self._observed_ms = record.timestamp
        if self._idle_ms:
            self._last_record_wall_ms = self.context.current_system_time_ms()
        if self._suppressed.until_close:
            if not isinstance(key, Windowed):
                raise StreamsException("until_window_closes() got a key without a window")
            buffer_time = key.window.end
            if value is None:
                self._drop(key)  # a final result is never a deletion
            else:
                self._buffer(key, buffer_time, value, record.timestamp)
        else:
            existing = self._entries.get(key)
            buffer_time = existing[0] if existing is not None else record.timestamp
            self._buffer(key, buffer_time, value, record.timestamp)
        self._emit_due()
        self._enforce_limits()

    def _buffer(self, key: Any, buffer_time: int, value: Any, timestamp: int) -> None:
        self._store.put(key, (buffer_time, value), timestamp)
        existing = self._entries.get(key)
        if existing is not None and existing[0] == buffer_time:
            self._entries[key] = (buffer_time, value, timestamp)
        else:
            self._remember(key, buffer_time, value, timestamp)

    def _drop(self, key: Any) -> None:
        if self._entries.pop(key, None) is not None:
            self._store.put(key, None, self._observed_ms)

    def _emit_due(self) -> None:
        threshold = self._observed_ms - self._delay_ms
        heap = self._heap
        while heap and heap[0][0] <= threshold:
            self._emit_first()

    def _emit_first(self) -> None:
        buffer_time, _order, key = heapq.heappop(self._heap)
        entry = self._entries.get(key)
        if entry is None or entry[0] != buffer_time:
            return  # stale heap entry: re-buffered or dropped since
        del self._entries[key]
        self._store.put(key, None, entry[2])
        self._forward(Record(key, Change(entry[1], None), entry[2]))

    def _enforce_limits(self) -> None:
        config = self._suppressed.buffer
        if config.records_limit is None or len(self._entries) <= config.records_limit:
            return
        if config.strict:
            raise StreamsException(
                f"suppress buffer {self._store_name} exceeded its max capacity "
                f"({config.records_limit} records)"
            )
        while len(self._entries) > config.records_limit and self._heap:
            self._emit_first()  # emit early: the oldest first
