"""Windows by event time: tumbling / hopping, sliding and session windows, with grace.

Kafka Streams' rules (``ks/kstream/TimeWindows.java`` and friends):
- TimeWindows are [start, start + size), aligned to the epoch, advancing by
  `advance` (= size for tumbling). A record at t belongs to every window with
  start <= t < start + size.
- A window accepts records while the operator's stream time is below
  window end + grace: with close = stream time - grace, a window is updated
  iff end > close. Later records for it are late (dropped, counted, never
  silently).
- SessionWindows merge records closer than the inactivity gap; sessions are
  [start, end] inclusive.
- SlidingWindows of time difference d are [t - d, t] inclusive.
Durations are integer milliseconds or `datetime.timedelta`.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Iterator
from typing import Any

import attrs

from flowlog_streams.errors import SerializationError, TopologyException
from flowlog_streams.serdes import Serde

Duration = int | datetime.timedelta


def to_signed_ms(value: Duration, what: str) -> int:
    """Milliseconds of an int or timedelta, negative allowed (join window bounds may be)."""
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(milliseconds=1)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be milliseconds (int) or a timedelta, not {value!r}")


def to_ms(value: Duration, what: str) -> int:
    ms = to_signed_ms(value, what)
    if ms < 0:
        raise ValueError(f"{what} must not be negative, got {ms} ms")
    return ms


def to_positive_ms(value: Duration, what: str) -> int:
    ms = to_ms(value, what)
    if ms <= 0:
        raise ValueError(f"{what} must be > 0")
    return ms


@attrs.frozen(order=True)
class Window:
    """[start, end): end exclusive for time windows; sessions use their last record's time."""

    start: int
    end: int


@attrs.frozen(order=True)
class Windowed:
    """A windowed aggregation's key: the record key and its window."""

    key: Any
    window: Window

    def __str__(self) -> str:
        return f"[{self.key}@{self.window.start}/{self.window.end}]"


@attrs.frozen
class TimeWindows:
    size_ms: int
    advance_ms: int
    grace_ms: int

    @classmethod
    def of_size_and_grace(cls, size: Duration, grace: Duration) -> TimeWindows:
        size_ms = to_positive_ms(size, "window size")
        return cls(size_ms, size_ms, to_ms(grace, "grace"))

    @classmethod
    def of_size_with_no_grace(cls, size: Duration) -> TimeWindows:
        return cls.of_size_and_grace(size, 0)

    def advance_by(self, advance: Duration) -> TimeWindows:
        advance_ms = to_ms(advance, "advance")
        if not 0 < advance_ms <= self.size_ms:
            raise ValueError(
                f"advance must be > 0 and <= the window size ({self.size_ms} ms), got {advance_ms}"
            )
        return attrs.evolve(self, advance_ms=advance_ms)

    def windows_for(self, timestamp: int) -> Iterator[Window]:
        """Every window containing `timestamp`, earliest start first."""
        first = max(0, timestamp - self.size_ms + self.advance_ms) // self.advance_ms * self.advance_ms
        for start in range(first, timestamp + 1, self.advance_ms):
            yield Window(start, start + self.size_ms)

    @property
    def retention_ms(self) -> int:
        return self.size_ms + self.grace_ms


@attrs.frozen
class SessionWindows:
    gap_ms: int
    grace_ms: int

    @classmethod
    def of_inactivity_gap_and_grace(cls, gap: Duration, grace: Duration) -> SessionWindows:
        return cls(to_positive_ms(gap, "inactivity gap"), to_ms(grace, "grace"))

    @classmethod
    def of_inactivity_gap_with_no_grace(cls, gap: Duration) -> SessionWindows:
        return cls.of_inactivity_gap_and_grace(gap, 0)

    @property
    def retention_ms(self) -> int:
        return self.gap_ms + self.grace_ms


@attrs.frozen
class SlidingWindows:
    time_difference_ms: int
    grace_ms: int

    @classmethod
    def of_time_difference_and_grace(cls, difference: Duration, grace: Duration) -> SlidingWindows:
        return cls(to_positive_ms(difference, "time difference"), to_ms(grace, "grace"))

    @classmethod
    def of_time_difference_with_no_grace(cls, difference: Duration) -> SlidingWindows:
        return cls.of_time_difference_and_grace(difference, 0)

    @property
    def retention_ms(self) -> int:
        return 2 * self.time_difference_ms + self.grace_ms


@attrs.frozen
class JoinWindows:
    """A stream-stream join's window: a record at t meets the other side's records in
    [t - before, t + after] (mirrored for the other side: [t - after, t + before]).

    Either bound may be negative (`before(-d)` moves the window's start after t) as long
    as before + after >= 0 (Kafka Streams' JoinWindows). `size_ms` = before + after;
    the join stores keep records for size + grace.
    """

    before_ms: int
    after_ms: int
    grace_ms: int

    def __attrs_post_init__(self) -> None:
        if self.before_ms + self.after_ms < 0:
            raise ValueError(
                f"window interval (before + after = {self.before_ms} + {self.after_ms} ms) "
                f"must not be negative"
            )
        if self.grace_ms < 0:
            raise ValueError(f"grace must not be negative, got {self.grace_ms} ms")

    @classmethod
    def of_time_difference_and_grace(cls, difference: Duration, grace: Duration) -> JoinWindows:
        difference_ms = to_ms(difference, "time difference")
        return cls(difference_ms, difference_ms, to_ms(grace, "grace"))

    @classmethod
    def of_time_difference_with_no_grace(cls, difference: Duration) -> JoinWindows:
        return cls.of_time_difference_and_grace(difference, 0)

    def before(self, difference: Duration) -> JoinWindows:
        """How far before a left record the right records it joins may be (grace unchanged)."""
        return JoinWindows(to_signed_ms(difference, "before"), self.after_ms, self.grace_ms)

    def after(self, difference: Duration) -> JoinWindows:
        """How far after a left record the right records it joins may be (grace unchanged)."""
        return JoinWindows(self.before_ms, to_signed_ms(difference, "after"), self.grace_ms)

    @property
    def size_ms(self) -> int:
        return self.before_ms + self.after_ms

    @property
    def retention_ms(self) -> int:
        return self.size_ms + self.grace_ms


def check_windows(windows: Any) -> None:
    if not isinstance(windows, TimeWindows | SessionWindows | SlidingWindows):
        raise TopologyException(
            f"windowed_by() takes TimeWindows, SlidingWindows or SessionWindows, not {windows!r}"
        )


_WINDOW = struct.Struct(">qq")


class WindowedSerde:
    """Windowed(key, Window) <-> inner key bytes + 8-byte start + 8-byte end (big-endian).

    Kafka Streams' TimeWindowedSerializer writes key + start only; the end is
    kept here too so session and time windows read back the same way.
    """

    def __init__(self, key_serde: Serde) -> None:
        self._key_serde = key_serde

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        if not isinstance(obj, Windowed):
            raise SerializationError(f"windowed serde got {type(obj).__name__}, not Windowed")
        key = self._key_serde.serialize(topic, obj.key) or b""
        return key + _WINDOW.pack(obj.window.start, obj.window.end)

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < _WINDOW.size:
            raise SerializationError(f"windowed key of {len(data)} bytes is too short")
        start, end = _WINDOW.unpack_from(data, len(data) - _WINDOW.size)
        return Windowed(self._key_serde.deserialize(topic, bytes(data[:-_WINDOW.size])), Window(start, end))
