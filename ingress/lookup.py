"""What a delivery needs from the applied config: its provider, its binding, the workflow config,
and the webhook secrets (resolved from files, never logged, never sent to Temporal).

Secret refs resolve to files `<secrets_dir>/<namespace>/<name>/<key>` (the layout of a mounted
Kubernetes Secret, one directory per Secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from activities.deliveries import namespace_of
from providers.webhooks import SecretSet
from resources.config import (
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
)
from store.resources import get_resources
from workflows.binding_sync import BindingSyncConfig


class SecretUnavailable(Exception):
    """The webhook secret is not configured or its file cannot be read (fail closed: 500)."""


@dataclass(frozen=True)
class ProviderInfo:
    org: str
    namespace: str
    name: str
    provider_type: str
    manifest: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.manifest.get("spec") or {}
        return spec

    @property
    def webhook(self) -> dict[str, Any]:
        webhook: dict[str, Any] = self.spec.get("webhook") or {}
        return webhook

    @property
    def webhook_configured(self) -> bool:
        """Whether the manifest has a `spec.webhook` block at all (it is optional)."""
        return self.spec.get("webhook") is not None

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook.get("enabled", True))


def load_provider(session: Session, org: str, name: str) -> ProviderInfo | None:
    namespace = namespace_of(org)
    found = get_resources(session, "ExternalBackendProvider", namespace, name)
    if not found:
        return None
    manifest = found[0]
    return ProviderInfo(
        org=org,
        namespace=namespace,
        name=name,
        provider_type=str(manifest["spec"].get("providerType", "")),
        manifest=manifest,
    )


def find_binding(
    session: Session, provider: ProviderInfo, repository: str | None
) -> dict[str, Any] | None:
    """The binding of `provider` whose externalRef names `repository` ("owner/name")."""
    if repository is None:
        return None
    owner, _, name = repository.partition("/")
    bindings = get_resources(session, "ExternalBackendBinding", provider.namespace)
    return bindings_by_repository(provider, bindings).get(binding_key(owner, name))


def bindings_by_repository(
    provider: ProviderInfo, bindings: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The provider's bindings by `binding_key` of their externalRef (the first one wins, in
    the store's name order, as a linear search would find it)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for binding in bindings:
        spec = binding["spec"]
        if spec.get("providerRef") != provider.name:
            continue
        ref = spec.get("externalRef") or {}
        key = binding_key(str(ref.get("owner", "")), str(ref.get("repository", "")))
        found.setdefault(key, binding)
    return found


def load_binding(session: Session, org: str, name: str) -> dict[str, Any] | None:
    found = get_resources(session, "ExternalBackendBinding", namespace_of(org), name)
    return found[0] if found else None


def sync_config(
    session: Session, provider: ProviderInfo, binding: dict[str, Any]
) -> BindingSyncConfig:
    """The BindingSyncWorkflow config for a binding, exactly as `krate-sync apply` plans it.

    Used as the start input of signal-with-start; a running workflow keeps its own config.
    """
    policies = get_resources(session, "ExternalBackendSyncPolicy", provider.namespace)
    return plan_config(provider, binding, policies)


def plan_config(
    provider: ProviderInfo, binding: dict[str, Any], policies: Sequence[dict[str, Any]]
) -> BindingSyncConfig:
    """`sync_config` without the database: `policies` are the namespace's sync policies (the
    first one naming the provider applies)."""
    from resources.loader import manifest_from_dict
    from starter.reconcile import plan_binding

    policy = next(
        (doc for doc in policies if doc["spec"].get("providerRef") == provider.name),
        None,
    )
    typed_binding = manifest_from_dict(binding, source="stored").model
    typed_provider = manifest_from_dict(provider.manifest, source="stored").model
    typed_policy = manifest_from_dict(policy, source="stored").model if policy else None
    assert isinstance(typed_binding, ExternalBackendBinding)
    assert isinstance(typed_provider, ExternalBackendProvider)
    assert typed_policy is None or isinstance(typed_policy, ExternalBackendSyncPolicy)
    plan = plan_binding(
        typed_binding,
        typed_provider,
        typed_policy,
        generation=int(binding["metadata"].get("generation") or 1),
    )
    return plan.config


def binding_key(owner: str, repository: str) -> tuple[str, str]:
    """How bindings are matched to a payload's repository: case-insensitively, as GitHub does."""
    return owner.lower(), repository.lower()


# -------------------------------------------------------------------------------- secrets


def read_secret(secrets_dir: Path, namespace: str, ref: dict[str, Any]) -> str:
    """One key of a Secret, through the activities' resolver (same layout, same checks)."""
    from activities.secrets import ConfigurationError, SecretRef, require_key
    from activities.secrets import read_secret as read_values

    name, key = ref.get("name"), ref.get("key")
    if not name or not key:
        raise SecretUnavailable("webhook secretRef needs a name and a key")
    secret = SecretRef(namespace=namespace, name=str(name))
    try:
        return require_key(read_values(secrets_dir, secret), str(key), secret, secrets_dir)
    except ConfigurationError as error:
        raise SecretUnavailable(str(error)) from None


def secret_files(secrets_dir: Path, provider: ProviderInfo) -> list[Path]:
    """The files `secret_set` reads (current, then previous), for change detection."""
    from activities.secrets import ConfigurationError, SecretRef, secret_path

    files: list[Path] = []
    for field_name in ("secretRef", "previousSecretRef"):
        ref = provider.webhook.get(field_name) or {}
        name, key = ref.get("name"), ref.get("key")
        if not name or not key:
            continue
        namespace = str(ref.get("namespace") or provider.namespace)
        try:
            files.append(
                secret_path(secrets_dir, SecretRef(namespace=namespace, name=str(name))) / str(key)
            )
        except ConfigurationError:  # an unsafe name: secret_set refuses it with its message
            continue
    return files


def secret_set(secrets_dir: Path, provider: ProviderInfo) -> SecretSet:
    """The provider's webhook secrets: current, and previous with its rotation deadline."""
    webhook = provider.webhook
    current_ref = webhook.get("secretRef")
    if not current_ref:
        raise SecretUnavailable(
            f"provider {provider.name} has no spec.webhook.secretRef: deliveries cannot be "
            "verified, so none are accepted"
        )
    current = read_secret(
        secrets_dir, current_ref.get("namespace") or provider.namespace, current_ref
    )
    previous_ref = webhook.get("previousSecretRef")
    until = _previous_valid_until(provider)
    if not previous_ref or until is None:
        return SecretSet(current)
    try:
        previous = read_secret(
            secrets_dir, previous_ref.get("namespace") or provider.namespace, previous_ref
        )
    except SecretUnavailable:
        return SecretSet(current)  # the old Secret may already be gone: only current counts
    return SecretSet(current, previous, until)


def _previous_valid_until(provider: ProviderInfo) -> datetime | None:
    raw = provider.webhook.get("previousSecretValidUntil")
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
