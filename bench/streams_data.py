"""The records of the streams benchmark (issue 10), built the same way by every process.

``make_records(n)`` is deterministic (seeded): the harness preloads exactly these records
and knows how many of them pass the filter; the test-driver bench builds the same ones.

Key: a user id ``u0`` .. ``u999`` (1000 distinct). Value: compact JSON of about 100 bytes,
``{"user_id":"u1234","page":"/p/17","ts":<ms>,"ref":"search","dur":1234,"country":"DE"}``;
about 10% of them have page ``/health`` (the benchmark's filter drops those).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

SEED = 10  # issue 10
USERS = 1000
HEALTH_PAGE = "/health"
HEALTH_SHARE = 0.10
BASE_TS_MS = 1_700_000_000_000
_REFS = ("search", "direct", "email", "social", "ads")
_COUNTRIES = ("DE", "FR", "US", "GB", "IN", "BR", "JP")


def make_values(n: int) -> list[tuple[str, dict[str, Any], int]]:
    """``n`` (key, value dict, timestamp ms) triples; timestamps rise by 1 ms."""
    rng = random.Random(SEED)
    out: list[tuple[str, dict[str, Any], int]] = []
    for i in range(n):
        user = f"u{rng.randrange(USERS)}"
        page = HEALTH_PAGE if rng.random() < HEALTH_SHARE else f"/p/{rng.randrange(100)}"
        ts = BASE_TS_MS + i
        value = {
            "user_id": user,
            "page": page,
            "ts": ts,
            "ref": _REFS[rng.randrange(len(_REFS))],
            "dur": rng.randrange(10, 10_000),
            "country": _COUNTRIES[rng.randrange(len(_COUNTRIES))],
        }
        out.append((user, value, ts))
    return out


def make_records(n: int) -> tuple[list[tuple[bytes, bytes, int]], int, int]:
    """(records as (key bytes, value bytes, ts), how many pass the filter, value bytes total)."""
    records: list[tuple[bytes, bytes, int]] = []
    kept = 0
    total = 0
    for key, value, ts in make_values(n):
        raw = orjson.dumps(value)
        total += len(raw)
        if value["page"] != HEALTH_PAGE:
            kept += 1
        records.append((key.encode(), raw, ts))
    return records, kept, total


def expected_outputs(values: list[tuple[str, dict[str, Any], int]]) -> int:
    return sum(1 for _, v, _ in values if v["page"] != HEALTH_PAGE)
