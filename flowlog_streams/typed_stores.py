"""What processors use: typed, timestamped stores with the record cache and the changelog.

Layers, outer to inner, as Kafka Streams': typed (serdes) -> record cache ->
change-logging -> staged writes -> the bytes store. A put is kept in the
cache (when caching is on) and reaches the changelog, the staged writes and
the store's listener (which forwards `Change(new, old)` downstream) only when
the cache flushes: at commit, or when the cache goes over its budget. With
caching off every put flushes at once, so every update is emitted.
"""

from __future__ import annotations

import heapq
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Final

from flowlog_streams.errors import StreamsException
from flowlog_streams.serdes import Serde
from flowlog_streams.stores.staged import (
    StagedKeyValueStore,
    StagedSessionStore,
    StagedWindowStore,
)

_TIMESTAMP: Final = struct.Struct(">q")
_START: Final = struct.Struct(">q")
# Bytes a cache entry costs beyond its key (objects, dict slot): an estimate for the budget.
CACHE_ENTRY_OVERHEAD_BYTES: Final = 96

# listener(key, new_value, old_value, timestamp): a flushed update, typed.
FlushListener = Callable[[Any, Any, Any, int], None]
# send(key_bytes, value_bytes, timestamp): a record for the store's changelog partition.
ChangelogSend = Callable[[bytes, bytes | None, int], None]


def encode_timestamped(value: bytes | None, timestamp: int) -> bytes | None:
    return None if value is None else _TIMESTAMP.pack(timestamp) + value


def decode_timestamped(data: bytes) -> tuple[bytes, int]:
    return data[8:], _TIMESTAMP.unpack_from(data)[0]


_SESSION: Final = struct.Struct(">qq")


def session_changelog_key(key: bytes, start_ms: int, end_ms: int) -> bytes:
    """Kafka Streams' session key schema: key, then end, then start."""
    return key + _SESSION.pack(end_ms, start_ms)


def split_session_changelog_key(data: bytes) -> tuple[bytes, int, int]:
    end_ms, start_ms = _SESSION.unpack_from(data, len(data) - 16)
    return data[:-16], start_ms, end_ms


def window_changelog_key(key: bytes, window_start_ms: int) -> bytes:
    return key + _START.pack(window_start_ms)


def split_window_changelog_key(data: bytes) -> tuple[bytes, int]:
    return data[:-8], _START.unpack_from(data, len(data) - 8)[0]


class _CachedStore:
    """The record cache and flush path shared by the key-value and window stores."""

    def __init__(self, name: str, topic: str, key_serde: Serde, value_serde: Serde,
                 changelog: ChangelogSend | None, cache_max_bytes: int) -> None:
        self.name = name
        self._topic = topic  # the serdes' topic argument: the changelog's name
        self._serialize_key = key_serde.serialize
        self._deserialize_key = key_serde.deserialize
        self._serialize_value = value_serde.serialize
        self._deserialize_value = value_serde.deserialize
        self._changelog = changelog
        self._cache_max_bytes = cache_max_bytes
        self._cache_bytes = 0
        # cache key -> [typed key, new value, old value, timestamp]
        self._cache: OrderedDict[Any, list[Any]] = OrderedDict()
        # Window and session stores: their cache keys are (key bytes, *position); the
        # positions cached per key, so a lookup reads its key's entries, not the whole cache.
        self._cached_by_key: dict[bytes, set[Any]] = {}
        self.listener: FlushListener | None = None

    def _key_bytes(self, key: Any) -> bytes:
        data = self._serialize_key(self._topic, key)
        if data is None:
            raise StreamsException(f"store {self.name}: a key may not serialize to null ({key!r})")
        return data

    def _cached(self, cache_key: Any) -> list[Any] | None:
        return self._cache.get(cache_key)

    def _put(self, cache_key: Any, key: Any, key_bytes: bytes, value: Any, old: Any,
             timestamp: int) -> None:
        if self._cache_max_bytes <= 0:
            self._flush_entry(cache_key, key, value, old, timestamp)
            return
        entry = self._cache.get(cache_key)
        if entry is None:
            self._cache[cache_key] = [key, value, old, timestamp]
            if cache_key.__class__ is tuple:
                self._cached_by_key.setdefault(cache_key[0], set()).add(cache_key[1:])
            self._cache_bytes += len(key_bytes) + CACHE_ENTRY_OVERHEAD_BYTES
            if self._cache_bytes > self._cache_max_bytes:
                self.flush_cache()  # as Kafka Streams: evicting a dirty entry flushes them all
        else:
            entry[1] = value
            entry[3] = timestamp  # the first old value stays: one Change per key per flush
            self._cache.move_to_end(cache_key)

    def flush_cache(self) -> int:
        """Write every cached update down and tell the listener, in last-write order."""
        cache, self._cache = self._cache, OrderedDict()
        self._cached_by_key = {}
        self._cache_bytes = 0
        for cache_key, (key, value, old, timestamp) in cache.items():
            self._flush_entry(cache_key, key, value, old, timestamp)
        return len(cache)

    def _cached_of(self, key_bytes: bytes) -> Iterator[tuple[Any, list[Any]]]:
        """(position, cache entry) of `key_bytes`'s cached windows or sessions."""
        cache = self._cache
        for position in self._cached_by_key.get(key_bytes, ()):
            entry = cache.get((key_bytes, *position))
            if entry is not None:
                yield position, entry

    def _flush_entry(self, cache_key: Any, key: Any, value: Any, old: Any, timestamp: int) -> None:
        raise NotImplementedError


