"""What the refresh activity takes and returns (kept apart so the workflow imports no database).

A refresh round settles same-version ties: the rows the store marked `refresh_wanted_at`
(store/upsert.py) are read again from the provider, one object each, and written with the
fresh-read rule. Only counts cross the Temporal boundary.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from activities.backfill_models import BindingRef, RateLimitBudget

REFRESH_OBJECTS_ACTIVITY = "refresh_objects"
# Objects one round reads: each is one request, so a round stays short and a rate limit pause
# loses little; the workflow runs rounds until no mark is left.
REFRESH_ROUND_SIZE = 50
REFRESH_OBJECTS_TIMEOUT = timedelta(minutes=5)
REFRESH_OBJECTS_HEARTBEAT = timedelta(seconds=30)


class RefreshObjectsInput(BaseModel):
    binding: BindingRef
    limit: int = REFRESH_ROUND_SIZE


class RefreshObjectsResult(BaseModel):
    refreshed: int = Field(default=0, description="Fresh reads written (or found equal).")
    deleted: int = Field(default=0, description="Gone at the provider: tombstoned.")
    retried: int = Field(
        default=0, description="Re-marked by an arrival during the read: read again next round."
    )
    unreadable: int = Field(
        default=0, description="No single-object read for the kind: mark dropped, row kept."
    )
    remaining: int = Field(default=0, description="Marks left on the binding's rows.")
    requests: int = 0
    budget: RateLimitBudget | None = None
