"""Primary and secondary rate limits, counted the way GitHub counts them.

Primary: a budget per user or installation (not per token) that refills at `reset`. A request
that finds the budget empty gets 403 (or 429) with `x-ratelimit-remaining: 0`; a conditional
request answered 304 is refunded, as GitHub does for authorized conditional requests.
Secondary: tripped on demand (control API) for `retry_after` seconds, answered 403 or 429 with
`retry-after`, like GitHub's abuse-detection limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from providers.github.simulator.clock import Clock, system_clock

PRIMARY_DOC = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
)
SECONDARY_DOC = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)


@dataclass
class Bucket:
    limit: int
    remaining: int
    reset: int  # epoch seconds

    @property
    def used(self) -> int:
        return self.limit - self.remaining


@dataclass
class Secondary:
    after_requests: int = 0  # requests still allowed before the limit trips
    retry_after: int = 60
    status: int = 403
    until: float | None = None  # epoch seconds while tripped
    armed: bool = False


@dataclass
class RateLimiter:
    limit: int = 5000
    window: int = 3600
    status: int = 403
    clock: Clock = system_clock
    buckets: dict[str, Bucket] = field(default_factory=dict)
    secondary: Secondary = field(default_factory=Secondary)
    # Budget given to buckets first seen after a global `configure` (remaining, reset epoch).
    template: tuple[int | None, int | None] = (None, None)

    def _now(self) -> int:
        return int(self.clock().timestamp())

    def bucket(self, key: str) -> Bucket:
        now = self._now()
        found = self.buckets.get(key)
        if found is None:
            remaining, reset = self.template
            if reset is None or now >= reset:
                remaining, reset = None, None
            found = self.buckets[key] = Bucket(
                self.limit,
                self.limit if remaining is None else remaining,
                now + self.window if reset is None else reset,
            )
        elif now >= found.reset:
            found = self.buckets[key] = Bucket(self.limit, self.limit, now + self.window)
        return found

    def take(self, key: str, amount: int = 1) -> tuple[Bucket, bool]:
        """Spend `amount` (a request, or a GraphQL query's points) from `key`'s budget; False,
        and nothing spent, when the budget cannot cover it."""
        found = self.bucket(key)
        if found.remaining < amount or found.remaining <= 0:
            return found, False
        found.remaining -= amount
        return found, True

    def refund(self, key: str) -> None:
        found = self.bucket(key)
        found.remaining = min(found.limit, found.remaining + 1)

    def configure(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_in: int | None = None,
        reset_at: int | None = None,
        key: str | None = None,
        status: int | None = None,
    ) -> None:
        """Change the budget of one bucket, or of every bucket and the default for new ones."""
        if limit is not None and key is None:
            self.limit = limit
        if status is not None:
            self.status = status
        keys = [key] if key is not None else list(self.buckets)
        now = self._now()
        for k in keys:
            b = self.bucket(k)
            if limit is not None:
                b.limit = limit
                b.remaining = min(b.remaining, limit)
            if remaining is not None:
                b.remaining = max(0, min(remaining, b.limit))
            if reset_at is not None:
                b.reset = reset_at
            elif reset_in is not None:
                b.reset = now + reset_in
        if key is None and (remaining is not None or reset_at is not None or reset_in is not None):
            reset = reset_at if reset_at is not None else now + (reset_in or self.window)
            self.template = (remaining, reset)

    def trip_secondary(self, retry_after: int, status: int = 403, after_requests: int = 0) -> None:
        self.secondary = Secondary(after_requests, retry_after, status, None, True)

    def secondary_retry_after(self) -> int | None:
        """Seconds to wait when the secondary limit is in force for this request, else None."""
        s = self.secondary
        now = self.clock().timestamp()
        if s.until is not None:
            if now < s.until:
                return max(1, math.ceil(s.until - now))
            s.until = None
            return None
        if not s.armed:
            return None
        if s.after_requests > 0:
            s.after_requests -= 1
            return None
        s.armed = False
        s.until = now + s.retry_after
        return s.retry_after

    def clear_secondary(self) -> None:
        self.secondary = Secondary()
