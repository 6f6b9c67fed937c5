"""The activity-tracking pipeline (issue 13's four outputs) written with Quix Streams.

Runs in its own venv (``.venv-quix``, see bench/requirements-quix.txt), so it imports
nothing from flowlog or from the ``bench`` package; the harness starts it as a script:

    .venv-quix/bin/python bench/activity_quix_app.py --bootstrap 127.0.0.1:PORT \
        --group bench-activity-quix-<unique> --state-dir DIR --output-suffix -quix

The same work as apps/activity_tracking, with Quix's nearest operations:
- page views per page per minute: ``group_by(page).tumbling_window(60 s, grace 5 s)
  .count().current()``;
- views per region per minute: ``join_asof(users, how="left")`` (the latest user record at
  or before the view: Quix's table-like enrichment), region "unknown" without one, then
  the same windowed count by region;
- user sessions: ``session_window(5 min).count().current()`` per user (Quix emits no
  tombstones for merged sessions);
- top 5 pages per minute: the views regrouped under one key (Quix allows no group_by
  after a group_by), a stateful ``apply`` counting each minute's pages and emitting its
  top 5 (count desc, page asc).
Keys and JSON values follow the flowlog app's contract; outputs go to the same topic
names plus ``--output-suffix``. ``commit_interval=1.0`` s, every other setting Quix's
default. Runs until SIGTERM/SIGINT (Quix's ``app.run()`` handles both).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from loopback import is_loopback  # bench/ is on the path: run as a script

MINUTE_MS = 60_000
GRACE_MS = 5_000
SESSION_GAP_MS = 5 * 60_000
TOP_N = 5


def window_row(field: str) -> Any:
    def row(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> dict[str, Any]:
        return {field: key, "window_start": value["start"], "window_end": value["end"],
                "count": value["value"]}

    return row


def session_row(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> dict[str, Any]:
    # Quix's session end is exclusive (last view + 1): the contract's is the last view.
    return {"user_id": key, "session_start": value["start"], "session_end": value["end"] - 1,
            "views": value["value"]}


def top_pages(view: dict[str, Any], state: Any) -> dict[str, Any]:
    start = view["ts"] // MINUTE_MS * MINUTE_MS
    counts: dict[str, int] = state.get(str(start), {})
    counts[view["page"]] = counts.get(view["page"], 0) + 1
    state.set(str(start), counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_N]
    return {"window_start": start, "pages": [{"page": p, "count": c} for p, c in ranked]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--output-suffix", default="-quix")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args()
    if not is_loopback(args.bootstrap):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2

    from quixstreams import Application

    app = Application(
        broker_address=args.bootstrap, consumer_group=args.group,
        auto_offset_reset="earliest", loglevel=args.loglevel, state_dir=args.state_dir,
        commit_interval=args.commit_interval,
    )

    def sink(name: str) -> Any:
        return app.topic(name + args.output_suffix, key_serializer="str",
                         value_serializer="json")

    views = app.dataframe(app.topic("page-views", key_deserializer="str",
                                    value_deserializer="json"))
    users = app.dataframe(app.topic("users", key_deserializer="str", value_deserializer="json"))

    per_page = (views.group_by("page", name="by-page")
                .tumbling_window(MINUTE_MS, grace_ms=GRACE_MS).count().current()
                .apply(window_row("page"), metadata=True))
    per_page.to_topic(sink("page-views-per-minute"),
                      key=lambda v: f"{v['page']}@{v['window_start']}")

    def with_region(view: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
        return {**view, "region": user["region"] if user else "unknown"}

    per_region = (views.join_asof(users, how="left", on_merge=with_region)
                  .group_by("region", name="by-region")
                  .tumbling_window(MINUTE_MS, grace_ms=GRACE_MS).count().current()
                  .apply(window_row("region"), metadata=True))
    per_region.to_topic(sink("region-views-per-minute"),
                        key=lambda v: f"{v['region']}@{v['window_start']}")

    sessions = (views.session_window(SESSION_GAP_MS).count().current()
                .apply(session_row, metadata=True))
    sessions.to_topic(sink("user-sessions"),
                      key=lambda v: f"{v['user_id']}@{v['session_start']}")

    top = views.group_by(lambda v: "top", name="top").apply(top_pages, stateful=True)
    top.to_topic(sink("top-pages-per-minute"), key=lambda v: f"top@{v['window_start']}")
    print("quix activity app running", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
