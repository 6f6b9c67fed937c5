"""The metrics-rollup demo screen: each host's averages over the latest minute, and alerts."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from apps.demo.status import Status
from apps.demo.time_format import minute_label
from apps.metrics_rollup.contract import ALERTS, METRICS_1H, METRICS_1M, THRESHOLDS

ALERTS_SHOWN = 8


class MetricsView:
    topics: tuple[str, ...] = (METRICS_1M, METRICS_1H, ALERTS, THRESHOLDS)

    def __init__(self) -> None:
        self.minutes: dict[int, dict[tuple[str, str], float]] = {}  # start -> series -> avg
        self.max_avg: dict[str, float] = {}  # metric -> threshold
        self._hour_counts: dict[str, int] = {}  # 1-hour rollup key -> samples
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_SHOWN)
        self.alert_count = 0

    def update(self, topic: str, key: str, value: Any) -> None:
        if value is None:
            return
        if topic == METRICS_1M:
            series = (value["host"], value["metric"])
            self.minutes.setdefault(value["window_start"], {})[series] = value["avg"]
        elif topic == METRICS_1H:
            self._hour_counts[key] = value["count"]
        elif topic == THRESHOLDS:
            self.max_avg[key] = value["max_avg"]
        elif topic == ALERTS:
            self.alerts.appendleft(value)
            self.alert_count += 1

    def render(self, status: Status) -> RenderableType:
        minute = max(self.minutes) if self.minutes else None
        label = "waiting for the first results..." if minute is None else minute_label(minute)
        averages = Table(title=f"Average per host, minute {label} (red: above max_avg)")
        averages.add_column("host")
        current = self.minutes.get(minute, {}) if minute is not None else {}
        metrics = sorted({metric for _host, metric in current})
        for metric in metrics:
            averages.add_column(metric, justify="right")
        for host in sorted({host for host, _metric in current}):
            averages.add_row(host, *(self._cell(current.get((host, m)), m) for m in metrics))
        alerts = Table(title=f"Alerts: {self.alert_count} closed minutes above their threshold")
        for column in ("minute", "host", "metric", "avg", "max_avg"):
            alerts.add_column(column)
        for alert in self.alerts:
            alerts.add_row(minute_label(alert["window_start"]), alert["host"], alert["metric"],
                           f"{alert['avg']:.2f}", f"{alert['max_avg']:.2f}")
        samples = sum(self._hour_counts.values())
        return Group(averages, alerts, f"1-hour rollups so far: {samples:,} samples",
                     status.line())

    def _cell(self, avg: float | None, metric: str) -> str:
        if avg is None:
            return "-"
        limit = self.max_avg.get(metric)
        return f"[bold red]{avg:.1f}[/]" if limit is not None and avg > limit else f"{avg:.1f}"
