"""Random operation sequences: the RocksDB and in-memory stores answer as plain-dict models do.

One state machine per store kind drives a RocksDB store (closed and reopened at
random), an in-memory store and a dict model with the same operations, and
compares every answer. Times are drawn near the model's stream time so puts land
on both sides of the retention boundary and reads straddle segments.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from flowlog_streams.stores import (
    InMemoryKeyValueStore,
    InMemorySessionStore,
    InMemoryWindowStore,
    RocksKeyValueStore,
    RocksResources,
    RocksSessionStore,
    RocksWindowStore,
)

MIB = 1024 * 1024
RETENTION_MS = 100
SEGMENT_MS = 30
MACHINE_SETTINGS = settings(
    max_examples=30, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Few keys, so operations collide; prefixes of each other and the empty key on purpose.
KEYS = st.sampled_from([b"", b"a", b"ab", b"a\x00", b"b", b"\x00", b"\xff", b"\x7f\x80"]) | st.binary(max_size=2)
VALUES = st.none() | st.binary(max_size=4)
CHECKPOINTS = st.none() | st.dictionaries(st.sampled_from(["changelog:0", "changelog:1"]), st.integers(0, 10**12))
# Offsets from the model's stream time; the retention boundary (-100 is dead, -99 live) often.
TIME_DELTAS = st.sampled_from([-RETENTION_MS - 1, -RETENTION_MS, -RETENTION_MS + 1, -1, 0, 1, 2 * RETENTION_MS]) | st.integers(-150, 40)
# Offsets from a stored time, for reads whose bounds sit on an entry.
BOUND_OFFSETS = st.integers(-1, 1)


def near(observed_ms: int, delta_ms: int) -> int:
    return max(0, observed_ms + delta_ms)


class StoreMachine(RuleBasedStateMachine):
    """Shared set-up: a temporary directory and budget for the RocksDB store."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="flowlog-stores-"))
        self.resources = RocksResources(4 * MIB)
        self.checkpoint: dict[str, int] = {}

    def teardown(self) -> None:
        self.resources.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def update_checkpoint(self, checkpoint: dict[str, int] | None) -> None:
        if checkpoint is not None:
            self.checkpoint = checkpoint


# ---------------------------------------------------------------- key-value


