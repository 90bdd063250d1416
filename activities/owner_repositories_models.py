"""What the owner-wide binding's activities take and return, and how they are called.

Kept apart from activities/owner_repositories.py so workflows import them without the database
or the provider adapters. Results are counts and bounded batches, never the owner's whole list
of repositories: that list lives in Postgres (store/owner_repositories.py).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from activities.backfill_models import (
    BACKFILL_PAGE_RETRY,
    BACKFILL_PAGE_TIMEOUT,
    STORE_RETRY,
    BindingRef,
    RateLimitBudget,
)

LIST_OWNER_REPOSITORIES_ACTIVITY = "list_owner_repositories"
RECONCILE_OWNER_REPOSITORIES_ACTIVITY = "reconcile_owner_repositories"
NOTE_REPOSITORY_EVENTS_ACTIVITY = "note_repository_events"
NOTE_REPOSITORY_SYNCED_ACTIVITY = "note_repository_synced"

# A listing page is a provider read like a backfill page: the same timeout and retries.
OWNER_LISTING_TIMEOUT = BACKFILL_PAGE_TIMEOUT
OWNER_LISTING_RETRY = BACKFILL_PAGE_RETRY
# The others are a few statements on Postgres.
OWNER_STORE_TIMEOUT = timedelta(seconds=30)
OWNER_STORE_RETRY = STORE_RETRY


class OwnerListingInput(BaseModel):
    """One page of the repositories of `owner` that the binding's credentials see."""

    binding: BindingRef
    owner: str
    listing_id: str = Field(description="Names one complete listing (pages share it).")
    cursor: str | None = Field(default=None, description="The provider's cursor (JSON).")


class OwnerListingResult(BaseModel):
    next_cursor: str | None = None
    listed: int = 0
    joined: int = Field(default=0, description="New, or back after a removal.")
    removed: int = Field(default=0, description="Not shown by a listing that completed.")
    done: bool = False
    requests: int = 1
    budget: RateLimitBudget | None = None


class RepositoryTarget(BaseModel):
    native_id: str
    full_name: str


class RepositoryProgress(BaseModel):
    """How far the owner's repositories are: what the binding's status shows."""

    discovered: int = 0
    waiting: int = Field(default=0, description="Present, workflow not started yet.")
    syncing: int = Field(default=0, description="Workflow running, first pass not done.")
    done: int = Field(default=0, description="Workflow completed a first pass.")
    removed: int = Field(default=0, description="Left the owner's set; their rows stay.")


class ReconcileRepositoriesInput(BaseModel):
    """Note what the workflow did with the last batch, and ask for the next one."""

    binding: BindingRef
    config_version: int
    limit: int
    started: list[str] = Field(default_factory=list)
    stopped: list[str] = Field(default_factory=list)
    configured: list[str] = Field(default_factory=list)


class ReconcileRepositoriesResult(BaseModel):
    start: list[RepositoryTarget] = Field(default_factory=list)
    stop: list[RepositoryTarget] = Field(default_factory=list)
    reconfigure: list[RepositoryTarget] = Field(default_factory=list)
    progress: RepositoryProgress = Field(default_factory=RepositoryProgress)
    removed: list[dict[str, str]] = Field(
        default_factory=list, description="The latest removals: id, fullName, reason."
    )

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.reconfigure)


class RepositoryEventsInput(BaseModel):
    """Deliveries the binding workflow just processed: read them for repository membership."""

    binding: BindingRef
    owner: str
    delivery_ids: list[str]


class RepositoryEventsResult(BaseModel):
    changed: int = 0


class RepositorySyncedInput(BaseModel):
    binding: BindingRef
    native_id: str


class RepositorySyncedResult(BaseModel):
    noted: bool = False
