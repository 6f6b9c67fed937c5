"""A fetch parked on max_wait_ms answers as soon as data arrives, not at the deadline."""

from __future__ import annotations

import threading
import time

from raw_client import RawConnection, produce

from flowlog.protocol.messages.fetch import FetchRequest
from flowlog.protocol.records import Record, build_batch

MAX_WAIT_MS = 20_000


def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    batch = build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None, value=value)])
    with RawConnection(bootstrap) as connection:
        produce(connection, topic, 0, batch)


def test_parked_fetch_wakes_on_append(broker) -> None:  # type: ignore[no-untyped-def]
    _produce(broker.bootstrap, "poll", b"first")
    fetch = FetchRequest(replica_id=-1, max_wait_ms=MAX_WAIT_MS, min_bytes=1, max_bytes=1 << 20,
                         topics=[FetchRequest.FetchTopic(topic="poll", partitions=[
                             FetchRequest.FetchPartition(partition=0, fetch_offset=1,
                                                         partition_max_bytes=1 << 20)])])
    result: dict[str, object] = {}

    def fetcher() -> None:
        started = time.monotonic()
        with RawConnection(broker.bootstrap, timeout_s=60) as connection:
            result["response"] = connection.call(1, 12, fetch)
        result["elapsed_s"] = time.monotonic() - started

    thread = threading.Thread(target=fetcher)
    thread.start()
    time.sleep(1.0)  # let the fetch park on the empty partition
    assert thread.is_alive(), "fetch answered before any data arrived"
    _produce(broker.bootstrap, "poll", b"second")
    thread.join(MAX_WAIT_MS / 1000)
    assert not thread.is_alive()
    # Woken by the append: far sooner than the 20 s deadline.
    assert result["elapsed_s"] < MAX_WAIT_MS / 1000 / 2  # type: ignore[operator]
    partition = result["response"].responses[0].partitions[0]  # type: ignore[attr-defined]
    assert b"second" in bytes(partition.records)