class TimestampedKeyValueStore(_CachedStore):
    def __init__(self, staged: StagedKeyValueStore, topic: str, key_serde: Serde,
                 value_serde: Serde, changelog: ChangelogSend | None, cache_max_bytes: int) -> None:
        super().__init__(staged.name, topic, key_serde, value_serde, changelog, cache_max_bytes)
        self.staged = staged

    def get_with_timestamp(self, key: Any) -> tuple[Any, int] | None:
        key_bytes = self._key_bytes(key)
        entry = self._cached(key_bytes)
        if entry is not None:
            return None if entry[1] is None else (entry[1], entry[3])
        data = self.staged.get(key_bytes)
        if data is None:
            return None
        value, timestamp = decode_timestamped(data)
        return self._deserialize_value(self._topic, value), timestamp

    def get(self, key: Any) -> Any:
        found = self.get_with_timestamp(key)
        return None if found is None else found[0]

    def put(self, key: Any, value: Any, timestamp: int, old: Any = None) -> None:
        """Write (None deletes); `old` is what the caller read, sent downstream with the update."""
        key_bytes = self._key_bytes(key)
        self._put(key_bytes, key, key_bytes, value, old, timestamp)

    def _flush_entry(self, cache_key: Any, key: Any, value: Any, old: Any, timestamp: int) -> None:
        key_bytes: bytes = cache_key
        raw = encode_timestamped(
            None if value is None else self._serialize_value(self._topic, value), timestamp
        )
        self.staged.put(key_bytes, raw)
        if self._changelog is not None:
            self._changelog(key_bytes, raw, timestamp)
        if self.listener is not None:
            self.listener(key, value, old, timestamp)

    def range(self, from_key: Any = None, to_key: Any = None) -> Iterator[tuple[Any, Any]]:
        """Typed (key, value) in serialized-key order, cached updates included (nothing flushes)."""
        low = None if from_key is None else self._key_bytes(from_key)
        high = None if to_key is None else self._key_bytes(to_key)
        cache = self._cache
        cached = sorted(
            (key_bytes, entry) for key_bytes, entry in cache.items()
            if (low is None or key_bytes >= low) and (high is None or key_bytes <= high)
        )
        stored = (
            (key_bytes, data) for key_bytes, data in self.staged.range(low, high)
            if key_bytes not in cache
        )
        merged: Iterator[tuple[bytes, Any]] = heapq.merge(stored, cached, key=lambda pair: pair[0])
        for key_bytes, item in merged:
            if isinstance(item, list):  # a cache entry: [key, value, old, timestamp]
                if item[1] is not None:
                    yield item[0], item[1]
                continue
            yield (self._deserialize_key(self._topic, key_bytes),
                   self._deserialize_value(self._topic, decode_timestamped(item)[0]))

    def all(self) -> Iterator[tuple[Any, Any]]:
        return self.range()

    def approximate_num_entries(self) -> int:
        return self.staged.approximate_num_entries() + len(self._cache)


