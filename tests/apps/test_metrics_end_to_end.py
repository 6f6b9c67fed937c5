"""Metrics rollup end to end: a real broker, two app instances (processes), the generator
writing three minutes of samples at 20 times real speed (the app reads the metrics topic
without a repartition, in timestamp order per task, so no sample can be late), and every
output topic compared with results computed here from the generated samples."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from app_e2e import BROKER_CONFIG, LatestValues, generate, start_instances, stop_instances

from apps.metrics_rollup import generate as generated_records
from apps.shared.cli import GeneratorOptions
from apps.shared.records import OutRecord

MODULE = "apps.metrics_rollup"
TASKS = 3  # one sub-topology x 3 partitions
SERIES = 40  # 8 hosts x 5 metrics
MINUTE = 60_000
HOUR = 60 * MINUTE
RATE = 40.0  # every series once a second
EVENTS = int(3 * 60 * RATE)  # three whole minutes
SPEEDUP = "20"
SEED = 8
# Wall-clock close of the last minute's windows once the samples stop (the app's option).
IDLE_CLOSE_MS = "2000"
CONVERGE_WAIT_S = 60.0


def windows(ts: int, size: int, advance: int) -> list[int]:
    """Starts of the windows [start, start + size) containing ts (starts >= 0)."""
    last = ts - ts % advance
    return [start for start in range(last, ts - size, -advance) if start >= 0]


def rollups(samples: list[dict[str, Any]], size: int, advance: int) -> dict[str, Any]:
    values: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for sample in samples:  # in the order written: sums add up in the same order
        for start in windows(sample["ts"], size, advance):
            values[(sample["host"], sample["metric"], start)].append(sample["value"])
    result = {}
    for (host, metric, start), seen in values.items():
        total = seen[0]
        for value in seen[1:]:
            total += value
        result[f"{host}|{metric}@{start}"] = {
            "host": host, "metric": metric, "window_start": start, "window_end": start + size,
            "count": len(seen), "min": min(seen), "max": max(seen), "sum": total,
            "avg": total / len(seen),
        }
    return result


def expected_outputs(thresholds: list[OutRecord], events: list[OutRecord]) -> dict[str, Any]:
    samples = [record.value for record in events]
    max_avg = {record.key: record.value["max_avg"] for record in thresholds}
    one_minute = rollups(samples, MINUTE, MINUTE)
    alerts = {key: {"host": row["host"], "metric": row["metric"],
                    "window_start": row["window_start"], "avg": row["avg"],
                    "max_avg": max_avg[row["metric"]]}
              for key, row in one_minute.items()
              if row["metric"] in max_avg and row["avg"] > max_avg[row["metric"]]}
    return {
        "metrics-1m": one_minute,
        "metrics-1h": rollups(samples, HOUR, HOUR),
        "metrics-5m-sliding": rollups(samples, 5 * MINUTE, MINUTE),
        "alerts": alerts,
    }


def test_two_instances_roll_up_and_alert_on_generated_metrics(broker_factory: Any,
                                                            tmp_path: Path) -> None:
    broker = broker_factory(BROKER_CONFIG)
    apps = start_instances(MODULE, broker.bootstrap, "metrics-e2e", tmp_path, TASKS,
                           "--window-close-wall-clock-ms", IDLE_CLOSE_MS)
    try:
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - now_ms % MINUTE  # whole minutes: the last one closes when idle
        made = generated_records(GeneratorOptions(SEED, EVENTS, RATE, start_ms))
        expected = expected_outputs(made.tables, list(made.events))
        assert expected["alerts"], "this seed should produce alerts"
        assert len(expected["metrics-1m"]) == 3 * SERIES
        generate(MODULE, broker.bootstrap, "--events", str(EVENTS), "--seed", str(SEED),
                 "--rate", str(RATE), "--start-ms", str(start_ms), "--speedup", SPEEDUP)
        reader = LatestValues(broker.bootstrap, tuple(expected))
        try:
            reader.wait_for(expected, CONVERGE_WAIT_S, apps)
        finally:
            reader.close()
        stop_instances(apps)
    finally:
        for app in apps:
            app.kill()
