"""The activity-tracking app's public contract: topic names, windows and record formats
(docs/apps.md). Keep them exactly: other programs read these topics."""

from __future__ import annotations

from apps.shared.topics import TopicSpec

# Inputs. page-views: key user id, value {"user_id", "page", "ts"} (record time = ts).
# users (compacted): key user id, value {"user_id", "region"}.
PAGE_VIEWS = "page-views"
USERS = "users"
# Outputs: key "<key>@<window_start_ms>", JSON values, the last record per key is current.
PAGE_VIEWS_PER_MINUTE = "page-views-per-minute"
REGION_VIEWS_PER_MINUTE = "region-views-per-minute"
USER_SESSIONS = "user-sessions"
TOP_PAGES_PER_MINUTE = "top-pages-per-minute"

TOPICS = (
    TopicSpec(PAGE_VIEWS),
    TopicSpec(USERS, compacted=True),
    TopicSpec(PAGE_VIEWS_PER_MINUTE),
    TopicSpec(REGION_VIEWS_PER_MINUTE),
    TopicSpec(USER_SESSIONS),
    TopicSpec(TOP_PAGES_PER_MINUTE),
)

MINUTE_MS = 60_000
GRACE_MS = 5_000
SESSION_GAP_MS = 5 * MINUTE_MS
TOP_N = 5
UNKNOWN_REGION = "unknown"
TOP_KEY = "top"
