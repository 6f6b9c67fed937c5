"""Operational metrics on flowlog_streams: 1-minute, 1-hour and hopping 5-minute rollups per
host and metric, and alerts on closed minutes above a threshold (docs/apps.md).

    python -m apps.metrics_rollup run --bootstrap HOST:PORT
    python -m apps.metrics_rollup generate --bootstrap HOST:PORT --events N --seed S
"""

from apps.metrics_rollup.app import DEFINITION
from apps.metrics_rollup.generator import MetricsGenerator, generate
from apps.metrics_rollup.topology import build_topology

__all__ = ["DEFINITION", "MetricsGenerator", "build_topology", "generate"]
