"""The activity-tracking demo screen: the current minute's top pages and views per region."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from apps.activity_tracking.contract import REGION_VIEWS_PER_MINUTE, TOP_PAGES_PER_MINUTE
from apps.demo.status import Status
from apps.demo.time_format import minute_label


class ActivityView:
    topics: tuple[str, ...] = (TOP_PAGES_PER_MINUTE, REGION_VIEWS_PER_MINUTE)

    def __init__(self) -> None:
        self.top_pages: dict[int, list[dict[str, Any]]] = {}  # window start -> pages
        self.regions: dict[int, dict[str, int]] = {}  # window start -> region -> views

    def update(self, topic: str, key: str, value: Any) -> None:
        if value is None:
            return
        if topic == TOP_PAGES_PER_MINUTE:
            self.top_pages[value["window_start"]] = value["pages"]
        elif topic == REGION_VIEWS_PER_MINUTE:
            self.regions.setdefault(value["window_start"], {})[value["region"]] = value["count"]

    def current_minute(self) -> int | None:
        """The latest minute both tables have (at a minute's turn one output reports the new
        minute before the other: showing it would leave a table empty for a moment)."""
        both = self.top_pages.keys() & self.regions.keys()
        starts = both or (self.top_pages.keys() | self.regions.keys())
        return max(starts) if starts else None

    def render(self, status: Status) -> RenderableType:
        minute = self.current_minute()
        label = "waiting for the first results..." if minute is None else minute_label(minute)
        pages = Table(title=f"Top pages, minute {label}", min_width=40)
        pages.add_column("#", justify="right")
        pages.add_column("page")
        pages.add_column("views", justify="right")
        for rank, entry in enumerate(self.top_pages.get(minute, []) if minute else [], 1):
            pages.add_row(str(rank), entry["page"], f"{entry['count']:,}")
        regions = Table(title=f"Views per region, minute {label}", min_width=36)
        regions.add_column("region")
        regions.add_column("views", justify="right")
        counts = self.regions.get(minute, {}) if minute else {}
        for region, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            regions.add_row(region, f"{count:,}")
        layout = Table.grid(padding=(0, 4))
        layout.add_row(pages, regions)
        return Group(layout, status.line())
