"""Which projection table holds each resource kind (and back): the one list of them.

Everything that goes from a normalized object's kind to its table, or from a table to the kind
named in sync events and fresh reads, looks here.
"""

from __future__ import annotations

from store.models.projections import (
    BranchProtection,
    Comment,
    Commit,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Label,
    Pipeline,
    Projection,
    PullRequest,
    RefPolicy,
    Repository,
    RepositoryPermission,
    Review,
    WebhookSubscription,
)

PROJECTION_BY_KIND: dict[str, type[Projection]] = {
    "Repository": Repository,
    "Issue": Issue,
    "PullRequest": PullRequest,
    "Review": Review,
    "Comment": Comment,
    "Pipeline": Pipeline,
    "Job": Job,
    "GitRef": GitRef,
    "Commit": Commit,
    "DeployKey": DeployKey,
    "RepositoryPermission": RepositoryPermission,
    "BranchProtection": BranchProtection,
    "RefPolicy": RefPolicy,
    "Label": Label,
    "WebhookSubscription": WebhookSubscription,
}

KIND_OF_TABLE: dict[type[Projection], str] = {
    model: kind for kind, model in PROJECTION_BY_KIND.items()
}
