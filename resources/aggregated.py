"""The six aggregated kinds (served from Postgres): deliveries, events, sync state, write
intents, conflicts, object links.

Their specs are `OpenModel`s: fields the spec shows are typed, and fields a provider adapter or a
newer controller adds are kept rather than refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from resources.interfaces import ConflictDecision, ConflictResolution, Interface
from resources.meta import Resource, Status
from resources.phases import (
    ConflictPhase,
    DeliveryPhase,
    ObjectLinkPhase,
    SyncEventPhase,
    SyncStatePhase,
    WriteIntentPhase,
)
from resources.refs import ObjectRef
from resources.wire import OpenModel


class OrgScopedSpec(OpenModel):
    organization_ref: str = Field(min_length=1)
    provider_ref: str = Field(min_length=1)
    binding_ref: str | None = None


# --- ExternalWebhookDelivery -------------------------------------------------------------------


class DeliverySignature(OpenModel):
    algorithm: str | None = None
    verified: bool = False


class DeliverySource(OpenModel):
    owner: str | None = None
    repository: str | None = None
    project: str | None = None


class PayloadRef(OpenModel):
    storage: str = "object"
    digest: str


class DeliveryProcessing(OpenModel):
    phase: DeliveryPhase = DeliveryPhase.RECEIVED
    attempts: int = 0
    response_code: int | None = None
    last_error: str | None = None
    event_refs: list[str] = Field(default_factory=list)
    """Names of the ExternalSyncEvents this delivery produced."""


class WebhookDeliverySpec(OrgScopedSpec):
    interface_hints: list[Interface] = Field(default_factory=list)
    delivery_id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    action: str | None = None
    received_at: datetime
    signature: DeliverySignature = Field(default_factory=DeliverySignature)
    source: DeliverySource = Field(default_factory=DeliverySource)
    payload_ref: PayloadRef | None = None
    processing: DeliveryProcessing = Field(default_factory=DeliveryProcessing)


class DeliveryStatus(Status):
    phase: DeliveryPhase | None = None


class ExternalWebhookDelivery(Resource):
    KIND: ClassVar[str] = "ExternalWebhookDelivery"
    kind: Literal["ExternalWebhookDelivery"] = "ExternalWebhookDelivery"
    spec: WebhookDeliverySpec
    status: DeliveryStatus = Field(default_factory=DeliveryStatus)


# --- ExternalSyncEvent -------------------------------------------------------------------------


class SyncEventSpec(OrgScopedSpec):
    source_delivery: str | None = None
    interface: Interface
    resource_kind: str = Field(min_length=1)
    native_id: str = Field(min_length=1)
    node_id: str | None = None
    action: str | None = None
    event_time: datetime
    normalized: dict[str, Any] = Field(default_factory=dict)


class SyncEventStatus(Status):
    phase: SyncEventPhase | None = None


class ExternalSyncEvent(Resource):
    KIND: ClassVar[str] = "ExternalSyncEvent"
    kind: Literal["ExternalSyncEvent"] = "ExternalSyncEvent"
    spec: SyncEventSpec
    status: SyncEventStatus = Field(default_factory=SyncEventStatus)


# --- ExternalSyncState -------------------------------------------------------------------------


class RateLimitBudget(OpenModel):
    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


class SyncStateSpec(OrgScopedSpec):
    """Cursor and high-watermark of one scope: interface x resource kind x repository/project."""

    interface: Interface
    resource_kind: str = Field(min_length=1)
    scope: str = Field(min_length=1)
    """The repository or project key the cursor belongs to (`a5c-ai/krate`, `PROJ`)."""


class SyncStateStatus(Status):
    phase: SyncStatePhase | None = None
    cursor: str | None = None
    high_watermark: datetime | None = None
    etag: str | None = None
    last_backfill_at: datetime | None = None
    last_full_resync_at: datetime | None = None
    next_backfill_at: datetime | None = None
    queue_depth: int | None = None
    rate_limit: RateLimitBudget | None = None
    paused_reason: str | None = None


class ExternalSyncState(Resource):
    KIND: ClassVar[str] = "ExternalSyncState"
    kind: Literal["ExternalSyncState"] = "ExternalSyncState"
    spec: SyncStateSpec
    status: SyncStateStatus = Field(default_factory=SyncStateStatus)


# --- ExternalWriteIntent -----------------------------------------------------------------------


class IntentSource(OpenModel):
    kind: str = Field(min_length=1)
    """UserAction, AgentAction, PolicyAction, ..."""
    actor: str = Field(min_length=1)


class ApprovalPolicy(OpenModel):
    required: bool = False
    approvers: list[str] = Field(default_factory=list)


class WriteIntentSpec(OrgScopedSpec):
    interface: Interface
    operation: str = Field(min_length=1)
    source: IntentSource
    target: ObjectRef
    native_target: dict[str, Any] = Field(default_factory=dict)
    request_digest: str | None = None
    """Digest of the full request body, kept in object storage."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Small operation parameters (labels to add, a merge method); never credentials."""
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    idempotency_key: str = Field(min_length=1)


