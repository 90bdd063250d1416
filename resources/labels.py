"""The labels every resource carries, so the UI, the CLI and the Temporal Web UI can filter."""

from __future__ import annotations

from collections.abc import Iterable

from resources.interfaces import INTERFACE_ORDER, Interface

LABEL_ORG = "krate.a5c.ai/org"
LABEL_PROVIDER = "krate.a5c.ai/provider"
LABEL_INTERFACE = "krate.a5c.ai/interface"
LABEL_REPOSITORY = "krate.a5c.ai/repository"
LABEL_EXTERNAL_OWNER = "krate.a5c.ai/external-owner"

REQUIRED_LABELS = (LABEL_ORG, LABEL_PROVIDER, LABEL_INTERFACE)
"""Always required; the repository and external-owner labels only when known."""

INTERFACE_SEPARATOR = "."
"""Joins several interfaces in one label value (commas are not allowed in label values)."""


def interface_label_value(interfaces: Iterable[Interface | str]) -> str:
    """`issueTracking`, or `issueTracking.cicd.gitForge` for a resource that spans several."""
    wanted = {Interface(i) for i in interfaces}
    return INTERFACE_SEPARATOR.join(i.value for i in INTERFACE_ORDER if i in wanted)


def interfaces_from_label(value: str) -> list[Interface]:
    return [Interface(part) for part in value.split(INTERFACE_SEPARATOR) if part]


def required_labels(
    *,
    org: str,
    provider: str,
    interfaces: Iterable[Interface | str] = (),
    repository: str | None = None,
    external_owner: str | None = None,
) -> dict[str, str]:
    """The spec's required labels for one resource; optional ones only when their value is known."""
    labels = {LABEL_ORG: org, LABEL_PROVIDER: provider}
    interface_value = interface_label_value(interfaces)
    if interface_value:
        labels[LABEL_INTERFACE] = interface_value
    if repository:
        labels[LABEL_REPOSITORY] = repository
    if external_owner:
        labels[LABEL_EXTERNAL_OWNER] = external_owner
    return labels


def labels_for(resource: object, *, repository: str | None = None) -> dict[str, str]:
    """Required labels computed from a resource's own fields.

    `repository` names the Krate repository for resources that do not carry it themselves
    (a binding whose target is a Repository does). A sync policy spans its provider's interfaces,
    so it gets no interface label from here.
    """
    # Imported here: the models do not need labels, and labels should stay importable alone.
    from resources import aggregated, config

    interfaces: list[Interface] = []
    owner: str | None = None
    if isinstance(resource, config.ExternalBackendProvider):
        org, provider = resource.spec.organization_ref, resource.metadata.name
        interfaces = resource.spec.capabilities.enabled()
    elif isinstance(resource, config.ExternalBackendBinding):
        spec = resource.spec
        org, provider = spec.organization_ref, spec.provider_ref
        interfaces = list(spec.interfaces.enabled())
        if repository is None and spec.target_ref.kind == "Repository":
            repository = spec.target_ref.name
        ext = spec.external_ref
        owner = ext.owner or ext.workspace or ext.organization
    elif isinstance(resource, config.ExternalBackendSyncPolicy):
        org, provider = resource.spec.organization_ref, resource.spec.provider_ref
    elif isinstance(resource, aggregated.ExternalWebhookDelivery):
        org, provider = resource.spec.organization_ref, resource.spec.provider_ref
        interfaces = list(resource.spec.interface_hints)
        owner = resource.spec.source.owner
    elif isinstance(
        resource,
        aggregated.ExternalSyncEvent | aggregated.ExternalSyncState | aggregated.ExternalObjectLink,
    ):
        org, provider = resource.spec.organization_ref, resource.spec.provider_ref
        interface = (
            resource.spec.external.interface
            if isinstance(resource, aggregated.ExternalObjectLink)
            else resource.spec.interface
        )
        interfaces = [interface]
    elif isinstance(resource, aggregated.ExternalWriteIntent):
        org, provider = resource.spec.organization_ref, resource.spec.provider_ref
        interfaces = [resource.spec.interface]
        found = resource.spec.native_target.get("owner")
        owner = found if isinstance(found, str) else None
    elif isinstance(resource, aggregated.ExternalSyncConflict):
        org, provider = resource.spec.organization_ref, resource.spec.provider_ref
        interfaces = [resource.spec.interface] if resource.spec.interface else []
    else:
        raise TypeError(f"not a krate.a5c.ai resource: {type(resource).__name__}")
    return required_labels(
        org=org,
        provider=provider,
        interfaces=interfaces,
        repository=repository,
        external_owner=owner,
    )
