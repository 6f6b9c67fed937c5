"""The activity-tracking topology on hand-written inputs (TopologyTestDriver, no broker).

The driver flushes after every record, so every update reaches the output topics; the
last value per key is the result the contract promises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.activity_tracking import build_topology
from apps.shared.records import JSON_SERDE, KEY_SERDE
from flowlog_streams.testing import TopologyTestDriver

MINUTE = 60_000


class Activity:
    """The driver with the app's input and output topics."""

    def __init__(self, driver: TopologyTestDriver) -> None:
        self.views = driver.create_input_topic("page-views", KEY_SERDE, JSON_SERDE)
        self.users = driver.create_input_topic("users", KEY_SERDE, JSON_SERDE)
        self.outputs = {
            name: driver.create_output_topic(name, KEY_SERDE, JSON_SERDE)
            for name in ("page-views-per-minute", "region-views-per-minute", "user-sessions",
                         "top-pages-per-minute")
        }

    def user(self, user: str, region: str, ts: int = 0) -> None:
        self.users.pipe_input(user, {"user_id": user, "region": region}, timestamp=ts)

    def view(self, user: str, page: str, ts: int) -> None:
        self.views.pipe_input(user, {"user_id": user, "page": page, "ts": ts}, timestamp=ts)

    def latest(self, topic: str) -> dict[str, Any]:
        return self.outputs[topic].read_key_values_to_map()

    def records(self, topic: str) -> list[tuple[str, Any]]:
        return self.outputs[topic].read_key_values_to_list()


@pytest.fixture
def activity() -> Iterator[Activity]:
    with TopologyTestDriver(build_topology(), start_time_ms=0) as driver:
        yield Activity(driver)


def count(field: str, key: str, start: int, n: int) -> dict[str, Any]:
    return {field: key, "window_start": start, "window_end": start + MINUTE, "count": n}


def test_views_per_page_and_region_per_minute(activity: Activity) -> None:
    activity.user("u1", "eu-west")
    activity.user("u2", "us-east")  # u3 is not in the table: region "unknown"
    activity.view("u1", "/a", 1_000)
    activity.view("u2", "/a", 2_000)
    activity.view("u1", "/b", 59_999)
    activity.view("u3", "/b", 61_000)  # next minute; the first still takes records (grace)
    activity.view("u1", "/c", 70_000)  # stream time 70 s: minute 0 closed at 65 s
    activity.view("u2", "/a", 3_000)  # late: dropped from both counts

    assert activity.latest("page-views-per-minute") == {
        "/a@0": count("page", "/a", 0, 2),
        "/b@0": count("page", "/b", 0, 1),
        "/b@60000": count("page", "/b", MINUTE, 1),
        "/c@60000": count("page", "/c", MINUTE, 1),
    }
    assert activity.latest("region-views-per-minute") == {
        "eu-west@0": count("region", "eu-west", 0, 2),
        "us-east@0": count("region", "us-east", 0, 1),
        "unknown@60000": count("region", "unknown", MINUTE, 1),
        "eu-west@60000": count("region", "eu-west", MINUTE, 1),
    }


def test_a_user_who_moves_counts_in_the_new_region_from_then_on(activity: Activity) -> None:
    activity.user("u1", "eu-west")
    activity.view("u1", "/a", 1_000)
    activity.user("u1", "us-west", ts=2_000)
    activity.view("u1", "/a", 3_000)
    activity.users.pipe_input("u1", None, timestamp=4_000)  # deleted: unknown again
    activity.view("u1", "/a", 5_000)
    assert activity.latest("region-views-per-minute") == {
        "eu-west@0": count("region", "eu-west", 0, 1),
        "us-west@0": count("region", "us-west", 0, 1),
        "unknown@0": count("region", "unknown", 0, 1),
    }


def session(user: str, start: int, end: int, views: int) -> dict[str, Any]:
    return {"user_id": user, "session_start": start, "session_end": end, "views": views}


def test_sessions_grow_and_a_merge_deletes_the_superseded_session(activity: Activity) -> None:
    activity.view("u2", "/a", 1_000)
    activity.view("u2", "/b", 2_000)  # u2's session grows: same start, same key
    activity.view("u1", "/a", 0)
    activity.view("u1", "/b", 302_000)  # 302 s later: more than the gap, a second session
    # A view delivered late (a phone back online), within 5 minutes of both: they merge.
    # (The first session is still kept: it ended less than gap + grace before stream time.)
    activity.view("u1", "/c", 150_000)

    records = activity.records("user-sessions")
    assert records == [
        ("u2@1000", session("u2", 1_000, 1_000, 1)),
        # Growing: the old [start, end] is superseded (same key), then the new one.
        ("u2@1000", None),
        ("u2@1000", session("u2", 1_000, 2_000, 2)),
        ("u1@0", session("u1", 0, 0, 1)),
        ("u1@302000", session("u1", 302_000, 302_000, 1)),
        # The merge: both old sessions get a tombstone, then the merged one is written.
        ("u1@0", None),
        ("u1@302000", None),
        ("u1@0", session("u1", 0, 302_000, 3)),
    ]
    assert dict(records) == {  # the last record per key
        "u2@1000": session("u2", 1_000, 2_000, 2),
        "u1@0": session("u1", 0, 302_000, 3),
        "u1@302000": None,  # deleted
    }


def test_a_view_after_the_gap_opens_a_new_session(activity: Activity) -> None:
    activity.view("u1", "/a", 0)
    activity.view("u1", "/a", 300_000)  # exactly the gap: same session
    activity.view("u1", "/a", 600_001)  # more than the gap after the last view
    assert activity.latest("user-sessions") == {
        "u1@0": session("u1", 0, 300_000, 2),
        "u1@600001": session("u1", 600_001, 600_001, 1),
    }


def views_of(activity: Activity, counts: dict[str, int], ts: int) -> None:
    for page, n in counts.items():
        for _ in range(n):
            activity.view("u1", page, ts)


def top(start: int, *pages: tuple[str, int]) -> dict[str, Any]:
    return {"window_start": start, "pages": [{"page": p, "count": n} for p, n in pages]}


def test_top_pages_break_ties_by_page_and_follow_moving_counts(activity: Activity) -> None:
    views_of(activity, {"/g": 1, "/f": 1, "/e": 1, "/d": 2, "/c": 2, "/b": 2, "/a": 3}, 1_000)
    views_of(activity, {"/x": 1}, MINUTE + 1)
    latest = activity.latest("top-pages-per-minute")
    assert latest == {
        # /e, /f and /g tie at 1: the first by name gets the fifth place.
        "top@0": top(0, ("/a", 3), ("/b", 2), ("/c", 2), ("/d", 2), ("/e", 1)),
        "top@60000": top(MINUTE, ("/x", 1)),
    }
    views_of(activity, {"/g": 2}, 2_000)  # /g's count moves from 1 to 3: ties with /a
    views_of(activity, {"/b": 1}, 3_000)  # /b to 3: three pages at 3, by name
    assert activity.latest("top-pages-per-minute")["top@0"] == top(
        0, ("/a", 3), ("/b", 3), ("/g", 3), ("/c", 2), ("/d", 2)
    )


def test_each_count_update_rewrites_its_minute_top_list(activity: Activity) -> None:
    views_of(activity, {"/a": 1}, 0)
    views_of(activity, {"/b": 2}, 10)
    assert activity.records("top-pages-per-minute") == [
        ("top@0", top(0, ("/a", 1))),
        ("top@0", top(0, ("/a", 1), ("/b", 1))),
        ("top@0", top(0, ("/b", 2), ("/a", 1))),
    ]
