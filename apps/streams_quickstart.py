"""The docs/streams.md example, runnable: page views -> pages, on an embedded broker.

    .venv/bin/python -m apps.streams_quickstart            # embedded broker, prints the output
    .venv/bin/python -m apps.streams_quickstart --bootstrap 127.0.0.1:9092   # your broker

It creates the topics, produces a few page views, runs the app until every
expected output has arrived, prints them, and stops the app cleanly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import AsyncExitStack

import attrs
import trio

from flowlog.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from flowlog.client.errors import TopicAlreadyExistsError
from flowlog.embedded import embedded_broker
from flowlog_streams import Serdes, StreamsApp, StreamsBuilder, Topology

TIMEOUT_S = 60.0


@attrs.frozen
class PageView:
    user: str
    page: str
    ts: int


def build_topology() -> Topology:
    builder = StreamsBuilder()
    views = builder.stream("page-views", key_serde=Serdes.str(), value_serde=Serdes.json(PageView))
    (views.filter(lambda key, view: view.page != "/health")
          .map_values(lambda view: view.page)
          .to("pages", value_serde=Serdes.str()))
    return builder.build()


SAMPLE = [
    PageView("u1", "/home", 1_000),
    PageView("u2", "/health", 1_500),
    PageView("u1", "/pricing", 2_000),
    PageView("u3", "/home", 3_000),
]


async def produce_sample(bootstrap: str) -> None:
    async with Admin(bootstrap) as admin:
        for name in ("page-views", "pages"):
            try:
                await admin.create_topics([NewTopic(name, num_partitions=3)])
            except TopicAlreadyExistsError:
                pass
    serde = Serdes.json(PageView)
    async with Producer(bootstrap) as producer:
        for view in SAMPLE:
            await producer.send("page-views", serde.serialize("page-views", view),
                                key=view.user.encode(), timestamp_ms=view.ts)


async def read_outputs(bootstrap: str, expected: int) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    async with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("pages", p) for p in range(3)])
        while len(found) < expected:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [((r.key or b"").decode(), (r.value or b"").decode()) for r in records]
    return found


async def main(bootstrap: str | None) -> int:
    async with AsyncExitStack() as stack:
        if bootstrap is None:
            broker = await stack.enter_async_context(
                embedded_broker(config={"group.initial.rebalance.delay.ms": "0"})
            )
            bootstrap = broker.bootstrap
        state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="quickstart-"))
        await produce_sample(bootstrap)
        topology = build_topology()
        print(topology.describe())
        app = StreamsApp(topology, application_id="quickstart", bootstrap=bootstrap,
                         state_dir=state_dir, commit_interval_ms=100)
        expected = sum(1 for view in SAMPLE if view.page != "/health")
        with trio.fail_after(TIMEOUT_S):
            async with app:
                outputs = await read_outputs(bootstrap, expected)
        for key, page in sorted(outputs):
            print(f"{key} -> {page}")
        print(f"app state: {app.state.value}; processed {app.metrics()['records_processed']} records")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="a running broker (default: an embedded one)")
    sys.exit(trio.run(main, parser.parse_args().bootstrap))