class TimestampedWindowStore(_CachedStore):
    def __init__(self, staged: StagedWindowStore, topic: str, key_serde: Serde,
                 value_serde: Serde, changelog: ChangelogSend | None, cache_max_bytes: int) -> None:
        super().__init__(staged.name, topic, key_serde, value_serde, changelog, cache_max_bytes)
        self.staged = staged

    def fetch_with_timestamp(self, key: Any, window_start_ms: int) -> tuple[Any, int] | None:
        key_bytes = self._key_bytes(key)
        entry = self._cached((key_bytes, window_start_ms))
        if entry is not None:
            return None if entry[1] is None else (entry[1], entry[3])
        data = self.staged.fetch(key_bytes, window_start_ms)
        if data is None:
            return None
        value, timestamp = decode_timestamped(data)
        return self._deserialize_value(self._topic, value), timestamp

    def fetch(self, key: Any, window_start_ms: int) -> Any:
        found = self.fetch_with_timestamp(key, window_start_ms)
        return None if found is None else found[0]

    def put(self, key: Any, window_start_ms: int, value: Any, timestamp: int, old: Any = None) -> bool:
        """False when the window is past the store's retention (nothing written)."""
        if self.staged.expired(window_start_ms):
            return False
        key_bytes = self._key_bytes(key)
        self._put((key_bytes, window_start_ms), (key, window_start_ms), key_bytes, value, old,
                  timestamp)
        return True

    def _flush_entry(self, cache_key: Any, key: Any, value: Any, old: Any, timestamp: int) -> None:
        key_bytes, window_start_ms = cache_key
        raw = encode_timestamped(
            None if value is None else self._serialize_value(self._topic, value), timestamp
        )
        if not self.staged.put(key_bytes, window_start_ms, raw):
            return  # expired while cached: nothing to write or emit
        if self._changelog is not None:
            self._changelog(window_changelog_key(key_bytes, window_start_ms), raw, timestamp)
        if self.listener is not None:
            self.listener(key, value, old, timestamp)

    # Serialized access for a store without a cache (a stream-stream join's: its hot path
    # skips the typed layer's serdes and cache merging).

    def fetch_raw(self, key_bytes: bytes, window_start_ms: int) -> bytes | None:
        """The value bytes stored at (key, start), without their timestamp; None if none."""
        assert self._cache_max_bytes <= 0, "raw access needs caching off"
        data = self.staged.fetch(key_bytes, window_start_ms)
        return None if data is None else data[8:]

    def fetch_raw_range(self, key_bytes: bytes, time_from_ms: int,
                        time_to_ms: int) -> list[tuple[int, bytes]]:
        """(window start, value bytes) of the key's live windows in the range, by start."""
        assert self._cache_max_bytes <= 0, "raw access needs caching off"
        return [(start, data[8:])
                for start, data in self.staged.fetch_range(key_bytes, time_from_ms, time_to_ms)]

    def put_raw(self, key_bytes: bytes, window_start_ms: int, value: bytes, timestamp: int) -> bool:
        """Write value bytes through (staged and changelogged at once; no listener is told);
        False when the window is past the store's retention (nothing written)."""
        assert self._cache_max_bytes <= 0, "raw access needs caching off"
        raw = _TIMESTAMP.pack(timestamp) + value
        if not self.staged.put(key_bytes, window_start_ms, raw):
            return False
        if self._changelog is not None:
            self._changelog(window_changelog_key(key_bytes, window_start_ms), raw, timestamp)
        return True

    def fetch_range(self, key: Any, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[int, Any]]:
        """(window start, value) of `key`'s windows in the range, cached updates included."""
        for start, value, _timestamp in self.fetch_range_with_timestamps(key, time_from_ms, time_to_ms):
            yield start, value

    def fetch_range_with_timestamps(self, key: Any, time_from_ms: int,
                                    time_to_ms: int) -> list[tuple[int, Any, int]]:
        """(window start, value, timestamp) of `key`'s live windows in the range, by start."""
        key_bytes = self._key_bytes(key)
        found: dict[int, tuple[Any, int]] = {}
        for start, data in self.staged.fetch_range(key_bytes, time_from_ms, time_to_ms):
            value, timestamp = decode_timestamped(data)
            found[start] = (self._deserialize_value(self._topic, value), timestamp)
        expired = self.staged.expired
        for (start,), entry in self._cached_of(key_bytes):
            if time_from_ms <= start <= time_to_ms and not expired(start):
                found[start] = (entry[1], entry[3])
        return [(start, found[start][0], found[start][1]) for start in sorted(found)
                if found[start][0] is not None]

    def fetch_all(self, time_from_ms: int, time_to_ms: int) -> Iterator[tuple[Any, int, Any]]:
        """(key, window start, value) of every window starting in the range, cache included."""
        found: dict[tuple[bytes, int], Any] = {
            (key_bytes, start): data
            for key_bytes, start, data in self.staged.fetch_all(time_from_ms, time_to_ms)
        }
        typed: dict[tuple[bytes, int], Any] = {}
        expired = self.staged.expired
        for (key_bytes, start), entry in self._cache.items():
            if time_from_ms <= start <= time_to_ms and not expired(start):
                found.pop((key_bytes, start), None)
                typed[(key_bytes, start)] = entry
        for cache_key in sorted(set(found) | set(typed)):
            cached = typed.get(cache_key)
            if cached is not None:
                if cached[1] is not None:
                    yield cached[0][0], cache_key[1], cached[1]
                continue
            yield (self._deserialize_key(self._topic, cache_key[0]), cache_key[1],
                   self._deserialize_value(self._topic, decode_timestamped(found[cache_key])[0]))

    def approximate_num_entries(self) -> int:
        return self.staged.approximate_num_entries() + len(self._cache)


