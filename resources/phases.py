"""Phases (`status.phase`) of every kind, with the names the spec uses."""

from __future__ import annotations

from enum import StrEnum


class ConfigPhase(StrEnum):
    """Providers, bindings and sync policies."""

    PENDING = "Pending"
    SYNCING = "Syncing"  # a binding's first backfill pass is under way
    READY = "Ready"
    DEGRADED = "Degraded"
    RATE_LIMITED = "RateLimited"
    PAUSED = "Paused"
    ERROR = "Error"


class DeliveryPhase(StrEnum):
    """Processing of one ExternalWebhookDelivery (`spec.processing.phase` and `status.phase`)."""

    RECEIVED = "Received"
    QUEUED = "Queued"
    PROCESSING = "Processing"
    PROCESSED = "Processed"
    IGNORED = "Ignored"
    FAILED = "Failed"
    DEAD_LETTERED = "DeadLettered"
    REJECTED = "Rejected"


class SyncEventPhase(StrEnum):
    """An ExternalSyncEvent on its way into the projections."""

    PENDING = "Pending"
    APPLIED = "Applied"  # the event's state is now the stored one
    UNCHANGED = "Unchanged"  # the stored row already held this state: nothing changed
    SUPERSEDED = "Superseded"  # older than the stored version (or a newer one came first)
    # The stored version, other content: neither can say which is newer, so a fresh read of
    # the object decides; the event then becomes Refreshed (or Superseded).
    VERIFYING = "Verifying"
    REFRESHED = "Refreshed"  # settled by a fresh read of the object from the provider
    IGNORED = "Ignored"
    FAILED = "Failed"


class SyncStatePhase(StrEnum):
    """One sync scope (provider x interface x resource kind x repository or project)."""

    PENDING = "Pending"
    BACKFILLING = "Backfilling"
    CURRENT = "Current"
    STALE = "Stale"
    PAUSED = "Paused"
    RATE_LIMITED = "RateLimited"
    DEGRADED = "Degraded"


class WriteIntentPhase(StrEnum):
    """A Krate-originated write, from proposal to confirmation by webhook or read-back."""

    PENDING = "Pending"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    EXECUTING = "Executing"
    CONFIRMING = "Confirming"
    SUCCEEDED = "Succeeded"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"
    FAILED = "Failed"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_INTENT_PHASES


_FINAL_INTENT_PHASES = frozenset(
    {
        WriteIntentPhase.SUCCEEDED,
        WriteIntentPhase.REJECTED,
        WriteIntentPhase.CANCELLED,
        WriteIntentPhase.FAILED,
    }
)


class ConflictPhase(StrEnum):
    """An ExternalSyncConflict."""

    OPEN = "Open"
    RESOLVING = "Resolving"
    RESOLVED = "Resolved"
    IGNORED = "Ignored"
    SUPERSEDED = "Superseded"


class ObjectLinkPhase(StrEnum):
    """An ExternalObjectLink between a Krate resource and a provider object."""

    ACTIVE = "Active"
    STALE = "Stale"
    ORPHANED = "Orphaned"
