"""How workflows read the provider failures that activities report."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.backfill_models import RATE_LIMITED


def rate_limit_reset(error: ActivityError) -> datetime | None:
    """The reset time carried by a RateLimited failure (details[0], ISO 8601), if this is one."""
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type != RATE_LIMITED:
        return None
    details = cause.details
    if details and isinstance(details[0], str):
        return datetime.fromisoformat(details[0])
    return None
