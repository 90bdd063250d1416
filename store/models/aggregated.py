"""The six aggregated kinds (served by Krate's aggregated API from Postgres) and webhook payloads.

Each row is one Kubernetes-style object: namespace/name, uid, generation, labels, annotations.
Spec and status fields that are filtered on are real columns; `spec_columns`/`status_columns`
say which manifest path each column holds. Whatever a manifest carries beyond those paths is
kept in `spec_extra`/`status_extra`, so every field survives the round trip.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    LargeBinary,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from store.models.base import (
    StoreModel,
    bigint_id,
    jsonb_array,
    jsonb_object,
    jsonb_optional,
    timestamp,
    timestamp_now,
)


class AggregatedObject(StoreModel):
    """Columns every aggregated kind has (an abstract base: no table of its own)."""

    kind: ClassVar[str]
    # manifest path under spec (dotted) -> column; likewise for status.
    spec_columns: ClassVar[dict[str, str]]
    status_columns: ClassVar[dict[str, str]] = {}

    id: int | None = bigint_id()
    uid: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        unique=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    namespace: str
    name: str
    generation: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    labels: dict[str, str] = jsonb_object()
    annotations: dict[str, str] = jsonb_object()
    spec_extra: dict[str, Any] = jsonb_object()
    status_extra: dict[str, Any] = jsonb_object()
    created_at: datetime | None = timestamp_now()
    updated_at: datetime | None = timestamp_now()

    # Every aggregated kind names its organisation and provider.
    org: str
    provider_ref: str
    binding_ref: str | None = None


class WebhookPayload(StoreModel, table=True):
    """A webhook body as received, stored once per content digest ("sha256:<hex>")."""

    __tablename__ = "webhook_payloads"
    __table_args__ = (
        CheckConstraint("digest LIKE 'sha256:%'", name="digest_is_sha256"),
        CheckConstraint("size = octet_length(body)", name="size_matches_body"),
    )

    digest: str = Field(primary_key=True)
    body: bytes = Field(sa_type=LargeBinary)
    content_type: str
    size: int
    created_at: datetime | None = timestamp_now()


class WebhookDelivery(AggregatedObject, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        # A provider never reuses a delivery id; a redelivery is recognised by it.
        UniqueConstraint(
            "org", "provider_ref", "delivery_id", name="uq_webhook_deliveries_delivery_id"
        ),
        Index(None, "org", "provider_ref", "received_at"),
        Index(None, "event_type", "action"),
        Index(None, "phase"),
    )
    kind: ClassVar[str] = "ExternalWebhookDelivery"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "interfaceHints": "interface_hints",
        "deliveryId": "delivery_id",
        "eventType": "event_type",
        "action": "action",
        "receivedAt": "received_at",
        "signature.algorithm": "signature_algorithm",
        "signature.verified": "signature_verified",
        "source.owner": "source_owner",
        "source.repository": "source_repository",
        "payloadRef.storage": "payload_storage",
        "payloadRef.digest": "payload_digest",
        "processing.phase": "phase",
        "processing.attempts": "attempts",
    }

    interface_hints: list[str] | None = jsonb_optional()
    delivery_id: str
    event_type: str
    action: str | None = None
    received_at: datetime | None = timestamp()
    signature_algorithm: str | None = None
    signature_verified: bool | None = None
    source_owner: str | None = None
    source_repository: str | None = None
    payload_storage: str | None = None
    payload_digest: str | None = Field(
        default=None, foreign_key="webhook_payloads.digest", index=True
    )
    phase: str | None = None
    attempts: int | None = None


class SyncEvent(AggregatedObject, table=True):
    __tablename__ = "sync_events"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        Index(None, "org", "provider_ref", "resource_kind", "native_id"),
        Index(None, "source_delivery"),
        Index(None, "event_time"),
    )
    kind: ClassVar[str] = "ExternalSyncEvent"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "sourceDelivery": "source_delivery",
        "interface": "interface",
        "resourceKind": "resource_kind",
        "nativeId": "native_id",
        "nodeId": "node_id",
        "action": "action",
        "eventTime": "event_time",
        "normalized": "normalized",
    }

    source_delivery: str | None = None
    interface: str
    resource_kind: str
    native_id: str | None = None
    node_id: str | None = None
    action: str | None = None
    event_time: datetime | None = timestamp()
    normalized: dict[str, Any] | None = jsonb_optional()


class SyncState(AggregatedObject, table=True):
    """Mirror of a workflow's cursor and high-watermark for one scope.

    The scope is interface x resource kind x (repository or project): `scope` holds the
    repository's provider path or the project key ("a5c-ai/krate", "PROJ"), as the resource
    model's `spec.scope` has it (a JSON string; rows written before issue 9 hold
    {"repository": ...} until their next mirror); NULL means the whole binding.
    """

    __tablename__ = "sync_states"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        UniqueConstraint(
            "org",
            "provider_ref",
            "binding_ref",
            "interface",
            "resource_kind",
            "scope",
            name="uq_sync_states_scope",
            # A binding-less or scope-less state is still one row per scope.
            postgresql_nulls_not_distinct=True,
        ),
    )
    kind: ClassVar[str] = "ExternalSyncState"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "interface": "interface",
        "resourceKind": "resource_kind",
        "scope": "scope",
    }
    status_columns: ClassVar[dict[str, str]] = {
        "phase": "phase",
        "cursor": "cursor",
        "etag": "etag",
        "highWatermark": "high_watermark",
        "lastBackfillAt": "last_synced_at",
        "lastFullResyncAt": "last_full_resync_at",
    }

    interface: str
    resource_kind: str
    scope: str | dict[str, Any] | None = jsonb_optional()
    phase: str | None = None
    cursor: str | None = None
    etag: str | None = None
    high_watermark: datetime | None = timestamp()
    last_synced_at: datetime | None = timestamp()
    last_full_resync_at: datetime | None = timestamp()


class WriteIntent(AggregatedObject, table=True):
    __tablename__ = "write_intents"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        Index(None, "org", "provider_ref", "phase"),
        Index(None, "target_kind", "target_name"),
    )
    kind: ClassVar[str] = "ExternalWriteIntent"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "interface": "interface",
        "operation": "operation",
        "source.kind": "source_kind",
        "source.actor": "actor",
        "target.kind": "target_kind",
        "target.name": "target_name",
        "nativeTarget": "native_target",
        "requestDigest": "request_digest",
        "approvalPolicy.required": "approval_required",
        "idempotencyKey": "idempotency_key",
    }
    status_columns: ClassVar[dict[str, str]] = {"phase": "phase"}

    interface: str
    operation: str
    source_kind: str | None = None
    actor: str | None = None
    target_kind: str | None = None
    target_name: str | None = None
    native_target: dict[str, Any] | None = jsonb_optional()
    request_digest: str | None = None
    approval_required: bool | None = None
    # Retries of one write must reach the provider once: the key is unique across the store.
    idempotency_key: str = Field(unique=True)
    phase: str | None = None


class SyncConflict(AggregatedObject, table=True):
    """A field or resource conflict between Krate and the provider, awaiting a resolution.

    `fields` lists the conflicting fields: [{path, base, local, external}], where base is the
    value both sides last agreed on.
    """

    __tablename__ = "sync_conflicts"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        Index(None, "org", "provider_ref", "resource_kind", "native_id"),
        Index(None, "phase"),
    )
    kind: ClassVar[str] = "ExternalSyncConflict"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "interface": "interface",
        "target.kind": "resource_kind",
        "target.name": "local_name",
        "nativeId": "native_id",
        "nativeUrl": "native_url",
        "writeIntentRef": "write_intent_ref",
        "fields": "fields",
        "localGeneration": "local_generation",
        "recommendation": "recommendation",
        "detectedAt": "detected_at",
    }
    status_columns: ClassVar[dict[str, str]] = {"phase": "phase"}

    interface: str | None = None
    # spec.target is the Krate object in conflict: its kind and name.
    resource_kind: str
    local_name: str | None = None
    native_id: str | None = None
    native_url: str | None = None
    write_intent_ref: str | None = None
    fields: list[dict[str, Any]] = jsonb_array()
    local_generation: int | None = None
    recommendation: str | None = None
    detected_at: datetime | None = timestamp()
    phase: str | None = None


class ObjectLink(AggregatedObject, table=True):
    __tablename__ = "object_links"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        # One link per local resource and provider.
        UniqueConstraint(
            "org", "provider_ref", "local_kind", "local_name", name="uq_object_links_local_ref"
        ),
        Index(None, "org", "provider_ref", "native_id"),
    )
    kind: ClassVar[str] = "ExternalObjectLink"
    spec_columns: ClassVar[dict[str, str]] = {
        "organizationRef": "org",
        "providerRef": "provider_ref",
        "bindingRef": "binding_ref",
        "localRef.apiVersion": "local_api_version",
        "localRef.kind": "local_kind",
        "localRef.name": "local_name",
        "external.interface": "interface",
        "external.nativeKind": "native_kind",
        "external.nativeId": "native_id",
        "external.nativeNumber": "native_number",
        "external.nodeId": "node_id",
        "external.url": "url",
        "external.apiUrl": "api_url",
        "external.etag": "etag",
    }

    local_api_version: str | None = None
    local_kind: str
    local_name: str
    interface: str | None = None
    native_kind: str | None = None
    native_id: str | None = None
    native_number: int | None = Field(default=None, sa_type=BigInteger)
    node_id: str | None = None
    url: str | None = None
    api_url: str | None = None
    etag: str | None = None


AGGREGATED_TABLES: tuple[type[AggregatedObject], ...] = (
    WebhookDelivery,
    SyncEvent,
    SyncState,
    WriteIntent,
    SyncConflict,
    ObjectLink,
)
