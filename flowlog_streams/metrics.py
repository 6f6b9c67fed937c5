"""Runtime metrics as plain data: counters the loop bumps, rates derived when read.

`StreamsApp.metrics()` returns a dict (JSON-ready): app totals, commit
latency, per-task counters and per-partition lag. An exporter (Prometheus,
logs) reads that dict; the runtime knows nothing about exporters.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from flowlog_streams.task import StreamTask


@attrs.define
class RuntimeMetrics:
    started_at: float = attrs.field(factory=time.monotonic)
    records_processed: int = 0
    commits: int = 0
    commit_failures: int = 0
    commit_latency_ms_total: float = 0.0
    commit_latency_ms_max: float = 0.0
    tasks_created: int = 0
    # Counters of tasks that closed, so app totals never go backwards.
    retired: dict[str, int] = attrs.field(factory=dict)
    # For the recent process rate: (monotonic time, records processed) at the last read.
    _last_sample: tuple[float, int] = (0.0, 0)

    def note_commit(self, latency_ms: float) -> None:
        self.commits += 1
        self.commit_latency_ms_total += latency_ms
        self.commit_latency_ms_max = max(self.commit_latency_ms_max, latency_ms)

    def retire(self, task: StreamTask) -> None:
        for name, value in _task_counters(task).items():
            self.retired[name] = self.retired.get(name, 0) + value

    def snapshot(self, tasks: dict[Any, StreamTask], lag: dict[str, int | None]) -> dict[str, Any]:
        now = time.monotonic()
        elapsed = max(now - self.started_at, 1e-9)
        last_time, last_count = self._last_sample
        recent_rate = (
            (self.records_processed - last_count) / (now - last_time)
            if last_time and now > last_time else self.records_processed / elapsed
        )
        self._last_sample = (now, self.records_processed)
        per_task = {str(task_id): _task_counters(task) for task_id, task in sorted(tasks.items())}
        totals = dict(self.retired)
        for counters in per_task.values():
            for name, value in counters.items():
                totals[name] = totals.get(name, 0) + value
        return {
            "records_processed": self.records_processed,
            "records_produced": totals.get("records_produced", 0),
            "records_skipped_deserialization": totals.get("records_handled_deserialization", 0),
            "records_skipped_processing": totals.get("records_handled_processing", 0),
            "records_dropped": {
                name[len("records_dropped_"):]: value for name, value in sorted(totals.items())
                if name.startswith("records_dropped_")
            },
            "process_rate_per_s": recent_rate,
            "process_rate_per_s_since_start": self.records_processed / elapsed,
            "commits": self.commits,
            "commit_failures": self.commit_failures,
            "commit_latency_ms_avg": self.commit_latency_ms_total / self.commits if self.commits else 0.0,
            "commit_latency_ms_max": self.commit_latency_ms_max,
            "tasks_created": self.tasks_created,
            "tasks": per_task,
            "lag": lag,
        }


def _task_counters(task: StreamTask) -> dict[str, int]:
    metrics = task.metrics
    return {
        "records_processed": metrics.records_processed,
        "records_produced": metrics.records_produced,
        "records_handled_deserialization": metrics.records_handled["deserialization"],
        "records_handled_processing": metrics.records_handled["processing"],
        "punctuations": metrics.punctuations,
        # Records operators dropped (late, null key or value), one counter per reason.
        **{f"records_dropped_{reason}": count for reason, count in metrics.records_dropped.items()},
    }
