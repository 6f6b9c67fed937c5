"""What each demo runs: the app, its screen, and how fast its generator writes."""

from __future__ import annotations

from apps.activity_tracking.app import DEFINITION as ACTIVITY
from apps.demo.activity_view import ActivityView
from apps.demo.metrics_view import MetricsView
from apps.demo.runner import DemoSpec
from apps.metrics_rollup.app import DEFINITION as METRICS

DEMOS = {
    # Live: event time is the wall clock, the current minute fills up as you watch (the
    # rate follows the time of day: 120 to 480 views/s).
    ACTIVITY.name: DemoSpec(ACTIVITY, ActivityView, rate_per_s=300.0, speedup=1.0),
    # Ten minutes of metrics a minute, so minutes close (and alerts fire) within the demo.
    METRICS.name: DemoSpec(METRICS, MetricsView, rate_per_s=40.0, speedup=10.0),
}
