"""Projection rows for store tests: every required column filled in with a value of its type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB

from store.models.projections import Projection

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
# The kinds whose rows carry the provider's version (the mapping gives them one). Branch
# protection and its ref policy have one when a `branch_protection_rule` webhook gives
# `updated_at` (REST reads do not).
VERSIONED_KINDS = (
    "Repository",
    "Issue",
    "PullRequest",
    "Review",
    "Comment",
    "Pipeline",
    "Job",
    "Commit",
    "DeployKey",
    "WebhookSubscription",
    "BranchProtection",
    "RefPolicy",
)


def minimal_row(
    model: type[Projection], suffix: str, *, number: int = 1, **given: Any
) -> dict[str, Any]:
    """`given`, plus a value for every required column of `model` not given: `number` for
    integers, T0 for times, text made unique by `suffix`. Identity columns count as required."""
    row: dict[str, Any] = {"external_updated_at": T0, **given}
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        if column.name in row or column.server_default is not None or column.primary_key:
            continue
        if column.nullable and column.name not in model.identity:
            continue
        if isinstance(column.type, Integer):
            row[column.name] = number
        elif isinstance(column.type, DateTime):
            row[column.name] = T0
        elif isinstance(column.type, Boolean):
            row[column.name] = True
        elif isinstance(column.type, JSONB):
            row[column.name] = {}
        else:
            row[column.name] = f"{column.name}-{suffix}"
    return row
