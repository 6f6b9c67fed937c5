"""The metrics-rollup app's public contract: topic names, windows and record formats
(docs/apps.md). Keep them exactly: other programs read these topics."""

from __future__ import annotations

from apps.shared.topics import TopicSpec

# Inputs. metrics: key host, value {"host", "metric", "value", "ts"} (record time = ts).
# thresholds (compacted): key metric, value {"metric", "max_avg"}.
METRICS = "metrics"
THRESHOLDS = "thresholds"
# Outputs: key "<host>|<metric>@<window_start_ms>", the last record per key is current.
METRICS_1M = "metrics-1m"
METRICS_1H = "metrics-1h"
METRICS_5M_SLIDING = "metrics-5m-sliding"
ALERTS = "alerts"

TOPICS = (
    TopicSpec(METRICS),
    TopicSpec(THRESHOLDS, compacted=True),
    TopicSpec(METRICS_1M),
    TopicSpec(METRICS_1H),
    TopicSpec(METRICS_5M_SLIDING),
    TopicSpec(ALERTS),
)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
HOPPING_SIZE_MS = 5 * MINUTE_MS
HOPPING_ADVANCE_MS = MINUTE_MS
# Samples up to 5 s out of order still count; a minute's alerts come out 5 s after it ends.
GRACE_MS = 5_000


def series_key(host: str, metric: str) -> str:
    return f"{host}|{metric}"
