"""Inputs and results of the conflict activities and ConflictWorkflow (no I/O imports: the
workflow sandbox passes this module through)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

LOAD_CONFLICT_ACTIVITY = "load_conflict"
APPLY_RESOLUTION_ACTIVITY = "apply_resolution"

# One short transaction each.
CONFLICT_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# The database may be briefly down; a decision is worth retrying for a while, not forever (the
# update's caller is waiting).
CONFLICT_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
    non_retryable_error_types=["ConflictError"],
)

DECISIONS = ("keep-external", "apply-krate", "manual-edit", "ignore-unsupported", "retry-sync")


def conflict_workflow_id(org: str, name: str) -> str:
    return f"conflict/{org}/{name}"


class ConflictRef(BaseModel):
    org: str
    namespace: str
    name: str


class ConflictWorkflowInput(BaseModel):
    org: str
    namespace: str
    name: str


class LoadConflictResult(BaseModel):
    found: bool
    phase: str | None = None
    # The sync policy's conflictPolicy.defaultResolution now (manual, keep-external, apply-krate).
    default_resolution: str = "manual"
    fields: list[str] = Field(default_factory=list)


class ResolveInput(BaseModel):
    """The `resolve` update: a decision, who made it, and manual-edit's values."""

    decision: str
    actor: str = "unknown"
    values: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None


class ApplyResolutionInput(BaseModel):
    conflict: ConflictRef
    decision: str
    actor: str
    values: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None
    automatic: bool = False


class ResolveResult(BaseModel):
    applied: bool
    phase: str
    message: str
    decision: str | None = None
    write_intent_ref: str | None = None


class ConflictStatus(BaseModel):
    """The `status` query."""

    name: str
    phase: str | None = None
    fields: list[str] = Field(default_factory=list)
    default_resolution: str = "manual"
    resolving: bool = False
    last: ResolveResult | None = None
