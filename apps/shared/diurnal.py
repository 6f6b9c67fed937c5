"""A day's rhythm: traffic and load peak in the afternoon (UTC) and bottom out at night."""

from __future__ import annotations

import math

HOUR_MS = 3_600_000
PEAK_HOUR = 15.0
# The factor swings between 1 - AMPLITUDE and 1 + AMPLITUDE; it averages 1 over a day.
AMPLITUDE = 0.6


def diurnal_factor(timestamp_ms: int | float) -> float:
    hour = (timestamp_ms / HOUR_MS) % 24
    return 1.0 + AMPLITUDE * math.cos(2 * math.pi * (hour - PEAK_HOUR) / 24)
