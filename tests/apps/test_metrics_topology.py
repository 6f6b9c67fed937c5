"""The metrics-rollup topology on hand-written inputs (TopologyTestDriver, no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.metrics_rollup import build_topology
from apps.shared.records import JSON_SERDE, KEY_SERDE
from flowlog_streams.testing import TopologyTestDriver

MINUTE = 60_000
T0 = 10 * MINUTE  # late enough that every 5-minute hopping window containing it exists


class Metrics:
    def __init__(self, driver: TopologyTestDriver) -> None:
        self.samples = driver.create_input_topic("metrics", KEY_SERDE, JSON_SERDE)
        self.thresholds = driver.create_input_topic("thresholds", KEY_SERDE, JSON_SERDE)
        self.outputs = {
            name: driver.create_output_topic(name, KEY_SERDE, JSON_SERDE)
            for name in ("metrics-1m", "metrics-1h", "metrics-5m-sliding", "alerts")
        }

    def sample(self, host: str, metric: str, value: float, ts: int) -> None:
        self.samples.pipe_input(host, {"host": host, "metric": metric, "value": value, "ts": ts},
                                timestamp=ts)

    def threshold(self, metric: str, max_avg: float) -> None:
        self.thresholds.pipe_input(metric, {"metric": metric, "max_avg": max_avg}, timestamp=0)

    def latest(self, topic: str) -> dict[str, Any]:
        return self.outputs[topic].read_key_values_to_map()

    def records(self, topic: str) -> list[tuple[str, Any]]:
        return self.outputs[topic].read_key_values_to_list()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    with TopologyTestDriver(build_topology(), start_time_ms=0) as driver:
        yield Metrics(driver)


def rollup(host: str, metric: str, start: int, size: int, values: list[float]) -> dict[str, Any]:
    return {"host": host, "metric": metric, "window_start": start, "window_end": start + size,
            "count": len(values), "min": min(values), "max": max(values), "sum": sum(values),
            "avg": sum(values) / len(values)}


def test_rollups_per_minute_hour_and_hopping_five_minutes(metrics: Metrics) -> None:
    metrics.sample("web-01", "cpu", 10.0, T0 + 1_000)
    metrics.sample("web-01", "cpu", 30.0, T0 + 2_000)
    metrics.sample("web-01", "mem", 50.0, T0 + 3_000)
    metrics.sample("db-01", "cpu", 70.0, T0 + 4_000)
    metrics.sample("web-01", "cpu", 20.0, T0 + MINUTE + 1_000)

    assert metrics.latest("metrics-1m") == {
        f"web-01|cpu@{T0}": rollup("web-01", "cpu", T0, MINUTE, [10.0, 30.0]),
        f"web-01|mem@{T0}": rollup("web-01", "mem", T0, MINUTE, [50.0]),
        f"db-01|cpu@{T0}": rollup("db-01", "cpu", T0, MINUTE, [70.0]),
        f"web-01|cpu@{T0 + MINUTE}": rollup("web-01", "cpu", T0 + MINUTE, MINUTE, [20.0]),
    }
    hour = 60 * MINUTE
    assert metrics.latest("metrics-1h") == {
        "web-01|cpu@0": rollup("web-01", "cpu", 0, hour, [10.0, 30.0, 20.0]),
        "web-01|mem@0": rollup("web-01", "mem", 0, hour, [50.0]),
        "db-01|cpu@0": rollup("db-01", "cpu", 0, hour, [70.0]),
    }
    five = 5 * MINUTE
    # A sample at T0 + s (s < 1 min) is in the five windows starting T0 - 4 min ... T0;
    # the one at T0 + 1 min + 1 s in those starting T0 - 3 min ... T0 + 1 min.
    expected = {}
    for start in range(T0 - 4 * MINUTE, T0 + MINUTE, MINUTE):
        expected[f"web-01|cpu@{start}"] = rollup("web-01", "cpu", start, five, [10.0, 30.0, 20.0]
                                                 if start > T0 - 4 * MINUTE else [10.0, 30.0])
        expected[f"web-01|mem@{start}"] = rollup("web-01", "mem", start, five, [50.0])
        expected[f"db-01|cpu@{start}"] = rollup("db-01", "cpu", start, five, [70.0])
    expected[f"web-01|cpu@{T0 + MINUTE}"] = rollup("web-01", "cpu", T0 + MINUTE, five, [20.0])
    assert metrics.latest("metrics-5m-sliding") == expected


def alert(host: str, metric: str, start: int, avg: float, max_avg: float) -> dict[str, Any]:
    return {"host": host, "metric": metric, "window_start": start, "avg": avg,
            "max_avg": max_avg}


def test_an_alert_comes_out_once_when_its_minute_closes(metrics: Metrics) -> None:
    metrics.threshold("cpu", 50.0)
    metrics.threshold("mem", 50.0)
    metrics.sample("web-01", "cpu", 40.0, T0 + 1_000)
    metrics.sample("web-01", "cpu", 80.0, T0 + 2_000)  # avg 60 > 50
    metrics.sample("web-01", "mem", 50.0, T0 + 3_000)  # avg 50: not strictly above
    metrics.sample("web-02", "disk", 999.0, T0 + 4_000)  # no threshold: never alerts
    metrics.sample("web-02", "cpu", 10.0, T0 + MINUTE + 4_999)  # stream time: end + grace - 1
    assert metrics.records("alerts") == []  # the minute is still open (grace)
    metrics.sample("web-02", "cpu", 10.0, T0 + MINUTE + 5_000)  # closes minute T0
    assert metrics.records("alerts") == [
        (f"web-01|cpu@{T0}", alert("web-01", "cpu", T0, 60.0, 50.0)),
    ]
    metrics.sample("web-02", "cpu", 10.0, T0 + 3 * MINUTE)  # closes T0 + 1 min: web-02 is fine
    assert metrics.records("alerts") == []


def test_the_threshold_at_window_close_is_the_one_that_counts(metrics: Metrics) -> None:
    metrics.threshold("cpu", 50.0)
    metrics.sample("web-01", "cpu", 60.0, T0 + 1_000)
    metrics.threshold("cpu", 70.0)  # raised before minute T0 closes: no alert for it
    metrics.sample("web-01", "cpu", 65.0, T0 + MINUTE + 1_000)
    metrics.sample("web-01", "mem", 1.0, T0 + MINUTE + 5_000)  # closes minute T0
    assert metrics.records("alerts") == []
    metrics.threshold("cpu", 60.0)  # lowered before minute T0 + 1 closes: 65 > 60
    metrics.sample("web-01", "mem", 1.0, T0 + 2 * MINUTE + 5_000)  # closes minute T0 + 1
    assert metrics.records("alerts") == [
        (f"web-01|cpu@{T0 + MINUTE}", alert("web-01", "cpu", T0 + MINUTE, 65.0, 60.0)),
    ]
    metrics.threshold("cpu", 10.0)  # a closed minute is final: nothing is re-emitted
    metrics.sample("web-01", "mem", 1.0, T0 + 3 * MINUTE + 5_000)
    assert metrics.records("alerts") == []
