"""Activity tracking end to end: a real broker, two app instances (processes), the generator
writing live (event time follows the wall clock, so no record is late), and every output
topic compared with results computed here from the generated events."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from app_e2e import BROKER_CONFIG, LatestValues, generate, start_instances, stop_instances

from apps.activity_tracking import generate as generated_records
from apps.shared.cli import GeneratorOptions
from apps.shared.records import OutRecord

MODULE = "apps.activity_tracking"
TASKS = 12  # 4 sub-topologies x 3 partitions
EVENTS = 1_800
RATE = 150.0  # events per second: 12 s of traffic
SEED = 13
MINUTE = 60_000
GAP = 5 * MINUTE
DAY = 24 * 60 * MINUTE
CONVERGE_WAIT_S = 60.0
OUTPUTS = ("page-views-per-minute", "region-views-per-minute", "user-sessions",
           "top-pages-per-minute")


def steady_start_ms(now_ms: int) -> int:
    """The latest 09:00 or 21:00 UTC: where the generator's diurnal factor is 1, so the run
    lasts EVENTS / RATE seconds whatever the time of day (pacing uses time differences)."""
    midnight = now_ms - now_ms % DAY
    candidates = [midnight + hour * 60 * MINUTE for hour in (-3, 9, 21)]
    return max(c for c in candidates if c <= now_ms)


def per_minute(counts: Counter[tuple[str, int]], field: str) -> dict[str, Any]:
    return {f"{key}@{start}": {field: key, "window_start": start,
                               "window_end": start + MINUTE, "count": n}
            for (key, start), n in counts.items()}


def sessions(views: list[dict[str, Any]]) -> dict[str, Any]:
    """Split each user's views where more than the gap passes; key user@first view."""
    by_user: dict[str, list[int]] = defaultdict(list)
    for view in views:
        by_user[view["user_id"]].append(view["ts"])
    result = {}
    for user, times in by_user.items():
        runs: list[list[int]] = []
        for ts in sorted(times):
            if runs and ts - runs[-1][-1] <= GAP:
                runs[-1].append(ts)
            else:
                runs.append([ts])
        for run in runs:
            result[f"{user}@{run[0]}"] = {"user_id": user, "session_start": run[0],
                                          "session_end": run[-1], "views": len(run)}
    return result


def top_pages(page_counts: Counter[tuple[str, int]]) -> dict[str, Any]:
    minutes: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for (page, start), n in page_counts.items():
        minutes[start].append((page, n))
    return {f"top@{start}": {"window_start": start, "pages": [
        {"page": page, "count": n} for page, n in sorted(pages, key=lambda p: (-p[1], p[0]))[:5]
    ]} for start, pages in minutes.items()}


def expected_outputs(users: list[OutRecord], events: list[OutRecord]) -> dict[str, Any]:
    regions = {record.key: record.value["region"] for record in users}
    views = [record.value for record in events]
    page_counts = Counter((v["page"], v["ts"] - v["ts"] % MINUTE) for v in views)
    region_counts = Counter((regions.get(v["user_id"], "unknown"), v["ts"] - v["ts"] % MINUTE)
                            for v in views)
    return {
        "page-views-per-minute": per_minute(page_counts, "page"),
        "region-views-per-minute": per_minute(region_counts, "region"),
        "user-sessions": sessions(views),
        "top-pages-per-minute": top_pages(page_counts),
    }


def test_two_instances_compute_every_output_from_generated_traffic(broker_factory: Any,
                                                                 tmp_path: Path) -> None:
    broker = broker_factory(BROKER_CONFIG)
    apps = start_instances(MODULE, broker.bootstrap, "activity-e2e", tmp_path, TASKS)
    try:
        start_ms = steady_start_ms(int(time.time() * 1000))
        made = generated_records(GeneratorOptions(SEED, EVENTS, RATE, start_ms))
        expected = expected_outputs(made.tables, list(made.events))
        assert "unknown" in {v["region"] for v in expected["region-views-per-minute"].values()}
        generate(MODULE, broker.bootstrap, "--events", str(EVENTS), "--seed", str(SEED),
                 "--rate", str(RATE), "--start-ms", str(start_ms))
        reader = LatestValues(broker.bootstrap, OUTPUTS)
        try:
            reader.wait_for(expected, CONVERGE_WAIT_S, apps)
        finally:
            reader.close()
        stop_instances(apps)
    finally:
        for app in apps:
            app.kill()
