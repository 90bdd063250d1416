"""Status conditions, shaped like Kubernetes `metav1.Condition`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from resources.wire import WireModel


class ConditionType(StrEnum):
    """The condition types the spec gives providers and bindings."""

    AUTH_READY = "AuthReady"
    INSTALLATION_READY = "InstallationReady"
    WEBHOOK_READY = "WebhookReady"
    ISSUE_TRACKING_READY = "IssueTrackingReady"
    CICD_READY = "CicdReady"
    GIT_FORGE_READY = "GitForgeReady"
    RATE_LIMITED = "RateLimited"
    BACKFILL_HEALTHY = "BackfillHealthy"
    CONFLICTS_PRESENT = "ConflictsPresent"
    READY = "Ready"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(WireModel):
    type: ConditionType
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None
    observed_generation: int | None = None