class KeyValueMachine(StoreMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rocks = RocksKeyValueStore("kv", self.directory / "kv", self.resources)
        self.memory = InMemoryKeyValueStore("kv")
        self.model: dict[bytes, bytes] = {}

    def teardown(self) -> None:
        self.rocks.destroy()
        self.memory.close()
        super().teardown()

    @rule(puts=st.lists(st.tuples(KEYS, VALUES), max_size=6), checkpoint=CHECKPOINTS)
    def write(self, puts: list[tuple[bytes, bytes | None]], checkpoint: dict[str, int] | None) -> None:
        self.rocks.write(puts, checkpoint)
        self.memory.write(puts, checkpoint)
        for key, value in puts:
            if value is None:
                self.model.pop(key, None)
            else:
                self.model[key] = value
        self.update_checkpoint(checkpoint)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        assert self.rocks.get(key) == self.memory.get(key) == self.model.get(key)

    @rule(from_key=st.none() | KEYS, to_key=st.none() | KEYS)
    def range_query(self, from_key: bytes | None, to_key: bytes | None) -> None:
        expected = sorted(
            (key, value) for key, value in self.model.items()
            if (from_key is None or key >= from_key) and (to_key is None or key <= to_key)
        )
        assert list(self.rocks.range(from_key, to_key)) == expected
        assert list(self.memory.range(from_key, to_key)) == expected

    @rule()
    def reopen(self) -> None:
        self.rocks.close()
        self.rocks = RocksKeyValueStore("kv", self.directory / "kv", self.resources)

    @invariant()
    def same_content_and_checkpoint(self) -> None:
        assert list(self.rocks.all()) == list(self.memory.all()) == sorted(self.model.items())
        assert self.rocks.checkpoint() == self.memory.checkpoint() == self.checkpoint


# ---------------------------------------------------------------- window


class WindowModel:
    def __init__(self) -> None:
        self.entries: dict[tuple[bytes, int], bytes] = {}
        self.observed_ms = -1

    def put(self, key: bytes, start_ms: int, value: bytes | None) -> bool:
        self.observed_ms = max(self.observed_ms, start_ms)
        if not self.live(start_ms):
            return False
        if value is None:
            self.entries.pop((key, start_ms), None)
        else:
            self.entries[(key, start_ms)] = value
        return True

    def live(self, start_ms: int) -> bool:
        return start_ms > self.observed_ms - RETENTION_MS

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> list[tuple[bytes, int, bytes]]:
        found = [
            (key, start, value) for (key, start), value in self.entries.items()
            if self.live(start) and time_from_ms <= start <= time_to_ms
        ]
        # The stored order: segment, key length, key, start.
        return sorted(found, key=lambda entry: (entry[1] // SEGMENT_MS, len(entry[0]), entry[0], entry[1]))


class WindowMachine(StoreMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rocks = self.open_rocks()
        self.memory = InMemoryWindowStore("w", RETENTION_MS, SEGMENT_MS)
        self.model = WindowModel()

    def open_rocks(self) -> RocksWindowStore:
        return RocksWindowStore("w", self.directory / "w", self.resources, RETENTION_MS, SEGMENT_MS)

    def teardown(self) -> None:
        self.rocks.destroy()
        self.memory.close()
        super().teardown()

    @rule(key=KEYS, delta=TIME_DELTAS, value=VALUES)
    def put(self, key: bytes, delta: int, value: bytes | None) -> None:
        start = near(self.model.observed_ms, delta)
        accepted = self.model.put(key, start, value)
        assert self.rocks.put(key, start, value) == self.memory.put(key, start, value) == accepted

    @rule(puts=st.lists(st.tuples(KEYS, TIME_DELTAS, VALUES), max_size=6), checkpoint=CHECKPOINTS)
    def write(self, puts: list[tuple[bytes, int, bytes | None]], checkpoint: dict[str, int] | None) -> None:
        absolute = []
        for key, delta, value in puts:
            start = near(self.model.observed_ms, delta)
            self.model.put(key, start, value)
            absolute.append((key, start, value))
        self.rocks.write(absolute, checkpoint)
        self.memory.write(absolute, checkpoint)
        self.update_checkpoint(checkpoint)

    @rule(key=KEYS, delta=TIME_DELTAS, value=VALUES)
    def invalid_write_changes_nothing(self, key: bytes, delta: int, value: bytes | None) -> None:
        puts = [(key, near(self.model.observed_ms, delta), value), (key, -1, b"x")]
        for store in (self.rocks, self.memory):
            with pytest.raises(ValueError):
                store.write(puts, {"changelog:9": 1})

    @rule(key=KEYS, delta=TIME_DELTAS)
    def fetch(self, key: bytes, delta: int) -> None:
        start = near(self.model.observed_ms, delta)
        expected = self.model.entries.get((key, start)) if self.model.live(start) else None
        assert self.rocks.fetch(key, start) == self.memory.fetch(key, start) == expected

    @rule(key=KEYS, from_delta=st.integers(-200, 50), to_delta=st.integers(-200, 50))
    def fetch_range(self, key: bytes, from_delta: int, to_delta: int) -> None:
        time_from = self.model.observed_ms + from_delta
        time_to = self.model.observed_ms + to_delta
        expected = sorted(
            (start, value) for key_found, start, value in self.model.fetch_all(time_from, time_to) if key_found == key
        )
        assert list(self.rocks.fetch_range(key, time_from, time_to)) == expected
        assert list(self.memory.fetch_range(key, time_from, time_to)) == expected

    @rule(pick=st.integers(0, 1000), from_offset=BOUND_OFFSETS, to_offset=BOUND_OFFSETS)
    def fetch_range_on_stored_bounds(self, pick: int, from_offset: int, to_offset: int) -> None:
        stored = sorted(self.model.entries)
        if not stored:
            return
        key, start = stored[pick % len(stored)]
        time_from, time_to = start + from_offset, start + to_offset + pick % 3 * SEGMENT_MS
        expected = sorted(
            (found, value) for key_found, found, value in self.model.fetch_all(time_from, time_to) if key_found == key
        )
        assert list(self.rocks.fetch_range(key, time_from, time_to)) == expected
        assert list(self.memory.fetch_range(key, time_from, time_to)) == expected
        assert list(self.rocks.fetch_all(time_from, time_to)) == self.model.fetch_all(time_from, time_to)

    @rule(from_delta=st.integers(-200, 50), to_delta=st.integers(-200, 50))
    def fetch_all(self, from_delta: int, to_delta: int) -> None:
        time_from = self.model.observed_ms + from_delta
        time_to = self.model.observed_ms + to_delta
        expected = self.model.fetch_all(time_from, time_to)
        assert list(self.rocks.fetch_all(time_from, time_to)) == expected
        assert list(self.memory.fetch_all(time_from, time_to)) == expected

    @rule()
    def reopen(self) -> None:
        self.rocks.close()
        self.rocks = self.open_rocks()

    @invariant()
    def same_content_and_stream_time(self) -> None:
        expected = self.model.fetch_all(0, 2**63 - 1)
        assert list(self.rocks.all()) == list(self.memory.all()) == expected
        assert self.rocks.observed_stream_time_ms() == self.memory.observed_stream_time_ms() == self.model.observed_ms
        assert self.rocks.checkpoint() == self.memory.checkpoint() == self.checkpoint


# ---------------------------------------------------------------- session


class SessionModel:
    def __init__(self) -> None:
        self.sessions: dict[tuple[bytes, int, int], bytes] = {}
        self.observed_ms = -1

    def put(self, key: bytes, start_ms: int, end_ms: int, value: bytes | None) -> bool:
        self.observed_ms = max(self.observed_ms, end_ms)
        if not self.live(end_ms):
            return False
        if value is None:
            self.sessions.pop((key, start_ms, end_ms), None)
        else:
            self.sessions[(key, start_ms, end_ms)] = value
        return True

    def live(self, end_ms: int) -> bool:
        return end_ms > self.observed_ms - RETENTION_MS

    def find_sessions(self, key: bytes, earliest_end_ms: int, latest_start_ms: int) -> list[tuple[int, int, bytes]]:
        found = [
            (start, end, value) for (key_found, start, end), value in self.sessions.items()
            if key_found == key and self.live(end) and end >= earliest_end_ms and start <= latest_start_ms
        ]
        return sorted(found, key=lambda session: (session[1], session[0]))

    def all(self) -> list[tuple[bytes, int, int, bytes]]:
        found = [(key, start, end, value) for (key, start, end), value in self.sessions.items() if self.live(end)]
        # The stored order: segment of end, key length, key, end, start.
        return sorted(found, key=lambda entry: (entry[2] // SEGMENT_MS, len(entry[0]), entry[0], entry[2], entry[1]))


SESSION_LENGTHS = st.integers(0, 60)


class SessionMachine(StoreMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rocks = self.open_rocks()
        self.memory = InMemorySessionStore("s", RETENTION_MS, SEGMENT_MS)
        self.model = SessionModel()

    def open_rocks(self) -> RocksSessionStore:
        return RocksSessionStore("s", self.directory / "s", self.resources, RETENTION_MS, SEGMENT_MS)

    def teardown(self) -> None:
        self.rocks.destroy()
        self.memory.close()
        super().teardown()

    def session(self, end_delta: int, length: int) -> tuple[int, int]:
        end = near(self.model.observed_ms, end_delta)
        return max(0, end - length), end

    @rule(key=KEYS, end_delta=TIME_DELTAS, length=SESSION_LENGTHS, value=VALUES)
    def put(self, key: bytes, end_delta: int, length: int, value: bytes | None) -> None:
        start, end = self.session(end_delta, length)
        accepted = self.model.put(key, start, end, value)
        assert self.rocks.put(key, start, end, value) == self.memory.put(key, start, end, value) == accepted

    @rule(key=KEYS, end_delta=TIME_DELTAS, length=SESSION_LENGTHS)
    def delete_existing(self, key: bytes, end_delta: int, length: int) -> None:
        """Deletes need an exact (key, start, end): pick one that exists when there is one."""
        existing = sorted(self.model.sessions)
        if existing:
            key, start, end = existing[(end_delta + length) % len(existing)]
        else:
            start, end = self.session(end_delta, length)
        accepted = self.model.put(key, start, end, None)
        assert self.rocks.put(key, start, end, None) == self.memory.put(key, start, end, None) == accepted

    @rule(
        puts=st.lists(st.tuples(KEYS, TIME_DELTAS, SESSION_LENGTHS, VALUES), max_size=6), checkpoint=CHECKPOINTS
    )
    def write(self, puts: list[tuple[bytes, int, int, bytes | None]], checkpoint: dict[str, int] | None) -> None:
        absolute = []
        for key, end_delta, length, value in puts:
            start, end = self.session(end_delta, length)
            self.model.put(key, start, end, value)
            absolute.append((key, start, end, value))
        self.rocks.write(absolute, checkpoint)
        self.memory.write(absolute, checkpoint)
        self.update_checkpoint(checkpoint)

    @rule(key=KEYS, end_delta=st.integers(-200, 50), start_delta=st.integers(-200, 50))
    def find_sessions(self, key: bytes, end_delta: int, start_delta: int) -> None:
        earliest_end = self.model.observed_ms + end_delta
        latest_start = self.model.observed_ms + start_delta
        expected = self.model.find_sessions(key, earliest_end, latest_start)
        assert list(self.rocks.find_sessions(key, earliest_end, latest_start)) == expected
        assert list(self.memory.find_sessions(key, earliest_end, latest_start)) == expected

    @rule(pick=st.integers(0, 1000), end_offset=BOUND_OFFSETS, start_offset=BOUND_OFFSETS)
    def find_sessions_on_stored_bounds(self, pick: int, end_offset: int, start_offset: int) -> None:
        stored = sorted(self.model.sessions)
        if not stored:
            return
        key, start, end = stored[pick % len(stored)]
        expected = self.model.find_sessions(key, end + end_offset, start + start_offset)
        assert list(self.rocks.find_sessions(key, end + end_offset, start + start_offset)) == expected
        assert list(self.memory.find_sessions(key, end + end_offset, start + start_offset)) == expected

    @rule(key=KEYS)
    def fetch(self, key: bytes) -> None:
        expected = self.model.find_sessions(key, 0, 2**63 - 1)
        assert list(self.rocks.fetch(key)) == list(self.memory.fetch(key)) == expected

    @rule()
    def reopen(self) -> None:
        self.rocks.close()
        self.rocks = self.open_rocks()

    @invariant()
    def same_content_and_stream_time(self) -> None:
        assert list(self.rocks.all()) == list(self.memory.all()) == self.model.all()
        assert self.rocks.observed_stream_time_ms() == self.memory.observed_stream_time_ms() == self.model.observed_ms
        assert self.rocks.checkpoint() == self.memory.checkpoint() == self.checkpoint


TestKeyValueStores = KeyValueMachine.TestCase
TestKeyValueStores.settings = MACHINE_SETTINGS
TestWindowStores = WindowMachine.TestCase
TestWindowStores.settings = MACHINE_SETTINGS
TestSessionStores = SessionMachine.TestCase
TestSessionStores.settings = MACHINE_SETTINGS
