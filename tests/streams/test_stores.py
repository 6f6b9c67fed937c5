"""Bytes-level state stores: RocksDB and in-memory give the same answers; RocksDB keeps data
and checkpoint together across close, reopen and SIGKILL; windows and sessions expire by
whole segments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from flowlog_streams.stores import (
    InMemoryKeyValueStore,
    InMemorySessionStore,
    InMemoryWindowStore,
    RocksKeyValueStore,
    RocksResources,
    RocksSessionStore,
    RocksWindowStore,
    StoreClosedError,
    default_segment_interval_ms,
)
from flowlog_streams.stores.api import KeyValueBytesStore, SessionBytesStore, WindowBytesStore
from flowlog_streams.stores.key_value_store import KeyValueStore
from flowlog_streams.stores.resources import ResourcesClosedError
from flowlog_streams.stores.session_store import SessionStore
from flowlog_streams.stores.window_store import WindowStore

MIB = 1024 * 1024
RETENTION_MS = 100
SEGMENT_MS = 30
KINDS = ["rocks", "memory"]

KeyValueFactory = Callable[[], KeyValueStore]
WindowFactory = Callable[[], WindowStore]
SessionFactory = Callable[[], SessionStore]


@pytest.fixture
def resources() -> Iterator[RocksResources]:
    shared = RocksResources(8 * MIB)
    yield shared
    shared.close()


@pytest.fixture(params=KINDS)
def kv_store(request: pytest.FixtureRequest, tmp_path: Path, resources: RocksResources) -> Iterator[KeyValueStore]:
    store: KeyValueStore = (
        RocksKeyValueStore("kv", tmp_path / "kv", resources) if request.param == "rocks" else InMemoryKeyValueStore("kv")
    )
    yield store
    store.close()


@pytest.fixture(params=KINDS)
def window_store(request: pytest.FixtureRequest, tmp_path: Path, resources: RocksResources) -> Iterator[WindowStore]:
    store: WindowStore = (
        RocksWindowStore("w", tmp_path / "w", resources, RETENTION_MS, SEGMENT_MS)
        if request.param == "rocks"
        else InMemoryWindowStore("w", RETENTION_MS, SEGMENT_MS)
    )
    yield store
    store.close()


@pytest.fixture(params=KINDS)
def session_store(request: pytest.FixtureRequest, tmp_path: Path, resources: RocksResources) -> Iterator[SessionStore]:
    store: SessionStore = (
        RocksSessionStore("s", tmp_path / "s", resources, RETENTION_MS, SEGMENT_MS)
        if request.param == "rocks"
        else InMemorySessionStore("s", RETENTION_MS, SEGMENT_MS)
    )
    yield store
    store.close()


def raw_data_keys(path: Path) -> list[bytes]:
    """Every key of the data column family, read with plain rocksdict (store closed)."""
    database = Rdict(str(path), Options(raw_mode=True), column_families={"checkpoint": Options(raw_mode=True)})
    try:
        return [key for key in database.keys() if isinstance(key, bytes)]
    finally:
        database.close()


def raw_checkpoint_family(path: Path) -> dict[bytes, bytes]:
    database = Rdict(str(path), Options(raw_mode=True), column_families={"checkpoint": Options(raw_mode=True)})
    family = database.get_column_family("checkpoint")
    try:
        return {key: value for key, value in family.items() if isinstance(key, bytes)}
    finally:
        del family
        database.close()


def test_stores_satisfy_the_api_protocols(tmp_path: Path, resources: RocksResources) -> None:
    # Checked by mypy (structural typing); at run time, that each can be built and closed.
    stores: list[KeyValueBytesStore | WindowBytesStore | SessionBytesStore] = [
        RocksKeyValueStore("kv", tmp_path / "kv", resources),
        InMemoryKeyValueStore("kv"),
        RocksWindowStore("w", tmp_path / "w", resources, RETENTION_MS),
        InMemoryWindowStore("w", RETENTION_MS),
        RocksSessionStore("s", tmp_path / "s", resources, RETENTION_MS),
        InMemorySessionStore("s", RETENTION_MS),
    ]
    for store in stores:
        assert store.checkpoint() == {} and store.approximate_num_entries() == 0
        store.close()


# ---------------------------------------------------------------- key-value


def test_kv_orders_keys_by_unsigned_bytes_with_inclusive_ranges(kv_store: KeyValueStore) -> None:
    keys = [b"", b"\x00", b"\x7f", b"\x80", b"\xff", b"a", b"a\x00", b"ab", b"b"]
    kv_store.write([(key, b"v" + key) for key in reversed(keys)])
    assert [key for key, _ in kv_store.all()] == sorted(keys)
    assert list(kv_store.range(b"a", b"ab")) == [(b"a", b"va"), (b"a\x00", b"va\x00"), (b"ab", b"vab")]
    assert [key for key, _ in kv_store.range(None, b"\x00")] == [b"", b"\x00"]
    assert [key for key, _ in kv_store.range(b"b", None)] == [b"b", b"\x7f", b"\x80", b"\xff"]
    assert [key for key, _ in kv_store.range(b"a\x01", b"aa")] == []
    assert list(kv_store.range(b"b", b"a")) == []
    assert kv_store.get(b"") == b"v" and kv_store.get(b"a\x00") == b"va\x00" and kv_store.get(b"c") is None


def test_kv_deletes_and_last_write_in_a_batch_wins(kv_store: KeyValueStore) -> None:
    kv_store.write([(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"b", None), (b"missing", None)])
    assert list(kv_store.all()) == [(b"a", b"3")]
    kv_store.put(b"a", None)
    assert kv_store.get(b"a") is None and list(kv_store.all()) == []


def test_kv_checkpoint_is_replaced_by_each_write_that_carries_one(kv_store: KeyValueStore) -> None:
    assert kv_store.checkpoint() == {}
    kv_store.write([(b"a", b"1")], {"changelog:0": 5, "changelog:1": 9})
    kv_store.write([(b"a", b"2")])
    assert kv_store.checkpoint() == {"changelog:0": 5, "changelog:1": 9}
    kv_store.write([], {"changelog:0": 6})
    assert kv_store.checkpoint() == {"changelog:0": 6}


def test_kv_a_bad_entry_or_checkpoint_writes_nothing(kv_store: KeyValueStore) -> None:
    with pytest.raises(TypeError):
        kv_store.write([(b"a", b"1"), ("text", b"2")])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        kv_store.write([(b"a", b"1")], {"": 3})
    with pytest.raises(ValueError):
        kv_store.write([(b"a", b"1")], {"t:0": 2**63})
    assert list(kv_store.all()) == [] and kv_store.checkpoint() == {}


def test_kv_approximate_num_entries(kv_store: KeyValueStore) -> None:
    kv_store.write([(b"%04d" % index, b"v") for index in range(1000)])
    assert 500 <= kv_store.approximate_num_entries() <= 2000


def test_kv_used_after_close_raises(kv_store: KeyValueStore) -> None:
    kv_store.close()
    with pytest.raises(StoreClosedError):
        kv_store.get(b"a")
    kv_store.close()  # twice is harmless


def test_rocks_kv_data_and_checkpoint_survive_reopen(tmp_path: Path, resources: RocksResources) -> None:
    store = RocksKeyValueStore("kv", tmp_path / "kv", resources)
    store.write([(b"a", b"1"), (b"b", b"2")], {"changelog:3": 42})
    store.close()
    store = RocksKeyValueStore("kv", tmp_path / "kv", resources)
    assert list(store.all()) == [(b"a", b"1"), (b"b", b"2")]
    assert store.checkpoint() == {"changelog:3": 42}
    store.flush()
    store.close()
    assert raw_data_keys(tmp_path / "kv") == [b"a", b"b"]  # the checkpoint is not in the data
    assert raw_checkpoint_family(tmp_path / "kv") == {b"changelog:3": (42).to_bytes(8, "big")}
    assert set(Rdict.list_cf(str(tmp_path / "kv"), Options(raw_mode=True))) == {"default", "checkpoint"}


def test_rocks_stores_share_one_budget(tmp_path: Path, resources: RocksResources) -> None:
    first = RocksKeyValueStore("one", tmp_path / "one", resources)
    second = RocksWindowStore("two", tmp_path / "two", resources, RETENTION_MS)
    first.write([(b"%06d" % index, b"x" * 100) for index in range(2000)])
    statistics = resources.statistics()
    assert statistics.cache_capacity_bytes == 8 * MIB
    assert statistics.write_buffer_budget_bytes == 2 * MIB
    # Memtable memory is charged to the shared cache.
    assert statistics.cache_usage_bytes >= statistics.write_buffer_usage_bytes > 0
    first.close()
    second.close()
    resources.close()
    with pytest.raises(ResourcesClosedError):
        resources.options()
    with pytest.raises(ValueError):
        RocksResources(1024)


@pytest.mark.parametrize("make", [
    lambda path, shared: RocksKeyValueStore("kv", path, shared),
    lambda path, shared: RocksWindowStore("w", path, shared, RETENTION_MS),
    lambda path, shared: RocksSessionStore("s", path, shared, RETENTION_MS),
], ids=["kv", "window", "session"])
def test_rocks_destroy_removes_the_directory(
    tmp_path: Path, resources: RocksResources, make: Callable[[Path, RocksResources], KeyValueStore | WindowStore | SessionStore]
) -> None:
    path = tmp_path / "store"
    store = make(path, resources)
    store.flush()
    assert path.is_dir()
    store.destroy()
    assert not path.exists()
    with pytest.raises(StoreClosedError):
        store.checkpoint()


CRASH_WRITER = textwrap.dedent("""
    import sys
    from flowlog_streams.stores import RocksKeyValueStore, RocksResources

    store = RocksKeyValueStore("crash", sys.argv[1], RocksResources(8 * 1024 * 1024))
    first = store.checkpoint().get("changelog:0", 0)
    filler = b"x" * 300
    for batch in range(first, first + 10_000_000):
        value = str(batch).encode()
        puts = [(b"n", value)] + [(b"k%03d" % index, value + filler) for index in range(50)]
        store.write(puts, {"changelog:0": batch + 1})
        if batch == first + 50:
            print("writing", flush=True)
