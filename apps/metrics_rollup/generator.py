"""Realistic host metrics: every host reports every metric in turn, following the day's
load, with noise and incidents (a host's CPU, latency and errors climb for a while).

Samples are written round-robin over the (host, metric) series, `rate` per second of event
time, so each series reports every len(HOSTS) * len(METRIC_NAMES) / rate seconds. Incidents
start per host as a Poisson process (one every INCIDENT_EVERY_MS on average) and last
INCIDENT_MEAN_MS on average. Pure and seeded: the same options give the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from apps.metrics_rollup.contract import METRICS, THRESHOLDS
from apps.shared.cli import GeneratorOptions
from apps.shared.diurnal import diurnal_factor
from apps.shared.produce import Generated
from apps.shared.records import OutRecord

HOSTS = ("web-01", "web-02", "web-03", "web-04", "db-01", "db-02", "cache-01", "cache-02")
METRIC_NAMES = ("cpu_pct", "mem_pct", "disk_mb_s", "latency_ms", "error_pct")
# disk_mb_s has no threshold: it never alerts.
MAX_AVG = {"cpu_pct": 85.0, "mem_pct": 90.0, "latency_ms": 300.0, "error_pct": 2.0}
# Per role: (cpu %, memory %, disk MB/s, latency ms) at average load.
BASELINE = {"web": (45.0, 55.0, 5.0, 120.0), "db": (55.0, 75.0, 60.0, 40.0),
            "cache": (25.0, 70.0, 2.0, 5.0)}
INCIDENT_EVERY_MS = 10 * 60_000
INCIDENT_MEAN_MS = 90_000


class MetricsGenerator:
    def __init__(self, options: GeneratorOptions) -> None:
        self.options = options
        self._random = random.Random(options.seed)
        start = options.start_ms
        self._next_incident_ms = {host: start + self._wait(INCIDENT_EVERY_MS) for host in HOSTS}
        self._incident_until_ms = dict.fromkeys(HOSTS, -1)

    def table_records(self) -> list[OutRecord]:
        """The thresholds table, timed just before the first sample."""
        at_ms = max(0, self.options.start_ms - 1)
        return [OutRecord(THRESHOLDS, metric, {"metric": metric, "max_avg": max_avg}, at_ms)
                for metric, max_avg in MAX_AVG.items()]

    def samples(self) -> Iterator[OutRecord]:
        series = [(host, metric) for host in HOSTS for metric in METRIC_NAMES]
        step_ms = 1000.0 / self.options.rate_per_s
        for index in range(self.options.events):
            host, metric = series[index % len(series)]
            ts = self.options.start_ms + int(index * step_ms)
            value = round(self._value(host, metric, ts), 2)
            yield OutRecord(METRICS, host,
                            {"host": host, "metric": metric, "value": value, "ts": ts}, ts)

    def _in_incident(self, host: str, ts: int) -> bool:
        if ts >= self._next_incident_ms[host]:
            self._incident_until_ms[host] = ts + self._wait(INCIDENT_MEAN_MS)
            self._next_incident_ms[host] = self._incident_until_ms[host] + self._wait(
                INCIDENT_EVERY_MS
            )
        return ts < self._incident_until_ms[host]

    def _value(self, host: str, metric: str, ts: int) -> float:
        load = diurnal_factor(ts)
        incident = 1.0 if self._in_incident(host, ts) else 0.0
        cpu, memory, disk, latency = BASELINE[host.split("-")[0]]
        noise = self._random.gauss
        if metric == "cpu_pct":
            return clamp(cpu * load + noise(0, 5) + 40 * incident, 0, 100)
        if metric == "mem_pct":
            return clamp(memory + 10 * (load - 1) + noise(0, 2) + 15 * incident, 0, 100)
        if metric == "disk_mb_s":
            return max(0.0, disk * load + noise(0, disk / 10))
        if metric == "latency_ms":
            return max(1.0, latency * (0.7 + 0.3 * load) + noise(0, latency / 10)
                       + 400 * incident)
        return clamp(0.3 * load + noise(0, 0.2) + 3 * incident, 0, 100)  # error_pct

    def _wait(self, mean_ms: float) -> int:
        return int(self._random.expovariate(1.0 / mean_ms))


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def generate(options: GeneratorOptions) -> Generated:
    generator = MetricsGenerator(options)
    return Generated(generator.table_records(), generator.samples())
