"""The table columns `krate-sync get` shows for each kind: (header, dotted path in the manifest)."""

from __future__ import annotations

Columns = tuple[tuple[str, str], ...]

COLUMNS: dict[str, Columns] = {
    "ExternalBackendProvider": (
        ("TYPE", "spec.providerType"),
        ("ORG", "spec.organizationRef"),
        ("PHASE", "status.phase"),
        ("GEN", "metadata.generation"),
    ),
    "ExternalBackendBinding": (
        ("PROVIDER", "spec.providerRef"),
        ("TARGET", "spec.targetRef.name"),
        ("OWNER", "spec.externalRef.owner"),
        ("REPOSITORY", "spec.externalRef.repository"),
        ("PHASE", "status.phase"),
        ("GEN", "metadata.generation"),
    ),
    "ExternalBackendSyncPolicy": (
        ("PROVIDER", "spec.providerRef"),
        ("INTERVAL", "spec.backfill.interval"),
        ("FULL-RESYNC", "spec.backfill.fullResyncInterval"),
        ("WRITES", "spec.writePolicy.defaultMode"),
        ("GEN", "metadata.generation"),
    ),
    "ExternalWebhookDelivery": (
        ("PROVIDER", "spec.providerRef"),
        ("EVENT", "spec.eventType"),
        ("ACTION", "spec.action"),
        ("VERIFIED", "spec.signature.verified"),
        ("PHASE", "spec.processing.phase"),
        ("ATTEMPTS", "spec.processing.attempts"),
    ),
    "ExternalSyncEvent": (
        ("PROVIDER", "spec.providerRef"),
        ("INTERFACE", "spec.interface"),
        ("RESOURCE", "spec.resourceKind"),
        ("NATIVE-ID", "spec.nativeId"),
        ("ACTION", "spec.action"),
    ),
    "ExternalSyncState": (
        ("PROVIDER", "spec.providerRef"),
        ("BINDING", "spec.bindingRef"),
        ("INTERFACE", "spec.interface"),
        ("RESOURCE", "spec.resourceKind"),
        ("SCOPE", "spec.scope"),
        ("PHASE", "status.phase"),
        ("QUEUE", "status.queueDepth"),
    ),
    "ExternalWriteIntent": (
        ("PROVIDER", "spec.providerRef"),
        ("OPERATION", "spec.operation"),
        ("ACTOR", "spec.source.actor"),
        ("PHASE", "status.phase"),
    ),
    "ExternalSyncConflict": (
        ("PROVIDER", "spec.providerRef"),
        ("RESOURCE", "spec.target.kind"),
        ("TARGET", "spec.target.name"),
        ("PHASE", "status.phase"),
    ),
    "ExternalObjectLink": (
        ("BINDING", "spec.bindingRef"),
        ("KIND", "spec.localRef.kind"),
        ("LOCAL", "spec.localRef.name"),
        ("NATIVE-ID", "spec.external.nativeId"),
        ("URL", "spec.external.url"),
        ("PHASE", "status.phase"),
    ),
}
