"""The demo's running figures: what the generator sent, what the app processed, its lag."""

from __future__ import annotations

from typing import Any, Protocol

import attrs
from rich.console import RenderableType
from rich.text import Text


@attrs.frozen
class Status:
    input_per_s: float
    processed_per_s: float
    lag_records: int | None  # None until the app knows its partitions' ends
    events_sent: int
    records_processed: int
    seconds_left: float
    app_state: str

    def line(self) -> Text:
        lag = "?" if self.lag_records is None else f"{self.lag_records:,}"
        text = Text()
        text.append(f"input {self.input_per_s:,.0f}/s", style="bold cyan")
        text.append(f"  ({self.events_sent:,} sent)   ")
        text.append(f"processed {self.processed_per_s:,.0f}/s", style="bold green")
        text.append(f"  ({self.records_processed:,} records)   ")
        text.append(f"consumer lag {lag}", style="bold yellow")
        text.append(f"   app {self.app_state}   {self.seconds_left:.0f} s left  (Ctrl-C stops)")
        return text


def total_lag(metrics: dict[str, Any]) -> int | None:
    """Records behind on every partition the app reads (inputs and repartition topics)."""
    lags = list(metrics.get("lag", {}).values())
    if not lags or any(lag is None for lag in lags):
        return None
    return int(sum(lags))


class View(Protocol):
    """What the demo shows for one app: fed the app's output records, rendered on refresh."""

    topics: tuple[str, ...]

    def update(self, topic: str, key: str, value: Any) -> None: ...

    def render(self, status: Status) -> RenderableType: ...
