"""Models of the krate.a5c.ai/v1alpha1 kinds, their labels and conditions, manifest loading and
validation. Imports nothing of ours: only pydantic, yaml and the standard library."""

from resources.aggregated import (
    ExternalObjectLink,
    ExternalSyncConflict,
    ExternalSyncEvent,
    ExternalSyncState,
    ExternalWebhookDelivery,
    ExternalWriteIntent,
)
from resources.conditions import Condition, ConditionStatus, ConditionType
from resources.config import (
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
)
from resources.durations import Duration, format_duration, parse_duration
from resources.interfaces import (
    ConflictDecision,
    ConflictResolution,
    Interface,
    InterfaceMode,
    WritePolicyMode,
)
from resources.issues import Issue, Severity, Source, has_errors, render_issues
from resources.kinds import KINDS, AnyResource, KindInfo, UnknownKindError, lookup_kind
from resources.labels import (
    LABEL_EXTERNAL_OWNER,
    LABEL_INTERFACE,
    LABEL_ORG,
    LABEL_PROVIDER,
    LABEL_REPOSITORY,
    labels_for,
    required_labels,
)
from resources.phases import (
    ConfigPhase,
    ConflictPhase,
    DeliveryPhase,
    ObjectLinkPhase,
    SyncEventPhase,
    SyncStatePhase,
    WriteIntentPhase,
)
from resources.wire import API_VERSION, org_namespace

__all__ = [
    "API_VERSION",
    "KINDS",
    "LABEL_EXTERNAL_OWNER",
    "LABEL_INTERFACE",
    "LABEL_ORG",
    "LABEL_PROVIDER",
    "LABEL_REPOSITORY",
    "AnyResource",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ConfigPhase",
    "ConflictDecision",
    "ConflictPhase",
    "ConflictResolution",
    "DeliveryPhase",
    "Duration",
    "ExternalBackendBinding",
    "ExternalBackendProvider",
    "ExternalBackendSyncPolicy",
    "ExternalObjectLink",
    "ExternalSyncConflict",
    "ExternalSyncEvent",
    "ExternalSyncState",
    "ExternalWebhookDelivery",
    "ExternalWriteIntent",
    "Interface",
    "InterfaceMode",
    "Issue",
    "KindInfo",
    "ObjectLinkPhase",
    "Severity",
    "Source",
    "SyncEventPhase",
    "SyncStatePhase",
    "UnknownKindError",
    "WriteIntentPhase",
    "WritePolicyMode",
    "format_duration",
    "has_errors",
    "labels_for",
    "lookup_kind",
    "org_namespace",
    "parse_duration",
    "render_issues",
    "required_labels",
]
