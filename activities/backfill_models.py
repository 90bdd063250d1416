"""What a backfill page activity takes and returns: small, serializable, safe in workflow history.

Kept apart from the activity implementation so workflows can import them without pulling in
httpx or the database layer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

# Error type names an activity raises (ApplicationError.type); the workflow branches on them.
RATE_LIMITED = "RateLimited"
PROVIDER_AUTH_ERROR = "ProviderAuthError"
PROVIDER_NOT_FOUND = "ProviderNotFound"
PROVIDER_VALIDATION_ERROR = "ProviderValidationError"
CONFIGURATION_ERROR = "ConfigurationError"

# One page is one provider request plus one database round trip; two minutes covers a slow
# provider with its own retries without hiding a hung connection for long.
BACKFILL_PAGE_TIMEOUT = timedelta(minutes=2)
# Transient provider faults (5xx, resets) retry with backoff; a Retry-After from the provider
# overrides the delay. Fatal answers and rate limits are not retried here: the workflow decides.
BACKFILL_PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=[
        RATE_LIMITED,
        PROVIDER_AUTH_ERROR,
        PROVIDER_NOT_FOUND,
        PROVIDER_VALIDATION_ERROR,
        CONFIGURATION_ERROR,
    ],
)

# Activity names, for workflows that call them by name.
BACKFILL_PAGE_ACTIVITY = "backfill_page"
TOMBSTONE_UNSEEN_ACTIVITY = "tombstone_unseen"
MIRROR_SYNC_STATE_ACTIVITY = "mirror_sync_state"

# Bookkeeping writes to our own database: short, and retried until the database answers.
MIRROR_SYNC_STATE_TIMEOUT = timedelta(seconds=30)
TOMBSTONE_TIMEOUT = timedelta(minutes=5)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=[CONFIGURATION_ERROR],
)


class BindingRef(BaseModel):
    """Which binding a piece of work belongs to; secrets appear only as references."""

    org: str
    namespace: str
    binding: str
    provider: str
    provider_type: str
    api_base_url: str | None = None
    auth_secret: str | None = Field(default=None, description="Secret ref name, never a value.")
    auth_secret_namespace: str | None = None
    installation_id: int | None = None


class SyncScope(BaseModel):
    """One unit of backfill: an interface, a resource kind and a repository or project."""

    interface: str
    resource_kind: str
    owner: str
    repository: str

    @property
    def key(self) -> str:
        return f"{self.interface}/{self.resource_kind}/{self.owner}/{self.repository}"


class ScopeCursor(BaseModel):
    """Where a scope's backfill stands. Only the workflow keeps it; activities return the next one."""

    scope: SyncScope
    watermark: datetime | None = Field(
        default=None, description="Everything updated before this is known to be synced."
    )
    pass_high: datetime | None = Field(
        default=None, description="Newest updated_at seen in the pass under way."
    )
    etag: str | None = Field(default=None, description="ETag of the first page of the last pass.")
    next_page: str | None = Field(default=None, description="Where an interrupted pass resumes.")
    pass_started_at: datetime | None = None
    last_pass_completed_at: datetime | None = None
    objects: int = 0
    pages: int = 0
    requests: int = 0
    not_modified: int = 0
    watermark_seen: dict[str, datetime] = Field(
        default_factory=dict,
        description="Objects (native id or number → updated_at) already stored at or after the "
        "watermark; skipped when a listing shows them again unchanged.",
    )
    etags: dict[str, str] = Field(
        default_factory=dict,
        description="ETags of the first pages of a scope's other listings (refs: tags).",
    )
    # issue 9 (renames): the scope keeps the externalRef's name; what it reads follows these.
    repository_id: str | None = Field(
        default=None,
        description="The provider's stable id of the scope's repository, once a page saw it.",
    )
    repository_name: str | None = Field(
        default=None, description="The repository's current owner/name, as last resolved."
    )


class RateLimitBudget(BaseModel):
    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None
    resource: str | None = None


class BackfillPageInput(BaseModel):
    binding: BindingRef
    cursor: ScopeCursor
    per_page: int = 100
    full: bool = Field(default=False, description="Ignore watermarks and ETags: walk everything.")


class BackfillPageResult(BaseModel):
    cursor: ScopeCursor
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    tied: int = Field(
        default=0,
        description="Rows of the stored version with other content: marked for a fresh read.",
    )
    not_modified: bool = False
    done: bool = True
    budget: RateLimitBudget | None = None
    requests: int = Field(
        default=0, description="Provider requests this page made (jobs, reviews)."
    )
    seen_since: datetime | None = Field(
        default=None,
        description="Database time the pass started: rows of the scope not synced since were "
        "not seen by it (a full pass hands this to tombstone_unseen).",
    )


class TombstoneInput(BaseModel):
    """Mark the rows of one scope that a completed full pass did not see as deleted."""

    binding: BindingRef
    scope: SyncScope
    seen_since: datetime


class TombstoneResult(BaseModel):
    marked: int = 0


class SyncCondition(BaseModel):
    """A condition as the workflow reports it (same fields as its ConditionState)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class MirrorSyncStateInput(BaseModel):
    """The workflow's status, written to Postgres as one ExternalSyncState per scope."""

    binding: BindingRef
    phase: str
    cursors: list[ScopeCursor] = Field(default_factory=list)
    scope_errors: dict[str, str] = Field(default_factory=dict)
    conditions: list[SyncCondition] = Field(default_factory=list)
    paused_reason: str | None = None
    rate_limited_until: datetime | None = None
    last_full_completed_at: datetime | None = None
    generation: int | None = Field(
        default=None, description="The binding generation the workflow runs with."
    )
    # issue 9 (status): what the conditions and the sync states are computed from.
    scope_error_types: dict[str, str] = Field(
        default_factory=dict,
        description="Scope key -> error type of its last failure (ProviderAuthError, ...).",
    )
    rate_limit: RateLimitBudget | None = Field(
        default=None, description="The budget as the provider last reported it."
    )
    next_backfill_at: datetime | None = None
    # issue 9 (owner-wide bindings): a repository workflow writes its scopes only; the binding
    # workflow of an owner-wide binding adds its repositories' progress to the binding status.
    binding_status: bool = True
    repositories: dict[str, Any] | None = None


class MirrorSyncStateResult(BaseModel):
    written: int = 0