class ApprovalDecision(OpenModel):
    decision: Literal["approved", "rejected"]
    decided_by: str
    decided_at: datetime | None = None
    reason: str | None = None


class ProviderResponse(OpenModel):
    status_code: int | None = None
    native_url: str | None = None
    summary: str | None = None


class WriteIntentStatus(Status):
    phase: WriteIntentPhase | None = None
    attempts: int = 0
    approval: ApprovalDecision | None = None
    response: ProviderResponse | None = None


class ExternalWriteIntent(Resource):
    KIND: ClassVar[str] = "ExternalWriteIntent"
    kind: Literal["ExternalWriteIntent"] = "ExternalWriteIntent"
    spec: WriteIntentSpec
    status: WriteIntentStatus = Field(default_factory=WriteIntentStatus)


# --- ExternalSyncConflict ----------------------------------------------------------------------


class ExternalVersion(OpenModel):
    etag: str | None = None
    updated_at: datetime | None = None
    sha: str | None = None


class FieldConflict(OpenModel):
    path: str
    local_value: Any = None
    external_value: Any = None
    base_value: Any = None
    """The value both sides last agreed on (three-way detection)."""


class SyncConflictSpec(OrgScopedSpec):
    interface: Interface | None = None
    target: ObjectRef
    native_url: str | None = None
    fields: list[FieldConflict] = Field(default_factory=list)
    local_generation: int | None = None
    external_version: ExternalVersion | None = None
    recommendation: ConflictResolution | None = None


class ConflictResolutionRecord(OpenModel):
    decision: ConflictDecision
    decided_by: str
    decided_at: datetime | None = None
    note: str | None = None


class SyncConflictStatus(Status):
    phase: ConflictPhase | None = None
    resolution: ConflictResolutionRecord | None = None


class ExternalSyncConflict(Resource):
    KIND: ClassVar[str] = "ExternalSyncConflict"
    kind: Literal["ExternalSyncConflict"] = "ExternalSyncConflict"
    spec: SyncConflictSpec
    status: SyncConflictStatus = Field(default_factory=SyncConflictStatus)


# --- ExternalObjectLink ------------------------------------------------------------------------


class ExternalExtensions(OpenModel):
    provider_type: str | None = None
    schema_version: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class ExternalEnvelope(OpenModel):
    """Provider identity of a synced object (external-object-mapping.md, common envelope)."""

    provider_ref: str | None = None
    binding_ref: str | None = None
    interface: Interface
    native_kind: str | None = None
    native_id: str = Field(min_length=1)
    native_number: int | None = None
    node_id: str | None = None
    url: str | None = None
    api_url: str | None = None
    etag: str | None = None
    version: ExternalVersion | None = None
    extensions: ExternalExtensions | None = None


class ObjectLinkSpec(OrgScopedSpec):
    local_ref: ObjectRef
    external: ExternalEnvelope


class ObjectLinkStatus(Status):
    phase: ObjectLinkPhase | None = None
    last_synced_at: datetime | None = None


class ExternalObjectLink(Resource):
    KIND: ClassVar[str] = "ExternalObjectLink"
    kind: Literal["ExternalObjectLink"] = "ExternalObjectLink"
    spec: ObjectLinkSpec
    status: ObjectLinkStatus = Field(default_factory=ObjectLinkStatus)