""")


def test_rocks_kv_checkpoint_matches_data_after_sigkill(tmp_path: Path, resources: RocksResources) -> None:
    path = tmp_path / "crash"
    previous_checkpoint = 0
    shuffle = random.Random(11)
    for _ in range(3):  # bounded: three crashes, each resuming from the last
        child = subprocess.Popen([sys.executable, "-c", CRASH_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "writing"
            time.sleep(shuffle.uniform(0.02, 0.2))
            assert child.poll() is None, "the writer must still be writing when killed"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
            assert child.stdout is not None
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        store = RocksKeyValueStore("crash", path, resources)
        checkpoint = store.checkpoint()["changelog:0"]
        last_batch = store.get(b"n")
        assert last_batch is not None
        assert int(last_batch) + 1 == checkpoint
        assert checkpoint > previous_checkpoint + 50
        values = [value for _, value in store.range(b"k000", b"k999")]
        assert values == [last_batch + b"x" * 300] * 50
        previous_checkpoint = checkpoint
        store.close()


# ---------------------------------------------------------------- window


def test_window_fetch_range_is_inclusive_and_ordered_by_start(window_store: WindowStore) -> None:
    window_store.write([(b"k", start, b"%d" % start) for start in (40, 0, 20, 10, 30)])
    assert list(window_store.fetch_range(b"k", 10, 30)) == [(10, b"10"), (20, b"20"), (30, b"30")]
    assert list(window_store.fetch_range(b"k", 11, 19)) == []
    assert list(window_store.fetch_range(b"k", -50, 1_000)) == [(s, b"%d" % s) for s in (0, 10, 20, 30, 40)]
    assert list(window_store.fetch_range(b"k", 30, 10)) == []
    assert window_store.fetch(b"k", 20) == b"20" and window_store.fetch(b"k", 21) is None
    assert window_store.observed_stream_time_ms() == 40


def test_window_keeps_prefix_keys_and_the_empty_key_apart(window_store: WindowStore) -> None:
    keys = [b"", b"a", b"a\x00", b"ab", b"a\x00\x00\x00\x00\x00\x00\x00\x00"]
    for key in keys:
        assert window_store.put(key, 5, b"v" + key)
        assert window_store.put(key, 35, b"w" + key)
    for key in keys:
        assert list(window_store.fetch_range(key, 0, 100)) == [(5, b"v" + key), (35, b"w" + key)]
        assert window_store.fetch(key, 5) == b"v" + key
    # Stored order: segment, then key by length, then bytes, then start.
    assert [(key, start) for key, start, _ in window_store.fetch_all(0, 100)] == [
        (b"", 5), (b"a", 5), (b"a\x00", 5), (b"ab", 5), (keys[4], 5),
        (b"", 35), (b"a", 35), (b"a\x00", 35), (b"ab", 35), (keys[4], 35),
    ]
    assert [(key, start) for key, start, _ in window_store.fetch_all(6, 35)][0] == (b"", 35)


def test_window_expires_by_stream_time_minus_retention(window_store: WindowStore) -> None:
    assert window_store.observed_stream_time_ms() == -1
    assert window_store.put(b"k", 100, b"a")
    assert window_store.put(b"k", 150, b"b")
    assert window_store.put(b"k", 200, b"c")  # live from 200 - 100 + 1 = 101
    assert window_store.fetch(b"k", 100) is None
    assert not window_store.put(b"k", 100, b"late")  # start <= observed - retention: refused
    assert not window_store.put(b"k", 100, None)
    assert window_store.put(b"k", 101, b"just in time")
    assert list(window_store.fetch_range(b"k", 0, 1000)) == [(101, b"just in time"), (150, b"b"), (200, b"c")]
    assert [start for _, start, _ in window_store.all()] == [101, 150, 200]
    assert window_store.expired_puts_dropped == 2
    with pytest.raises(ValueError):
        window_store.write([(b"k", 300, b"x"), (b"k", -1, b"y")], {"changelog:0": 1})
    assert window_store.observed_stream_time_ms() == 200 and window_store.checkpoint() == {}
    assert window_store.fetch(b"k", 300) is None


def test_window_batch_drops_puts_whose_segment_dies_within_it(window_store: WindowStore) -> None:
    window_store.write([(b"early", 10, b"x"), (b"late", 500, b"y"), (b"early", 20, b"z")], {"changelog:0": 3})
    assert list(window_store.all()) == [(b"late", 500, b"y")]
    assert window_store.expired_puts_dropped == 1
    assert window_store.checkpoint() == {"changelog:0": 3}


def test_rocks_window_deletes_dead_segments(tmp_path: Path, resources: RocksResources) -> None:
    path = tmp_path / "w"
    store = RocksWindowStore("w", path, resources, RETENTION_MS, SEGMENT_MS)
    store.write([(b"k%d" % key, start, b"v") for start in range(0, 100, 5) for key in range(3)])
    store.close()
    assert {int.from_bytes(key[:8], "big") for key in raw_data_keys(path)} == {0, 1, 2, 3}
    store = RocksWindowStore("w", path, resources, RETENTION_MS, SEGMENT_MS)
    assert store.put(b"k0", 400, b"v")  # live from 301: segment 10 and up
    store.close()
    assert {int.from_bytes(key[:8], "big") for key in raw_data_keys(path)} == {400 // SEGMENT_MS}


def test_rocks_window_reopened_keeps_stream_time_and_expiry(tmp_path: Path, resources: RocksResources) -> None:
    path = tmp_path / "w"
    store = RocksWindowStore("w", path, resources, RETENTION_MS, SEGMENT_MS)
    store.write([(b"k", 50, b"a"), (b"k", 180, b"b")], {"changelog:0": 2})
    store.close()
    store = RocksWindowStore("w", path, resources, RETENTION_MS, SEGMENT_MS)
    assert store.observed_stream_time_ms() == 180
    assert store.checkpoint() == {"changelog:0": 2}
    assert not store.put(b"k", 80, b"late")
    assert list(store.fetch_range(b"k", 0, 1000)) == [(180, b"b")]
    assert store.put(b"k", 250, b"c")
    store.close()
    assert raw_checkpoint_family(path)[b"\x00observed_stream_time_ms"] == (250).to_bytes(8, "big")


def test_window_default_segment_interval_follows_kafka_streams() -> None:
    assert default_segment_interval_ms(600_000) == 300_000
    assert default_segment_interval_ms(60_000) == 60_000
    assert InMemoryWindowStore("w", 3_600_000).segment_interval_ms == 1_800_000
    with pytest.raises(ValueError):
        InMemoryWindowStore("w", 0)


# ---------------------------------------------------------------- session


def test_session_find_sessions_boundaries(session_store: SessionStore) -> None:
    session_store.write([
        (b"k", 0, 10, b"a"), (b"k", 5, 50, b"b"), (b"k", 60, 60, b"c"), (b"k", 20, 30, b"d"),
        (b"k", 25, 30, b"e"), (b"other", 0, 40, b"x"),
    ])
    # end >= earliest_end and start <= latest_start, both inclusive, by (end, start).
    assert list(session_store.find_sessions(b"k", 30, 25)) == [(20, 30, b"d"), (25, 30, b"e"), (5, 50, b"b")]
    assert list(session_store.find_sessions(b"k", 31, 25)) == [(5, 50, b"b")]
    assert list(session_store.find_sessions(b"k", 30, 24)) == [(20, 30, b"d"), (5, 50, b"b")]
    assert list(session_store.find_sessions(b"k", 10, 0)) == [(0, 10, b"a")]
    assert list(session_store.find_sessions(b"k", 61, 100)) == []
    assert list(session_store.find_sessions(b"k", 0, -1)) == []
    assert [(start, end) for start, end, _ in session_store.fetch(b"k")] == [
        (0, 10), (20, 30), (25, 30), (5, 50), (60, 60)
    ]
    assert session_store.fetch_session(b"k", 25, 30) == b"e"
    assert session_store.fetch_session(b"k", 26, 30) is None


def test_session_keeps_prefix_keys_apart(session_store: SessionStore) -> None:
    for key in (b"", b"a", b"ab", b"a\x00"):
        session_store.put(key, 1, 2, key or b"empty")
    for key in (b"", b"a", b"ab", b"a\x00"):
        assert list(session_store.find_sessions(key, 0, 100)) == [(1, 2, key or b"empty")]
    assert [key for key, _, _, _ in session_store.all()] == [b"", b"a", b"a\x00", b"ab"]


def test_session_expires_by_end(session_store: SessionStore) -> None:
    assert session_store.put(b"k", 0, 300, b"long")
    assert not session_store.put(b"k", 150, 200, b"ended too early")  # end <= 300 - 100
    assert session_store.put(b"k", 0, 201, b"started long ago, ended recently")
    session_store.put(b"k", 0, 300, None)
    assert list(session_store.fetch(b"k")) == [(0, 201, b"started long ago, ended recently")]
    assert session_store.put(b"k", 400, 400, b"later")
    assert list(session_store.fetch(b"k")) == [(400, 400, b"later")]
    assert session_store.observed_stream_time_ms() == 400
    with pytest.raises(ValueError):
        session_store.put(b"k", 500, 499, b"backwards")
    with pytest.raises(ValueError):
        session_store.put(b"k", -1, 10, b"negative")


def test_rocks_session_deletes_dead_segments_and_reopens(tmp_path: Path, resources: RocksResources) -> None:
    path = tmp_path / "s"
    store = RocksSessionStore("s", path, resources, RETENTION_MS, SEGMENT_MS)
    store.write([(b"k", end - 5, end, b"v") for end in range(5, 200, 10)])
    assert store.put(b"k", 390, 400, b"v")
    store.close()
    assert {int.from_bytes(key[:8], "big") for key in raw_data_keys(path)} == {400 // SEGMENT_MS}
    store = RocksSessionStore("s", path, resources, RETENTION_MS, SEGMENT_MS)
    assert store.observed_stream_time_ms() == 400
    assert not store.put(b"k", 250, 300, b"late")
    assert list(store.fetch(b"k")) == [(390, 400, b"v")]
    store.close()
