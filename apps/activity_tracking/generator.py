"""Realistic page views: users browsing in sessions, Zipf-distributed pages, a diurnal rate.

Sessions start as a Poisson process whose rate follows the time of day; each picks a user
and runs a geometric number of views (mean VIEWS_PER_SESSION_MEAN) separated by think
times, the first often on the home page. Every other view is drawn from a Zipf law over
the page catalog. A tenth of the users are not in the users table (region "unknown").
Pure and seeded: the same options give the same records.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator

from apps.activity_tracking.contract import PAGE_VIEWS, USERS
from apps.shared.cli import GeneratorOptions
from apps.shared.diurnal import diurnal_factor
from apps.shared.produce import Generated
from apps.shared.records import OutRecord

REGIONS = ("eu-west", "us-east", "us-west", "ap-south", "sa-east")
REGION_WEIGHTS = (30, 30, 15, 15, 10)
PAGE_COUNT = 200
ZIPF_EXPONENT = 1.1
VIEWS_PER_SESSION_MEAN = 6.0
THINK_TIME_MEAN_MS = 20_000.0
LANDING_SHARE = 0.4  # sessions that start on the home page
ANONYMOUS_SHARE = 0.1  # users absent from the users table
# Users per event/s of rate: each starts a session every 6 minutes or so on average, so a
# user's sessions are mostly more than the 5-minute gap apart.
USERS_PER_RATE = 60
USERS_MIN = 20
# Sessions start this long before the first event, so the rate is steady from the start
# (sessions last about VIEWS_PER_SESSION_MEAN think times); earlier views are not written.
WARM_UP_MS = 10 * 60_000


def page_catalog(count: int = PAGE_COUNT) -> list[str]:
    """Pages by popularity rank: the home page, a few fixed ones, then products and posts."""
    fixed = ["/", "/search", "/products", "/cart", "/blog", "/checkout", "/account", "/help"]
    rest = (f"/products/{n}" if n % 3 else f"/blog/post-{n}" for n in itertools.count(1))
    return (fixed + list(itertools.islice(rest, max(0, count - len(fixed)))))[:count]


class ActivityGenerator:
    def __init__(self, options: GeneratorOptions, user_count: int | None = None) -> None:
        """`user_count`: by default USERS_PER_RATE per event/s of rate (realistic sessions);
        a benchmark writing dense timestamps may want fewer."""
        self.options = options
        self._random = random.Random(options.seed)
        self.pages = page_catalog()
        self._page_weights = list(itertools.accumulate(
            1.0 / rank ** ZIPF_EXPONENT for rank in range(1, len(self.pages) + 1)
        ))
        if user_count is None:
            user_count = max(USERS_MIN, int(options.rate_per_s * USERS_PER_RATE))
        self.user_ids = [f"user-{n:05d}" for n in range(user_count)]
        self.regions = {
            user: self._random.choices(REGIONS, REGION_WEIGHTS)[0]
            for user in self.user_ids if self._random.random() >= ANONYMOUS_SHARE
        }

    def table_records(self) -> list[OutRecord]:
        """The users table, timed just before the first view so a join sees it first."""
        at_ms = max(0, self.options.start_ms - 1)
        return [OutRecord(USERS, user, {"user_id": user, "region": region}, at_ms)
                for user, region in self.regions.items()]

    def views(self) -> Iterator[OutRecord]:
        """`options.events` page views in timestamp order."""
        rng = self._random
        # Next views of running sessions: (time, tie-breaker, user, views left, is first).
        pending: list[tuple[float, int, str, int, bool]] = []
        order = itertools.count()
        start_ms = self.options.start_ms
        next_session_ms = float(start_ms - WARM_UP_MS)
        written = 0
        while written < self.options.events:
            while not pending or next_session_ms <= pending[0][0]:
                user = rng.choice(self.user_ids)
                heapq.heappush(pending, (next_session_ms, next(order), user,
                                         self._session_length(), True))
                next_session_ms += self._session_gap_ms(next_session_ms)
            at_ms, _, user, left, first = heapq.heappop(pending)
            page = "/" if first and rng.random() < LANDING_SHARE else self._page()
            if left > 1:
                think_ms = rng.expovariate(1.0 / THINK_TIME_MEAN_MS)
                heapq.heappush(pending, (at_ms + think_ms, next(order), user, left - 1, False))
            ts = int(at_ms)
            if ts < start_ms:
                continue
            written += 1
            yield OutRecord(PAGE_VIEWS, user, {"user_id": user, "page": page, "ts": ts}, ts)

    def _session_length(self) -> int:
        views = 1
        while self._random.random() < 1.0 - 1.0 / VIEWS_PER_SESSION_MEAN:
            views += 1
        return views

    def _session_gap_ms(self, at_ms: float) -> float:
        sessions_per_s = self.options.rate_per_s / VIEWS_PER_SESSION_MEAN * diurnal_factor(at_ms)
        return self._random.expovariate(sessions_per_s) * 1000.0

    def _page(self) -> str:
        return self._random.choices(self.pages, cum_weights=self._page_weights)[0]


def generate(options: GeneratorOptions, user_count: int | None = None) -> Generated:
    generator = ActivityGenerator(options, user_count)
    return Generated(generator.table_records(), generator.views())