class TimestampedSessionStore(_CachedStore):
    """Sessions of a key: (start, end) -> aggregate; `None` deletes a merged-away session."""

    def __init__(self, staged: StagedSessionStore, topic: str, key_serde: Serde,
                 value_serde: Serde, changelog: ChangelogSend | None, cache_max_bytes: int) -> None:
        super().__init__(staged.name, topic, key_serde, value_serde, changelog, cache_max_bytes)
        self.staged = staged

    def find_sessions(self, key: Any, earliest_end_ms: int,
                      latest_start_ms: int) -> list[tuple[int, int, Any]]:
        """(start, end, aggregate) with end >= earliest_end and start <= latest_start, by end."""
        key_bytes = self._key_bytes(key)
        found: dict[tuple[int, int], Any] = {
            (start, end): self._deserialize_value(self._topic, decode_timestamped(data)[0])
            for start, end, data in self.staged.find_sessions(key_bytes, earliest_end_ms,
                                                              latest_start_ms)
        }
        for (start, end), entry in self._cached_of(key_bytes):
            if end >= earliest_end_ms and start <= latest_start_ms:
                found[(start, end)] = entry[1]
        return sorted(
            ((start, end, value) for (start, end), value in found.items() if value is not None),
            key=lambda session: (session[1], session[0]),
        )

    def put(self, key: Any, start_ms: int, end_ms: int, value: Any, timestamp: int,
            old: Any = None) -> bool:
        if self.staged.expired(end_ms):
            return False
        key_bytes = self._key_bytes(key)
        self._put((key_bytes, start_ms, end_ms), (key, start_ms, end_ms), key_bytes, value, old,
                  timestamp)
        return True

    def _flush_entry(self, cache_key: Any, key: Any, value: Any, old: Any, timestamp: int) -> None:
        key_bytes, start_ms, end_ms = cache_key
        raw = encode_timestamped(
            None if value is None else self._serialize_value(self._topic, value), timestamp
        )
        if not self.staged.put(key_bytes, start_ms, end_ms, raw):
            return
        if self._changelog is not None:
            self._changelog(session_changelog_key(key_bytes, start_ms, end_ms), raw, timestamp)
        if self.listener is not None:
            self.listener(key, value, old, timestamp)

    def fetch(self, key: Any) -> list[tuple[int, int, Any]]:
        return self.find_sessions(key, 0, 2**63 - 1)

    def approximate_num_entries(self) -> int:
        return self.staged.approximate_num_entries() + len(self._cache)
