"""The spec's validation rules, applied to loaded manifests (and to resources already applied).

`validate` never raises: it returns every Issue found. Rule ids (Issue.rule):

1. `provider-type`        providerType is registered, or `custom` with an explicit adapterRef
2. `interface-supported`  an enabled interface is offered by the provider type (and the provider)
3. `same-org`             binding target, provider and namespace belong to the same organization
4. `secret-namespace`     Secrets are referenced in the organization's namespace only
5. `write-mode`           modes, write policy and intent operations match the type's operations
6. `webhook-secret`       a webhook endpoint has a verification secret, or a signed alternative
7. `no-raw-secrets`       an ExternalWriteIntent holds Secret refs, never credential values
plus `duplicate` (error), `reference` (warning: a ref that resolves nowhere) and `labels` (error:
a required label that contradicts the spec).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resources.aggregated import ExternalWriteIntent
from resources.config import (
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
)
from resources.interfaces import READ_MODES, Interface, InterfaceMode
from resources.issues import Issue, Severity, with_hint
from resources.labels import labels_for
from resources.loader import LoadResult, Manifest
from resources.provider_type import CUSTOM_PROVIDER_TYPE, ProviderTypeDescriptor, ProviderTypeLookup
from resources.secret_scan import find_raw_secrets, join_path
from resources.wire import org_namespace

RULE_PROVIDER_TYPE = "provider-type"
RULE_INTERFACE = "interface-supported"
RULE_SAME_ORG = "same-org"
RULE_SECRET_NAMESPACE = "secret-namespace"
RULE_WRITE_MODE = "write-mode"
RULE_WEBHOOK_SECRET = "webhook-secret"
RULE_RAW_SECRET = "no-raw-secrets"
RULE_DUPLICATE = "duplicate"
RULE_REFERENCE = "reference"
RULE_LABELS = "labels"
RULE_SYNC_MODE = "sync-mode"
RULE_EXTERNAL_REF = "external-ref"


def validate(
    manifests: Sequence[Manifest] | LoadResult,
    registry: ProviderTypeLookup,
    known: Iterable[Manifest] = (),
) -> list[Issue]:
    """Check `manifests` (or the manifests of a LoadResult) against the spec's rules.

    `known` are resources already applied (for example read back from the cluster or the store):
    they resolve references, so a binding applied alone still finds its provider, but they are
    not themselves checked. Input manifests replace known ones with the same kind/namespace/name.
    """
    if isinstance(manifests, LoadResult):
        manifests = manifests.manifests
    checker = _Checker(manifests, registry, known)
    return checker.run()


@dataclass
class _Report:
    manifest: Manifest
    issues: list[Issue]

    def add(
        self,
        rule: str,
        field: str | None,
        message: str,
        fix: str | None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        m = self.manifest
        self.issues.append(
            Issue(rule, message, fix, field, m.source, m.kind, m.name, severity=severity)
        )


class _Checker:
    def __init__(
        self,
        manifests: Sequence[Manifest],
        registry: ProviderTypeLookup,
        known: Iterable[Manifest],
    ) -> None:
        self.manifests = list(manifests)
        self.registry = registry
        self.issues: list[Issue] = []
        # Providers by (namespace, name); input wins over what is already applied.
        self.providers: dict[tuple[str, str], Manifest] = {}
        for manifest in [*known, *self.manifests]:
            if isinstance(manifest.model, ExternalBackendProvider):
                self.providers[(manifest.effective_namespace, manifest.name)] = manifest

    def run(self) -> list[Issue]:
        self._duplicates()
        for manifest in self.manifests:
            report = _Report(manifest, self.issues)
            self._namespace(report)
            self._labels(report)
            model = manifest.model
            if isinstance(model, ExternalBackendProvider):
                self._provider(report, model)
            elif isinstance(model, ExternalBackendBinding):
                self._binding(report, model)
            elif isinstance(model, ExternalBackendSyncPolicy):
                self._sync_policy(report, model)
            elif isinstance(model, ExternalWriteIntent):
                self._write_intent(report, model)
        return self.issues

    # --- every kind ---------------------------------------------------------------------------

    def _duplicates(self) -> None:
        seen: dict[tuple[str, str, str], Manifest] = {}
        for manifest in self.manifests:
            first = seen.setdefault(manifest.key, manifest)
            if first is manifest:
                continue
            kind, namespace, name = manifest.key
            _Report(manifest, self.issues).add(
                RULE_DUPLICATE,
                "metadata.name",
                f"{kind} {namespace}/{name} is defined twice; the first definition is in "
                f"{first.source.path} ({first.source.describe()})",
                "keep one definition, or rename one of them",
            )

    def _namespace(self, report: _Report) -> None:
        manifest = report.manifest
        expected = org_namespace(manifest.organization)
        if manifest.namespace is not None and manifest.namespace != expected:
            report.add(
                RULE_SAME_ORG,
                "metadata.namespace",
                f'namespace "{manifest.namespace}" is not the namespace of organization '
                f'"{manifest.organization}" ({expected})',
                f"set metadata.namespace to {expected} or leave it out",
            )

    def _labels(self, report: _Report) -> None:
        given = report.manifest.model.metadata.labels
        for key, wanted in labels_for(report.manifest.model).items():
            if key in given and given[key] != wanted:
                report.add(
                    RULE_LABELS,
                    join_path("metadata.labels", key),
                    f'label {key} is "{given[key]}" but the resource says "{wanted}"',
                    f'set it to "{wanted}" or leave it out (it is set on apply)',
                )

    def _secret_namespaces(self, report: _Report) -> None:
        org = report.manifest.organization
        expected = org_namespace(org)
        for path, ref in _secret_refs(report.manifest.raw.get("spec"), "spec"):
            namespace = ref.get("namespace")
            if namespace is not None and namespace != expected:
                report.add(
                    RULE_SECRET_NAMESPACE,
                    f"{path}.namespace",
                    f'Secret "{ref.get("name")}" is in namespace "{namespace}"; the Secrets of '
                    f'organization "{org}" must be in {expected}',
                    f"move the Secret to {expected} and set {path}.namespace to it "
                    "(or leave it out)",
                )

    # --- provider -----------------------------------------------------------------------------

    def _provider(self, report: _Report, provider: ExternalBackendProvider) -> None:
        spec = provider.spec
        self._secret_namespaces(report)
        descriptor = self.registry.find(spec.provider_type)
        if descriptor is None:
            names = self.registry.names()
            close = difflib.get_close_matches(spec.provider_type, names, n=1)
            report.add(
                RULE_PROVIDER_TYPE,
                "spec.providerType",
                f'provider type "{spec.provider_type}" is not in the registry',
                with_hint(
                    close,
                    f"use one of: {', '.join(names)}; for anything else use "
                    f'"{CUSTOM_PROVIDER_TYPE}" with spec.adapterRef',
                ),
            )
        else:
            self._provider_type_details(report, provider, descriptor)
            for interface in spec.capabilities.enabled():
                if not descriptor.offers(interface):
                    report.add(
                        RULE_INTERFACE,
                        f"spec.capabilities.{interface.value}",
                        f'provider type "{descriptor.provider_type}" does not offer the '
                        f"{interface.value} interface (it offers {_offered(descriptor)})",
                        f"remove spec.capabilities.{interface.value} or set it to false",
                    )
        if not spec.capabilities.enabled():
            report.add(
                RULE_INTERFACE,
                "spec.capabilities",
                "the provider enables no interface, so nothing will be synced",
                "set spec.capabilities.issueTracking, cicd or gitForge to true",
                Severity.WARNING,
            )
        self._webhook(report, provider, descriptor)

    def _provider_type_details(
        self,
        report: _Report,
        provider: ExternalBackendProvider,
        descriptor: ProviderTypeDescriptor,
    ) -> None:
        spec = provider.spec
        type_name = descriptor.provider_type
        if descriptor.requires_adapter_ref and spec.adapter_ref is None:
            report.add(
                RULE_PROVIDER_TYPE,
                "spec.adapterRef",
                f'provider type "{type_name}" needs an explicit adapter',
                "add spec.adapterRef.name naming the adapter plugin that serves this provider",
            )
        if (
            spec.hosting is not None
            and descriptor.hosting
            and spec.hosting not in descriptor.hosting
        ):
            report.add(
                RULE_PROVIDER_TYPE,
                "spec.hosting",
                f'provider type "{type_name}" has no hosting "{spec.hosting}"',
                f"use one of: {', '.join(descriptor.hosting)}",
            )
        mode = spec.auth_ref.mode
        if mode is not None and descriptor.auth_modes and mode not in descriptor.auth_modes:
            report.add(
                RULE_PROVIDER_TYPE,
                "spec.authRef.mode",
                f'provider type "{type_name}" has no auth mode "{mode}"',
                f"use one of: {', '.join(descriptor.auth_modes)}",
            )

    def _webhook(
        self,
        report: _Report,
        provider: ExternalBackendProvider,
        descriptor: ProviderTypeDescriptor | None,
    ) -> None:
        webhook = provider.spec.webhook
        if webhook is None or not webhook.enabled or webhook.secret_ref is not None:
            return
        auth_mode = provider.spec.auth_ref.mode
        if descriptor is not None and descriptor.secret_optional(auth_mode):
            return
        org_ns = org_namespace(provider.spec.organization_ref)
        explain = ""
        if descriptor is not None:
            signature = descriptor.webhook_signature
            header = f" ({signature.header})" if signature.header else ""
            explain = (
                f'; provider type "{descriptor.provider_type}" authenticates deliveries with '
                f"{signature.scheme.value}{header}"
            )
            alternative = signature.signed_alternative
            if alternative is not None and alternative.auth_modes:
                explain += (
                    f", and signs them without a webhook secret only for auth modes "
                    f"{', '.join(alternative.auth_modes)}"
                )
        report.add(
            RULE_WEBHOOK_SECRET,
            "spec.webhook.secretRef",
            f"the webhook endpoint has no verification secret{explain}",
            f"add spec.webhook.secretRef (name and key of a Secret in {org_ns}), "
            "or set spec.webhook.enabled to false",
        )

    # --- binding ------------------------------------------------------------------------------

    def _resolve_provider(self, report: _Report, field: str, provider_ref: str) -> Manifest | None:
        manifest = report.manifest
        found = self.providers.get((manifest.effective_namespace, provider_ref))
        if found is not None:
            if found.organization != manifest.organization:
                report.add(
                    RULE_SAME_ORG,
                    field,
                    f'provider "{provider_ref}" belongs to organization "{found.organization}", '
                    f'not "{manifest.organization}"',
                    "reference a provider of the same organization",
                )
                return None
            return found
        elsewhere = [m for (_, name), m in self.providers.items() if name == provider_ref]
        if elsewhere:
            other = elsewhere[0]
            report.add(
                RULE_SAME_ORG,
                field,
                f'provider "{provider_ref}" belongs to organization "{other.organization}" '
                f'({other.effective_namespace}), not "{manifest.organization}"',
                f"reference a provider in {manifest.effective_namespace}",
            )
            return None
        report.add(
            RULE_REFERENCE,
            field,
            f'provider "{provider_ref}" is neither in this input nor already applied in '
            f"{manifest.effective_namespace}",
            "apply the ExternalBackendProvider first or together with this resource, "
            "or correct the name",
            Severity.WARNING,
        )
        return None

    def _descriptor_of(self, provider: Manifest) -> ProviderTypeDescriptor | None:
        assert isinstance(provider.model, ExternalBackendProvider)
        return self.registry.find(provider.model.spec.provider_type)

    def _binding(self, report: _Report, binding: ExternalBackendBinding) -> None:
        spec = binding.spec
        org = spec.organization_ref
        target = spec.target_ref
        if target.organization_ref is not None and target.organization_ref != org:
            report.add(
                RULE_SAME_ORG,
                "spec.targetRef.organizationRef",
                f'the target is in organization "{target.organization_ref}", the binding in "{org}"',
                f"bind a {target.kind} of organization {org}, or leave "
                "spec.targetRef.organizationRef out",
            )
        if target.namespace is not None and target.namespace != org_namespace(org):
            report.add(
                RULE_SAME_ORG,
                "spec.targetRef.namespace",
                f'the target is in namespace "{target.namespace}", outside organization "{org}"',
                f"bind a {target.kind} in {org_namespace(org)}, or leave "
                "spec.targetRef.namespace out",
            )
        enabled = spec.interfaces.enabled()
        if not enabled:
            report.add(
                RULE_INTERFACE,
                "spec.interfaces",
                "the binding enables no interface, so nothing will be synced",
                "enable at least one of spec.interfaces.issueTracking, cicd or gitForge",
                Severity.WARNING,
            )
        self._external_ref(report, binding)
        provider = self._resolve_provider(report, "spec.providerRef", spec.provider_ref)
        if provider is None:
            return
        assert isinstance(provider.model, ExternalBackendProvider)
        descriptor = self._descriptor_of(provider)
        capabilities = provider.model.spec.capabilities
        for interface, chosen in enabled.items():
            base = f"spec.interfaces.{interface.value}"
            if descriptor is not None and not descriptor.offers(interface):
                report.add(
                    RULE_INTERFACE,
                    f"{base}.enabled",
                    f'provider "{provider.name}" is of type "{descriptor.provider_type}", which '
                    f"does not offer the {interface.value} interface (it offers "
                    f"{_offered(descriptor)})",
                    f"remove {base} or set {base}.enabled to false",
                )
                continue
            if not capabilities.is_enabled(interface):
                report.add(
                    RULE_INTERFACE,
                    f"{base}.enabled",
                    f'provider "{provider.name}" does not enable the {interface.value} interface '
                    f"(its spec.capabilities.{interface.value} is not true)",
                    f"set spec.capabilities.{interface.value}: true on the provider, or set "
                    f"{base}.enabled to false",
                )
            if descriptor is not None:
                self._binding_mode(report, descriptor, interface, chosen.mode.value, base)

    def _external_ref(self, report: _Report, binding: ExternalBackendBinding) -> None:
        """A binding must say what it syncs: a repository (owner and name), every repository
        of an owner (owner alone, or `repository: "*"`), or a provider's own scope (project,
        workspace, pipelines). Otherwise it would validate and then sync nothing."""
        ref = binding.spec.external_ref
        if ref.repository and not ref.owner:
            report.add(
                RULE_EXTERNAL_REF,
                "spec.externalRef.owner",
                f'repository "{ref.repository}" is named without its owner',
                "add spec.externalRef.owner (the organisation or user that owns it)",
            )
        elif not any(
            (ref.owner, ref.project, ref.project_id, ref.project_keys, ref.workspace, ref.pipelines)
        ):
            report.add(
                RULE_EXTERNAL_REF,
                "spec.externalRef",
                "the binding names no repository, owner, project or pipeline, so nothing "
                "would be synced",
                "set spec.externalRef.owner and repository for one repository, or owner alone "
                "for every repository the credentials see in that owner",
                Severity.WARNING,
            )

    def _binding_mode(
        self,
        report: _Report,
        descriptor: ProviderTypeDescriptor,
        interface: Interface,
        mode: str,
        base: str,
    ) -> None:
        allowed = [m.value for m in descriptor.modes(interface)]
        type_name = descriptor.provider_type
        writes = mode not in {m.value for m in READ_MODES}
        if (
            writes
            and not descriptor.requires_adapter_ref
            and not descriptor.write_operations(interface)
        ):
            # Said first because it explains why the mode is missing from the type's list.
            report.add(
                RULE_WRITE_MODE,
                f"{base}.mode",
                f'mode "{mode}" writes to the provider, but provider type "{type_name}" has no '
                f"{interface.value} write operation",
                f"use one of: {', '.join(m for m in allowed if m not in _writing_modes())}",
            )
        elif mode not in allowed:
            report.add(
                RULE_WRITE_MODE,
                f"{base}.mode",
                f'mode "{mode}" is not supported for {interface.value} by provider type '
                f'"{type_name}"',
                f"use one of: {', '.join(allowed)}",
            )

    # --- sync policy --------------------------------------------------------------------------

    def _sync_policy(self, report: _Report, policy: ExternalBackendSyncPolicy) -> None:
        spec = policy.spec
        if not spec.webhook_first and not spec.backfill.enabled:
            report.add(
                RULE_SYNC_MODE,
                "spec.webhookFirst",
                "webhookFirst: false makes polling the primary path, but backfill.enabled is "
                "false: nothing polls, and only webhooks will sync",
                "set spec.backfill.enabled to true, or spec.webhookFirst to true",
                Severity.WARNING,
            )
        provider = self._resolve_provider(report, "spec.providerRef", spec.provider_ref)
        if provider is None or spec.write_policy.default_mode.value == "read-only":
            return
        descriptor = self._descriptor_of(provider)
        if descriptor is None or descriptor.requires_adapter_ref:
            return
        assert isinstance(provider.model, ExternalBackendProvider)
        enabled = provider.model.spec.capabilities.enabled() or descriptor.offered_interfaces()
        if not descriptor.has_write_operations(enabled):
            scope = ", ".join(i.value for i in enabled)
            report.add(
                RULE_WRITE_MODE,
                "spec.writePolicy.defaultMode",
                f'write mode "{spec.write_policy.default_mode.value}" needs write operations, '
                f'but provider type "{descriptor.provider_type}" has none for {scope}',
                "set spec.writePolicy.defaultMode to read-only",
            )

    # --- write intent -------------------------------------------------------------------------

    def _write_intent(self, report: _Report, intent: ExternalWriteIntent) -> None:
        org_ns = org_namespace(intent.spec.organization_ref)
        raw = report.manifest.raw
        scanned: list[tuple[Any, str]] = [(raw.get("spec"), "spec")]
        metadata = raw.get("metadata")
        if isinstance(metadata, Mapping):
            scanned.append((metadata.get("annotations"), "metadata.annotations"))
        for value, path in scanned:
            for finding in find_raw_secrets(value, path):
                report.add(
                    RULE_RAW_SECRET,
                    finding.path,
                    f"a write intent must not carry Secret values: {finding.reason}",
                    f"remove the value and reference a Secret in {org_ns} instead "
                    "(secretRef with name and key); rotate the credential if it was real",
                )
        spec = intent.spec
        provider = self._resolve_provider(report, "spec.providerRef", spec.provider_ref)
        if provider is None:
            return
        descriptor = self._descriptor_of(provider)
        if descriptor is None or descriptor.requires_adapter_ref:
            return
        interface = spec.interface
        if not descriptor.offers(interface):
            report.add(
                RULE_INTERFACE,
                "spec.interface",
                f'provider type "{descriptor.provider_type}" does not offer the '
                f"{interface.value} interface (it offers {_offered(descriptor)})",
                f"send this intent to a provider that offers {interface.value}",
            )
            return
        writes = descriptor.write_operations(interface)
        if spec.operation in writes:
            return
        if spec.operation in descriptor.read_operations(interface):
            problem = f'"{spec.operation}" is a read operation; write intents carry writes only'
        else:
            problem = (
                f'provider type "{descriptor.provider_type}" has no {interface.value} write '
                f'operation "{spec.operation}"'
            )
        close = difflib.get_close_matches(spec.operation, writes, n=1)
        report.add(
            RULE_WRITE_MODE,
            "spec.operation",
            problem,
            with_hint(
                close, f"use one of: {', '.join(writes) or '(none: the interface is read-only)'}"
            ),
        )


def _writing_modes() -> set[str]:
    return {m.value for m in InterfaceMode if m.writes_to_provider}


def _offered(descriptor: ProviderTypeDescriptor) -> str:
    return ", ".join(i.value for i in descriptor.offered_interfaces())


def _secret_refs(value: object, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every mapping under a key ending in `secretRef` (authRef.secretRef, webhook.secretRef,
    webhook.previousSecretRef, and any added later)."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}"
            if str(key).lower().endswith("secretref") and isinstance(child, Mapping):
                yield child_path, child
            yield from _secret_refs(child, child_path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _secret_refs(child, f"{path}[{index}]")
