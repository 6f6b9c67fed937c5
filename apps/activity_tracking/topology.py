"""The activity-tracking topology, built with the public DSL only.

    page-views --group_by(page)---------------> 1-minute counts -> page-views-per-minute
         |                                            |
         |                                            +-> group_by(minute) aggregate
         |                                                (adder/subtractor) -> top-pages-per-minute
         +--left_join(users)--group_by(region)--> 1-minute counts -> region-views-per-minute
         +--group_by_key (user)-----------------> 5-minute-gap sessions -> user-sessions

Windowed keys become the contract's "<key>@<window_start_ms>" strings just before `.to()`.
"""

from __future__ import annotations

from typing import Any

from apps.activity_tracking.contract import (
    GRACE_MS,
    MINUTE_MS,
    PAGE_VIEWS,
    PAGE_VIEWS_PER_MINUTE,
    REGION_VIEWS_PER_MINUTE,
    SESSION_GAP_MS,
    TOP_KEY,
    TOP_N,
    TOP_PAGES_PER_MINUTE,
    UNKNOWN_REGION,
    USER_SESSIONS,
    USERS,
)
from apps.shared.records import JSON_SERDE, KEY_SERDE, windowed_key
from flowlog_streams import (
    KGroupedStream,
    KStream,
    KTable,
    Materialized,
    SessionWindows,
    StreamsBuilder,
    TimeWindows,
    Topology,
    Windowed,
)

PER_MINUTE = TimeWindows.of_size_and_grace(MINUTE_MS, GRACE_MS)
# The same grace as the minute windows: a view a few seconds out of order still counts.
SESSIONS = SessionWindows.of_inactivity_gap_and_grace(SESSION_GAP_MS, GRACE_MS)


def build_topology() -> Topology:
    builder = StreamsBuilder()
    views = builder.stream(PAGE_VIEWS, key_serde=KEY_SERDE, value_serde=JSON_SERDE)
    users = builder.table(USERS, key_serde=KEY_SERDE, value_serde=JSON_SERDE,
                          materialized=Materialized.as_("users"))

    by_page = views.group_by(lambda user, view: view["page"], key_serde=KEY_SERDE,
                             name="views-by-page")
    page_counts = count_per_minute(by_page, "page-counts")
    write_counts(page_counts, "page", PAGE_VIEWS_PER_MINUTE)
    write_top_pages(page_counts)

    regions = views.left_join(users, region_of).group_by(
        lambda user, region: region, key_serde=KEY_SERDE, value_serde=KEY_SERDE,
        name="views-by-region",
    )
    write_counts(count_per_minute(regions, "region-counts"), "region", REGION_VIEWS_PER_MINUTE)

    write_sessions(views)
    return builder.build()


def region_of(view: Any, user: Any) -> str:
    """The stream-table joiner: the viewer's region, "unknown" for users not in the table."""
    region = user.get("region") if isinstance(user, dict) else None
    return region if isinstance(region, str) and region else UNKNOWN_REGION


def count_per_minute(grouped: KGroupedStream, store: str) -> KTable:
    return grouped.windowed_by(PER_MINUTE).count(Materialized.as_(store))


def write_counts(counts: KTable, field: str, topic: str) -> None:
    def as_record(key: Windowed, count: int) -> tuple[str, dict[str, Any]]:
        window = key.window
        return windowed_key(key.key, window.start), {
            field: key.key, "window_start": window.start, "window_end": window.end,
            "count": count,
        }

    counts.to_stream().map(as_record).to(topic, key_serde=KEY_SERDE, value_serde=JSON_SERDE)


# ---------------------------------------------------------------- sessions


def write_sessions(views: KStream) -> None:
    (views.group_by_key()
        .windowed_by(SESSIONS)
        .count(Materialized.as_("sessions"))
        .to_stream()
        .map(session_record)
        .to(USER_SESSIONS, key_serde=KEY_SERDE, value_serde=JSON_SERDE))


def session_record(key: Windowed, views: int | None) -> tuple[str, dict[str, Any] | None]:
    """A session [first view, last view] (both inclusive); None (a tombstone) for a session
    merged into another: its key is deleted downstream."""
    window = key.window
    if views is None:
        return windowed_key(key.key, window.start), None
    return windowed_key(key.key, window.start), {
        "user_id": key.key, "session_start": window.start, "session_end": window.end,
        "views": views,
    }


# ---------------------------------------------------------------- top pages


def write_top_pages(page_counts: KTable) -> None:
    """Regroup the per-page minute counts by minute and keep every page's count there:
    the subtractor takes a page's old count out when its count moves, so the ranking stays
    exact. The aggregate holds all pages of the minute; only the top N are written."""
    (page_counts
        .group_by(lambda key, count: (windowed_key(TOP_KEY, key.window.start),
                                      [key.key, count]),
                  key_serde=KEY_SERDE, value_serde=JSON_SERDE, name="page-counts-by-minute")
        .aggregate(dict, add_page, remove_page,
                   Materialized.as_("page-counts-by-minute").with_value_serde(JSON_SERDE))
        .to_stream()
        .map(top_pages_record)
        .to(TOP_PAGES_PER_MINUTE, key_serde=KEY_SERDE, value_serde=JSON_SERDE))


def add_page(key: str, page_count: list[Any], counts: dict[str, int]) -> dict[str, int]:
    page, count = page_count
    return {**counts, page: count}


def remove_page(key: str, page_count: list[Any], counts: dict[str, int]) -> dict[str, int]:
    page, count = page_count
    if counts.get(page) != count:
        return counts  # already replaced by a newer count
    return {name: value for name, value in counts.items() if name != page}


def top_pages(counts: dict[str, int], top_n: int = TOP_N) -> list[dict[str, Any]]:
    """The most viewed pages: count descending, then page ascending."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_n]
    return [{"page": page, "count": count} for page, count in ranked]


def top_pages_record(key: str, counts: dict[str, int] | None) -> tuple[str, dict[str, Any]]:
    window_start = int(key.rpartition("@")[2])
    return key, {"window_start": window_start, "pages": top_pages(counts or {})}

