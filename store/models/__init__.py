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
from store.models.projections import (
    PROJECTION_TABLES,
    BranchProtection,
    Comment,
    Commit,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Pipeline,
    Projection,
    PullRequest,
    Repository,
    RepositoryPermission,
    Review,
)

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
    "ObjectLink",
    "Pipeline",
    "Projection",
    "PullRequest",
    "Repository",
    "RepositoryPermission",
    "Review",
    "StoreModel",
    "SyncConflict",
    "SyncEvent",
    "SyncState",
    "WebhookDelivery",
    "WebhookPayload",
    "WriteIntent",
    "metadata",
]
