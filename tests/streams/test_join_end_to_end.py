"""Joins on a real broker, app instances in their own processes (tests/streams/e2e_app.py).

- stream-table enrichment with two instances, one killed -9 mid-stream: the
  survivor restores the customers table from its source topic and every
  order comes out joined with its customer's region (at least once);
- a table-table join with two instances, one killed: the last output per
  key is the join of both tables' final values;
- a source table restores only up to the committed offset, so deletes written while
  no instance ran are processed (and retract their joined rows);
- a standby of a source table follows it only up to the committed offset, so
  promoted it restores a tail and still retracts rows deleted after the commit;
- a GlobalKTable is complete before the first stream record is joined.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from .app_process import AppProcess, wait_until
from .test_app_end_to_end import (  # noqa: F401, F811 (fixtures)
    BROKER_CONFIG,
    START_WAIT_S,
    TopicReader,
    create_topics,
    group_offsets,
    open_reader,
    produce,
    start_app,
)
from .test_stateful_end_to_end import restores, standbys_caught_up

PARTITIONS = 6
CUSTOMERS = 40


def region_of(customer: int) -> str:
    return ["eu", "us", "apac"][customer % 3]


def last_values(reader: TopicReader) -> dict[bytes, bytes | None]:
    last: dict[bytes, bytes | None] = {}
    for record in reader.records:
        assert record.key is not None
        last[record.key] = record.value
    return last


def consumed_everything(bootstrap: str, group: str, topics: list[str]) -> bool:
    committed, ends = group_offsets(bootstrap, group, topics)
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


def test_stream_table_enrichment_survives_kill_9(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"en-orders": PARTITIONS, "en-customers": PARTITIONS, "en-out": 1})
    produce(bootstrap, "en-customers", [
        (f"c{c}".encode(), region_of(c).encode()) for c in range(CUSTOMERS)
    ])
    options = ("--topology", "enrich", "--input", "en-orders", "--table", "en-customers",
               "--output", "en-out")
    reader = open_reader(bootstrap, "en-out")
    first = start_app("a", bootstrap, "en", *options)
    second = start_app("b", bootstrap, "en", *options)
    wait_until(lambda: len(first.held_tasks()) == len(second.held_tasks()) == PARTITIONS // 2,
               START_WAIT_S, lambda: "the tasks split 3 / 3", alive=[first, second])
    wait_until(lambda: consumed_everything(bootstrap, "en", ["en-customers"]), START_WAIT_S,
               lambda: "the customers table loaded", alive=[first, second])

    def orders(ids: range) -> list[tuple[bytes, bytes]]:
        return [(f"c{i % CUSTOMERS}".encode(), f"o{i}".encode()) for i in ids]

    produce(bootstrap, "en-orders", orders(range(0, 1_500)))
    first.kill()
    produce(bootstrap, "en-orders", orders(range(1_500, 3_000)))

    def all_joined(records: list[Any]) -> bool:
        return len({r.value.split(b"@")[0] for r in records}) == 3_000

    reader.read_until(all_joined, "every order joined", [second], timeout_s=60)
    for record in reader.records:
        order, region = record.value.decode().split("@")
        customer = int(order[1:]) % CUSTOMERS
        assert record.key == f"c{customer}".encode()
        assert region == region_of(customer), record  # never None: the table was restored
    assert second.held_tasks() == {f"0_{p}" for p in range(PARTITIONS)}
    assert second.terminate() == 0


def test_table_table_join_with_two_instances_and_a_kill(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"tt-left": PARTITIONS, "tt-right": PARTITIONS, "tt-out": 1})
    options = ("--topology", "table-join", "--input", "tt-left", "--table", "tt-right",
               "--output", "tt-out")
    reader = open_reader(bootstrap, "tt-out")
    first = start_app("a", bootstrap, "tt", *options)
    second = start_app("b", bootstrap, "tt", *options)
    wait_until(lambda: len(first.held_tasks()) == len(second.held_tasks()) == PARTITIONS // 2,
               START_WAIT_S, lambda: "the tasks split 3 / 3", alive=[first, second])
    left: dict[str, str | None] = {}
    right: dict[str, str | None] = {}

    def update(round_: int, keys: range) -> None:
        lefts, rights = [], []
        for k in keys:
            key = f"k{k}"
            if (k + round_) % 5 == 0:
                left[key] = None  # a delete: the joined row must disappear
            else:
                left[key] = f"L{round_}.{k}"
            right[key] = f"R{round_}.{k}"
            lefts.append((key.encode(), None if left[key] is None else left[key].encode()))
            rights.append((key.encode(), right[key].encode()))
        produce(bootstrap, "tt-left", lefts)  # type: ignore[arg-type]
        produce(bootstrap, "tt-right", rights)

    update(0, range(200))
    update(1, range(0, 200, 2))
    first.kill()
    update(2, range(0, 200, 3))
    expected = {
        k.encode(): f"{left[k]}+{right[k]}".encode() for k in left
        if left[k] is not None and right.get(k) is not None
    }

    def differences() -> dict[bytes, tuple[bytes | None, bytes | None]]:
        """key -> (expected, last seen), for the keys whose join result is not final."""
        last = {k: v for k, v in last_values(reader).items() if v is not None}
        return {k: (expected.get(k), last.get(k)) for k in expected.keys() | last.keys()
                if expected.get(k) != last.get(k)}

    try:
        reader.read_until(lambda _records: not differences(),
                          "the join of both tables' final values", [second], timeout_s=60)
    except AssertionError as error:
        wrong = sorted(differences().items())
        raise AssertionError(f"{len(wrong)} keys differ, e.g. {wrong[:10]}") from error
    assert second.terminate() == 0


def test_a_source_table_restores_only_up_to_the_committed_offset(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    # Deletes written while no instance runs are after the committed offset: a new
    # instance (empty state dir) must restore the table only up to that offset and
    # process them as input, so the joined rows they remove are retracted. Restored to
    # the topic's end, the deletes would already be in the table and retract nothing.
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"rs-left": PARTITIONS, "rs-right": PARTITIONS, "rs-out": 1})
    options = ("--topology", "table-join", "--input", "rs-left", "--table", "rs-right",
               "--output", "rs-out")
    reader = open_reader(bootstrap, "rs-out")
    keys = [f"k{k}".encode() for k in range(20)]
    produce(bootstrap, "rs-left", [(k, b"L" + k) for k in keys])
    produce(bootstrap, "rs-right", [(k, b"R" + k) for k in keys])
    first = start_app("a", bootstrap, "rs", *options)
    joined = {k: b"L" + k + b"+R" + k for k in keys}
    reader.read_until(lambda _r: last_values(reader) == joined, "every row joined", [first])
    wait_until(lambda: consumed_everything(bootstrap, "rs", ["rs-left", "rs-right"]),
               START_WAIT_S, lambda: "the inputs committed", alive=[first])
    assert first.terminate() == 0

    deleted = keys[:5]
    produce(bootstrap, "rs-left", [(k, None) for k in deleted])
    second = start_app("b", bootstrap, "rs", *options)
    expected = {k: (None if k in deleted else v) for k, v in joined.items()}
    reader.read_until(lambda _r: last_values(reader) == expected,
                      "the deleted rows retracted", [second])
    assert second.terminate() == 0


def test_a_standby_of_a_source_table_stays_at_the_committed_offset(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    # Deletes arrive while the active instance is stalled (nothing committed after
    # them). The other instance's standbys must not apply them to the tables: promoted,
    # they restore only a tail (warm), and processing the deletes retracts the rows.
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"sl-left": PARTITIONS, "sl-right": PARTITIONS, "sl-out": 1})
    options = ("--topology", "table-join", "--input", "sl-left", "--table", "sl-right",
               "--output", "sl-out", "--num-standby-replicas", "1")
    reader = open_reader(bootstrap, "sl-out")
    first = start_app("a", bootstrap, "sl", *options)
    wait_until(first.is_running_state, START_WAIT_S, lambda: "a RUNNING", alive=[first])
    second = start_app("b", bootstrap, "sl", *options)
    wait_until(lambda: len(first.held_tasks()) == len(second.held_tasks()) == PARTITIONS // 2,
               START_WAIT_S, lambda: "the tasks split 3 / 3", alive=[first, second])
    keys = [f"k{k}".encode() for k in range(60)]
    produce(bootstrap, "sl-left", [(k, b"L" + k) for k in keys])
    produce(bootstrap, "sl-right", [(k, b"R" + k) for k in keys])
    joined = {k: b"L" + k + b"+R" + k for k in keys}
    reader.read_until(lambda _r: last_values(reader) == joined, "every row joined",
                      [first, second])
    wait_until(lambda: consumed_everything(bootstrap, "sl", ["sl-left", "sl-right"]),
               START_WAIT_S, lambda: "the inputs committed", alive=[first, second])
    moved = first.held_tasks()
    _committed, ends = group_offsets(bootstrap, "sl", ["sl-left", "sl-right"])
    wait_until(lambda: standbys_caught_up(
        second, moved, {f"{t}-{p}": offset for (t, p), offset in ends.items()}),
        START_WAIT_S, lambda: "b's standbys at the committed offsets", alive=[first, second])

    os.kill(first.process.pid, signal.SIGSTOP)  # stalled: it commits nothing more
    deleted = keys[:12]
    produce(bootstrap, "sl-left", [(k, None) for k in deleted])
    time.sleep(2)  # the standbys would read the deletes now, were they not held back
    first.kill()
    expected = {k: (None if k in deleted else v) for k, v in joined.items()}
    reader.read_until(lambda _r: last_values(reader) == expected,
                      "the deleted rows retracted", [second])
    restored = {task: start for task, _count, start in restores(second) if task in moved}
    assert set(restored) == moved and all(start > 0 for start in restored.values()), restored
    assert second.terminate() == 0


def test_a_global_table_is_complete_before_the_first_join(
    broker_factory: Callable[..., Any], start_app: Callable[..., AppProcess],  # noqa: F811
    open_reader: Callable[[str, str], TopicReader],  # noqa: F811
) -> None:
    broker = broker_factory(BROKER_CONFIG)
    bootstrap = broker.bootstrap
    create_topics(bootstrap, {"gt-events": 3, "gt-regions": 4, "gt-out": 1})
    produce(bootstrap, "gt-regions", [(f"r{i}".encode(), f"name{i}".encode()) for i in range(5_000)])
    # Events name the table's keys, the last-written ones first: a join before the table is
    # complete would drop them (inner join).
    events = [(f"e{i}".encode(), f"r{4_999 - i}".encode()) for i in range(500)]
    produce(bootstrap, "gt-events", events)
    reader = open_reader(bootstrap, "gt-out")
    app = start_app("a", bootstrap, "gt", "--topology", "global-enrich", "--input", "gt-events",
                    "--table", "gt-regions", "--output", "gt-out")
    reader.read_until(lambda records: len(records) >= 500, "500 joined events", [app])
    assert sorted(r.value for r in reader.records) == sorted(
        f"r{4_999 - i}@name{4_999 - i}".encode() for i in range(500)
    )
    assert "global stores restored (5000 records)" in app.output()
    # Updates keep flowing into the global table while the app runs.
    produce(bootstrap, "gt-regions", [(b"r1", b"renamed")])
    produce(bootstrap, "gt-events", [(b"late", b"r1")])
    reader.read_until(lambda records: any(r.value == b"r1@renamed" for r in records),
                      "the updated table value joined", [app])
    assert app.terminate() == 0
