"""Every table of the store. Importing this module registers them all on `metadata`."""

from store.models.aggregated import (
    AGGREGATED_TABLES,
    AggregatedObject,
    ObjectLink,
    SyncConflict,
    SyncEvent,
    SyncState,
    WebhookDelivery,
    WebhookPayload,
    WriteIntent,
)
from store.models.audit import AuditEntry
from store.models.base import StoreModel, metadata
from store.models.config import ConfigResource
from store.models.owner_repositories import OwnerRepository
from store.models.projections import (
    PROJECTION_TABLES,
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
from store.models.renames import RepositoryFormerName

__all__ = [
    "AGGREGATED_TABLES",
    "PROJECTION_TABLES",
    "AggregatedObject",
    "AuditEntry",
    "BranchProtection",
    "Comment",
    "Commit",
    "ConfigResource",
    "DeployKey",
    "GitRef",
    "Issue",
    "Job",
    "Label",
    "ObjectLink",
    "OwnerRepository",
    "Pipeline",
    "Projection",
    "PullRequest",
    "RefPolicy",
    "Repository",
    "RepositoryFormerName",
    "RepositoryPermission",
    "Review",
    "StoreModel",
    "SyncConflict",
    "SyncEvent",
    "SyncState",
    "WebhookDelivery",
    "WebhookPayload",
    "WebhookSubscription",
    "WriteIntent",
    "metadata",
]
