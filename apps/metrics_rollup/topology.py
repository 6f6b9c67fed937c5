"""The metrics-rollup topology, built with the public DSL only.

    metrics (key host) --group_by_key--> per host, per window: {metric: [count, min, max, sum]}
        1-minute tumbling ---+--> flat_map per metric --> metrics-1m
                             +--> suppress(until window closes) --> flat_map per metric
                                  --> join(thresholds, a GlobalKTable, by metric)
                                  --> filter(avg > max_avg) --> alerts
        1-hour tumbling -------> flat_map per metric --> metrics-1h
        5-minute hopping by 1 --> flat_map per metric --> metrics-5m-sliding

Why per host: the metrics topic is keyed by host, so aggregating by host needs no
repartition: each task reads its partitions in timestamp order and nothing can turn late on
the way (a repartition topic interleaves upstream tasks that may be seconds apart), and the
samples are read once for all three rollups. Each host's window holds every metric's stats
(a handful), written out as one record per (host, metric).

Why a GlobalKTable for thresholds: they are keyed by metric, the stream by host; a global
table (every instance holds all of it, it is small) is joined through a key mapper
(`row["metric"]`) without re-keying the stream. "Current max_avg" is the threshold this
instance has read when the window's final result is emitted, i.e. when the window closes
(stream time >= window end + grace): a threshold changed before then applies to that
window, one changed later does not reopen it. A metric with no threshold never joins, so
it never alerts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.metrics_rollup.contract import (
    ALERTS,
    GRACE_MS,
    HOPPING_ADVANCE_MS,
    HOPPING_SIZE_MS,
    HOUR_MS,
    METRICS,
    METRICS_1H,
    METRICS_1M,
    METRICS_5M_SLIDING,
    MINUTE_MS,
    THRESHOLDS,
    series_key,
)
from apps.shared.records import JSON_SERDE, KEY_SERDE, windowed_key
from flowlog_streams import (
    BufferConfig,
    GlobalKTable,
    KGroupedStream,
    KTable,
    Materialized,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
    Topology,
    Windowed,
)

ONE_MINUTE = TimeWindows.of_size_and_grace(MINUTE_MS, GRACE_MS)
ONE_HOUR = TimeWindows.of_size_and_grace(HOUR_MS, GRACE_MS)
FIVE_MINUTES_HOPPING = TimeWindows.of_size_and_grace(HOPPING_SIZE_MS, GRACE_MS).advance_by(
    HOPPING_ADVANCE_MS
)

# A host's window: metric -> [count, min, max, sum] (lists: JSON has no tuples).
Stats = dict[str, list[float]]


def build_topology() -> Topology:
    builder = StreamsBuilder()
    per_host = builder.stream(METRICS, key_serde=KEY_SERDE, value_serde=JSON_SERDE).group_by_key()
    thresholds = builder.global_table(THRESHOLDS, key_serde=KEY_SERDE, value_serde=JSON_SERDE,
                                      materialized=Materialized.as_("thresholds"))
    one_minute = rollup(per_host, ONE_MINUTE, "rollup-1m")
    write_rollups(one_minute, METRICS_1M)
    write_rollups(rollup(per_host, ONE_HOUR, "rollup-1h"), METRICS_1H)
    write_rollups(rollup(per_host, FIVE_MINUTES_HOPPING, "rollup-5m"), METRICS_5M_SLIDING)
    write_alerts(one_minute, thresholds)
    return builder.build()


def rollup(per_host: KGroupedStream, windows: TimeWindows, store: str) -> KTable:
    return per_host.windowed_by(windows).aggregate(
        dict, add_sample, Materialized.as_(store).with_value_serde(JSON_SERDE)
    )


def add_sample(host: str, sample: dict[str, Any], stats: Stats) -> Stats:
    metric, value = sample["metric"], float(sample["value"])
    old = stats.get(metric)
    if old is None:
        return {**stats, metric: [1, value, value, value]}
    count, low, high, total = old
    return {**stats, metric: [count + 1, min(low, value), max(high, value), total + value]}


def rows(key: Windowed, stats: Stats) -> Iterator[tuple[str, dict[str, Any]]]:
    """One contract record per metric of a host's window."""
    host, window = key.key, key.window
    for metric, (count, low, high, total) in sorted(stats.items()):
        yield windowed_key(series_key(host, metric), window.start), {
            "host": host, "metric": metric, "window_start": window.start,
            "window_end": window.end, "count": count, "min": low, "max": high,
            "sum": total, "avg": total / count,
        }


def write_rollups(table: KTable, topic: str) -> None:
    table.to_stream().flat_map(rows).to(topic, key_serde=KEY_SERDE, value_serde=JSON_SERDE)


def write_alerts(one_minute: KTable, thresholds: GlobalKTable) -> None:
    (one_minute
        .suppress(Suppressed.until_window_closes(BufferConfig.unbounded()),
                  name="alert-buffer")
        .to_stream()
        .flat_map(rows)
        .join(thresholds, lambda key, row: row["metric"], alert)
        .filter(lambda key, candidate: candidate["avg"] > candidate["max_avg"])
        .to(ALERTS, key_serde=KEY_SERDE, value_serde=JSON_SERDE))


def alert(row: dict[str, Any], threshold: dict[str, Any]) -> dict[str, Any]:
    return {"host": row["host"], "metric": row["metric"], "window_start": row["window_start"],
            "avg": row["avg"], "max_avg": float(threshold["max_avg"])}
