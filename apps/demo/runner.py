"""One demo run: a broker (unless given one), the app's topics, the generator writing live,
the app itself, and a live terminal view of its outputs, for a while or until Ctrl-C.

Everything runs in this process on one trio loop except the broker, a child process. The
app listens for SIGINT / SIGTERM itself: the first Ctrl-C makes it commit and leave its
group, the view notices and the demo winds down (generator, reader, then the broker)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
from rich.console import Console
from rich.live import Live

from apps.demo.broker import standalone_broker
from apps.demo.status import Status, View, total_lag
from apps.shared.cli import AppDefinition, GeneratorOptions, streams_settings
from apps.shared.produce import produce_generated
from apps.shared.records import OutRecord, decode_json
from apps.shared.topics import ensure_topics
from flowlog.client import Admin, Consumer, TopicPartition
from flowlog_streams import State, StreamsApp

REFRESH_S = 0.5
# The input rate is measured over this many refreshes (a steadier figure).
RATE_REFRESHES = 4
# Enough events for any demo length: the generator is lazy and is stopped at the end.
EVENTS_MAX = 100_000_000
LIVE_STATES = {State.CREATED, State.REBALANCING, State.RUNNING}


@attrs.frozen
class DemoSpec:
    definition: AppDefinition
    make_view: Callable[[], View]
    rate_per_s: float
    speedup: float  # event time per wall-clock time: > 1 to see windows close sooner


@attrs.define
class Counters:
    sent: int = 0

    def on_sent(self, record: OutRecord) -> None:
        self.sent += 1


async def run_demo(spec: DemoSpec, bootstrap: str | None, duration_s: float,
                   console: Console, seed: int, work_dir: Path) -> None:
    """Run the demo, keeping its data (broker, app state) in `work_dir`."""
    name = spec.definition.name
    async with AsyncExitStack() as stack:
        if bootstrap is None:
            console.print(f"starting a standalone broker (data in {work_dir / 'broker'}) ...")
            bootstrap = await stack.enter_async_context(standalone_broker(work_dir / "broker"))
        console.print(f"broker {bootstrap}: creating the {name} topics ...")
        await ensure_topics(bootstrap, spec.definition.topics)
        view = spec.make_view()
        app = StreamsApp(spec.definition.build_topology(), application_id=f"{name}-demo",
                         bootstrap=bootstrap, state_dir=str(work_dir / "state"),
                         **streams_settings(spec.definition))
        counters = Counters()
        options = GeneratorOptions(seed, EVENTS_MAX, spec.rate_per_s, int(time.time() * 1000))
        async with trio.open_nursery() as nursery:
            await nursery.start(read_outputs, bootstrap, view)
            async with app:
                nursery.start_soon(partial(
                    produce_generated, bootstrap, spec.definition.generate(options),
                    speedup=spec.speedup, on_sent=counters.on_sent,
                ))
                await show_live(view, app, counters, duration_s, console)
            nursery.cancel_scope.cancel()
        console.print(f"{name} stopped cleanly ({app.state.value}): {counters.sent:,} events "
                      f"generated, {app.metrics()['records_processed']:,} records processed.")


async def read_outputs(bootstrap: str, view: View,
                       task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Feed the view every new record of its topics (from their current end)."""
    async with Admin(bootstrap) as admin:
        described = await admin.describe_topics(view.topics)
    partitions = [TopicPartition(topic, p.partition) for topic, description in described.items()
                  for p in description.partitions]
    async with Consumer(bootstrap, auto_offset_reset="latest") as consumer:
        consumer.assign(partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve "latest" now: nothing written later is missed
        task_status.started()
        while True:
            batches = await consumer.getmany(timeout_ms=int(REFRESH_S * 1000))
            for tp, records in batches.items():
                for record in records:
                    key = (record.key or b"").decode()
                    view.update(tp.topic, key, decode_json(record.value))


async def show_live(view: View, app: StreamsApp, counters: Counters, duration_s: float,
                    console: Console) -> None:
    """Refresh the screen until the time is up or the app stops (Ctrl-C)."""
    started = trio.current_time()
    sent_at: deque[tuple[float, int]] = deque([(started, 0)], maxlen=RATE_REFRESHES)
    with Live(console=console, auto_refresh=False) as live:
        while app.state in LIVE_STATES:
            now = trio.current_time()
            left = duration_s - (now - started)
            if left <= 0:
                break
            metrics = app.metrics()
            since, sent_then = sent_at[0]
            status = Status(
                input_per_s=(counters.sent - sent_then) / max(now - since, 1e-3),
                processed_per_s=metrics["process_rate_per_s"],
                lag_records=total_lag(metrics), events_sent=counters.sent,
                records_processed=metrics["records_processed"], seconds_left=left,
                app_state=app.state.value,
            )
            sent_at.append((now, counters.sent))
            live.update(view.render(status), refresh=True)
            await trio.sleep(REFRESH_S)
    if not console.is_terminal:
        console.print()  # off a terminal, the last frame ends without a newline
