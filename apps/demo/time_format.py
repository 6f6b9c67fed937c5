"""Window times as people read them."""

from __future__ import annotations

import datetime


def minute_label(window_start_ms: int) -> str:
    start = datetime.datetime.fromtimestamp(window_start_ms / 1000, tz=datetime.UTC)
    return start.strftime("%H:%M UTC")
