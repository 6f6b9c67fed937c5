"""The metrics-rollup app as the shared command line runs it."""

from __future__ import annotations

from apps.metrics_rollup.contract import TOPICS
from apps.metrics_rollup.generator import generate
from apps.metrics_rollup.topology import build_topology
from apps.shared.cli import AppDefinition

# When no sample has arrived for this long, the alert buffer lets wall-clock time close its
# windows (flowlog's opt-in `window_close_wall_clock_ms`): the last minute's alerts come out
# when the metrics stop, instead of waiting for the next sample of that partition.
IDLE_WINDOW_CLOSE_MS = 10_000

DEFINITION = AppDefinition(
    name="metrics-rollup",
    description="Operational metrics: 1-minute, 1-hour and 5-minute rollups; threshold alerts.",
    topics=TOPICS,
    build_topology=build_topology,
    generate=generate,
    default_rate_per_s=40.0,
    streams_options={"window_close_wall_clock_ms": IDLE_WINDOW_CLOSE_MS},
)
