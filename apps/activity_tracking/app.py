"""The activity-tracking app as the shared command line runs it."""

from __future__ import annotations

from apps.activity_tracking.contract import TOPICS
from apps.activity_tracking.generator import generate
from apps.activity_tracking.topology import build_topology
from apps.shared.cli import AppDefinition

DEFINITION = AppDefinition(
    name="activity-tracking",
    description="Website activity tracking: views per page, region and session; top pages.",
    topics=TOPICS,
    build_topology=build_topology,
    generate=generate,
    default_rate_per_s=100.0,
)
