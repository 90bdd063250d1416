"""The three config kinds (stored as CRDs): provider, binding, sync policy."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from resources.durations import Duration, parse_duration
from resources.interfaces import (
    INTERFACE_ORDER,
    ConflictResolution,
    Interface,
    InterfaceMode,
    WritePolicyMode,
)
from resources.meta import Resource, Status
from resources.phases import ConfigPhase
from resources.refs import SecretKeyRef, SecretRef
from resources.wire import SpecModel


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"{value!r} is not an http(s) URL; write it like https://github.com")
    return value


class ConfigStatus(Status):
    phase: ConfigPhase | None = None


# --- ExternalBackendProvider -------------------------------------------------------------------


class AuthRef(SpecModel):
    """Credentials of a provider: a Secret ref, never a value."""

    mode: str | None = None
    """One of the provider type's `authModes` (github-app, oauth-user, token, ...)."""
    secret_ref: SecretRef


class Capabilities(SpecModel):
    """Interfaces enabled on a provider."""

    issue_tracking: bool = False
    cicd: bool = False
    git_forge: bool = False

    def enabled(self) -> list[Interface]:
        return [i for i in INTERFACE_ORDER if self.is_enabled(i)]

    def is_enabled(self, interface: Interface) -> bool:
        return bool(getattr(self, _FIELD_OF[interface]))


_FIELD_OF = {
    Interface.ISSUE_TRACKING: "issue_tracking",
    Interface.CICD: "cicd",
    Interface.GIT_FORGE: "git_forge",
}


class WebhookConfig(SpecModel):
    """The provider's webhook endpoint and the Secret that verifies its deliveries."""

    enabled: bool = True
    secret_ref: SecretKeyRef | None = None
    previous_secret_ref: SecretKeyRef | None = None
    """Still accepted while a new secret is rolled out on the provider side."""
    previous_secret_valid_until: datetime | None = None
    """End of the rotation window: the previous secret is refused after it (and without it)."""


class AdapterRef(SpecModel):
    """The adapter that speaks to a `custom` provider (registered as a plugin)."""

    name: str = Field(min_length=1)
    """Adapter name as registered (Python entry point group `krate_sync.adapters`)."""
    module: str | None = None
    """Optional `package.module:Class` to load instead of looking the name up."""


class ProviderSpec(SpecModel):
    organization_ref: str = Field(min_length=1)
    provider_type: str = Field(min_length=1)
    display_name: str | None = None
    hosting: str | None = None
    base_url: str | None = None
    api_base_url: str | None = None
    auth_ref: AuthRef
    capabilities: Capabilities = Field(default_factory=Capabilities)
    webhook: WebhookConfig | None = None
    adapter_ref: AdapterRef | None = None
    paused: bool = False

    _urls = field_validator("base_url", "api_base_url")(_http_url)


class ExternalBackendProvider(Resource):
    KIND: ClassVar[str] = "ExternalBackendProvider"
    CONFIG: ClassVar[bool] = True
    kind: Literal["ExternalBackendProvider"] = "ExternalBackendProvider"
    spec: ProviderSpec
    status: ConfigStatus = Field(default_factory=ConfigStatus)


# --- ExternalBackendBinding --------------------------------------------------------------------


class TargetRef(SpecModel):
    """The Krate resource the binding syncs into (a Repository, or an org-level work board)."""

    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)
    namespace: str | None = None
    organization_ref: str | None = None


class ExternalRef(SpecModel):
    """Where the data lives on the provider; which fields apply depends on the provider type."""

    owner: str | None = None
    repository: str | None = None
    installation_id: int | None = None
    project: str | None = None
    project_id: int | None = None
    project_keys: list[str] = Field(default_factory=list)
    team: str | None = None
    organization: str | None = None
    workspace: str | None = None
    pipelines: list[str] = Field(default_factory=list)
    jobs: list[str] = Field(default_factory=list)
    path: str | None = None


class InterfaceBinding(SpecModel):
    enabled: bool = True
    mode: InterfaceMode = InterfaceMode.MIRRORED


class BindingInterfaces(SpecModel):
    issue_tracking: InterfaceBinding | None = None
    cicd: InterfaceBinding | None = None
    git_forge: InterfaceBinding | None = None

    def get(self, interface: Interface) -> InterfaceBinding | None:
        value: InterfaceBinding | None = getattr(self, _FIELD_OF[interface])
        return value

    def enabled(self) -> dict[Interface, InterfaceBinding]:
        found = {i: self.get(i) for i in INTERFACE_ORDER}
        return {i: b for i, b in found.items() if b is not None and b.enabled}


class BindingSpec(SpecModel):
    organization_ref: str = Field(min_length=1)
    provider_ref: str = Field(min_length=1)
    target_ref: TargetRef
    external_ref: ExternalRef = Field(default_factory=ExternalRef)
    interfaces: BindingInterfaces = Field(default_factory=BindingInterfaces)
    paused: bool = False


class ExternalBackendBinding(Resource):
    KIND: ClassVar[str] = "ExternalBackendBinding"
    CONFIG: ClassVar[bool] = True
    kind: Literal["ExternalBackendBinding"] = "ExternalBackendBinding"
    spec: BindingSpec
    status: ConfigStatus = Field(default_factory=ConfigStatus)


# --- ExternalBackendSyncPolicy -----------------------------------------------------------------


class BackfillPolicy(SpecModel):
    enabled: bool = True
    interval: Duration = parse_duration("15m")
    full_resync_interval: Duration = parse_duration("24h")


class WritePolicy(SpecModel):
    default_mode: WritePolicyMode = WritePolicyMode.READ_ONLY
    agent_write_requires_approval: bool = True


class ConflictPolicy(SpecModel):
    default_resolution: ConflictResolution = ConflictResolution.MANUAL


class SyncPolicySpec(SpecModel):
    organization_ref: str = Field(min_length=1)
    provider_ref: str = Field(min_length=1)
    webhook_first: bool = True
    backfill: BackfillPolicy = Field(default_factory=BackfillPolicy)
    write_policy: WritePolicy = Field(default_factory=WritePolicy)
    conflict_policy: ConflictPolicy = Field(default_factory=ConflictPolicy)


class ExternalBackendSyncPolicy(Resource):
    KIND: ClassVar[str] = "ExternalBackendSyncPolicy"
    CONFIG: ClassVar[bool] = True
    kind: Literal["ExternalBackendSyncPolicy"] = "ExternalBackendSyncPolicy"
    spec: SyncPolicySpec
    status: ConfigStatus = Field(default_factory=ConfigStatus)


__all__ = [
    "AdapterRef",
    "AuthRef",
    "BackfillPolicy",
    "BindingInterfaces",
    "BindingSpec",
    "Capabilities",
    "ConfigStatus",
    "ConflictPolicy",
    "ExternalBackendBinding",
    "ExternalBackendProvider",
    "ExternalBackendSyncPolicy",
    "ExternalRef",
    "InterfaceBinding",
    "ProviderSpec",
    "SyncPolicySpec",
    "TargetRef",
    "WebhookConfig",
    "WritePolicy",
]
