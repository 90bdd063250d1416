"""What an owner-wide binding's workflow keeps and sends: models and pure helpers (no I/O).

An owner-wide binding (`externalRef.owner` without a repository) does not walk scopes itself.
Its BindingSyncWorkflow lists the owner's repositories (the list goes to Postgres, never into
workflow state) and runs one RepositorySyncWorkflow per repository, `sync/{org}/{binding}/{id}`,
started in bounded batches; webhook deliveries for all of them stay with the binding's workflow,
which needs no per-repository state to process them (the store's version guard orders them).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

REPOSITORY_SYNC_WORKFLOW = "RepositorySyncWorkflow"
# The key of the listing's failure among the binding's scope errors (not a scope: no cursor).
DISCOVERY_ERROR_KEY = "discovery"
# Repository workflows started, stopped or reconfigured per step: each costs the binding's
# history two events, so a step stays small and the run continues as new between steps.
REPOSITORY_BATCH = 50
# After this many repository workflows started, stopped or reconfigured in one run, the run
# continues as new: an organisation of thousands of repositories never makes one run's history
# more than a couple of thousand events.
REPOSITORY_ACTIONS_PER_RUN = 250

C = TypeVar("C", bound=BaseModel)


class OwnerListing(BaseModel):
    """A listing of the owner's repositories under way (resumes after a rate limit)."""

    listing_id: str
    cursor: str | None = None
    pages: int = 0
    listed: int = 0


class RetireInput(BaseModel):
    """The `retire` signal: the repository left the owner's set; stop, keep the rows."""

    reason: str = "removed from the binding"


def repository_workflow_id(org: str, binding: str, native_id: str) -> str:
    return f"sync/{org}/{binding}/{native_id}"


def repository_config(
    config: C, *, owner: str, name: str, native_id: str, parent_id: str, paused: str | None
) -> C:
    """The configuration of one repository's workflow: the binding's, scoped to the
    repository, with the binding workflow's pauses (of the manifests or an operator)."""
    return config.model_copy(
        update={
            "repositories": [(owner, name)],
            "owner_wide": None,
            "repository_id": native_id,
            "binding_workflow_id": parent_id,
            "manifest_paused_reason": paused,
        }
    )
