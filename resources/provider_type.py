"""One entry of the provider type registry: what a kind of provider offers.

Entries are data (one YAML file per provider type, see docs/resources.md); this model is their
schema. Unknown fields are refused so that a typo in a registry file is caught when it loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field, model_validator

from resources.durations import Duration
from resources.interfaces import ALL_MODES, INTERFACE_ORDER, READ_MODES, Interface, InterfaceMode
from resources.wire import WireModel

CUSTOM_PROVIDER_TYPE = "custom"


class WebhookScheme(StrEnum):
    """How a provider lets the receiver check that a delivery is genuine."""

    HMAC_SHA256 = "hmac-sha256"
    HMAC_SHA1 = "hmac-sha1"
    TOKEN = "token"
    """A shared token sent as is, in a header or in the endpoint URL."""
    BASIC_AUTH = "basic-auth"
    JWT = "jwt"
    NONE = "none"
    ADAPTER_DEFINED = "adapter-defined"


class WebhookVerification(WireModel):
    scheme: WebhookScheme
    header: str | None = None
    query_parameter: str | None = None
    format: str | None = None
    """How the header value looks, e.g. `sha256=<hex>`."""
    signed_content: str | None = None
    """What the signature covers when it is more than the raw body, e.g. `<timestamp>.<body>`."""
    timestamp_source: str | None = None
    timestamp_tolerance: Duration | None = None
    """Deliveries older than this are refused (replay protection)."""
    description: str | None = None


class SignedAlternative(WebhookVerification):
    """A way the provider signs deliveries without a webhook secret that Krate must hold.

    When `auth_modes` is not empty, the alternative only exists for providers using one of them.
    """

    auth_modes: list[str] = Field(default_factory=list)


class WebhookSignature(WebhookVerification):
    alternatives: list[WebhookVerification] = Field(default_factory=list)
    """Other secret-based schemes the provider offers."""
    signed_alternative: SignedAlternative | None = None
    form_field: str | None = None
    """Hooks may also POST `application/x-www-form-urlencoded` bodies whose field of this name
    holds the JSON document, with the signature over the form body as sent (GitHub: `payload`).
    Unset: only JSON bodies are accepted."""

    @model_validator(mode="before")
    @classmethod
    def _scheme_shorthand(cls, data: Any) -> Any:
        # The spec's example writes `webhookSignature: hmac-sha256`.
        return {"scheme": data} if isinstance(data, str) else data


class InterfaceCapability(WireModel):
    """Modes and operations of one interface of a provider type."""

    modes: list[InterfaceMode] = Field(default_factory=lambda: list(READ_MODES), min_length=1)
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)


class ProviderTypeDescriptor(WireModel):
    provider_type: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    display_name: str | None = None
    description: str | None = None
    interfaces: list[Interface] = Field(min_length=1)
    hosting: list[str] = Field(default_factory=list)
    auth_modes: list[str] = Field(default_factory=list)
    webhook_signature: WebhookSignature
    supports_rest: bool = True
    supports_graphql: bool = False
    capabilities: dict[Interface, InterfaceCapability] = Field(default_factory=dict)
    requires_adapter_ref: bool = False
    """The provider must name its adapter (`spec.adapterRef`); the adapter declares the
    operations, so validation does not check operation names for this type."""
    docs_url: str | None = None
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ProviderTypeDescriptor:
        if len(set(self.interfaces)) != len(self.interfaces):
            raise ValueError("interfaces lists an interface twice")
        stray = [i.value for i in self.capabilities if i not in self.interfaces]
        if stray:
            raise ValueError(
                f"capabilities describes {', '.join(stray)}, which is not in interfaces"
            )
        for interface, capability in self.capabilities.items():
            writing = [m.value for m in capability.modes if m.writes_to_provider]
            if writing and not capability.write and not self.requires_adapter_ref:
                raise ValueError(
                    f"capabilities.{interface.value} allows {', '.join(writing)} "
                    "but lists no write operations"
                )
        return self

    @property
    def title(self) -> str:
        return self.display_name or self.provider_type

    def offers(self, interface: Interface) -> bool:
        return interface in self.interfaces

    def capability(self, interface: Interface) -> InterfaceCapability:
        """Details of an offered interface; without details, read modes and no operations."""
        found = self.capabilities.get(interface)
        if found is not None:
            return found
        if self.requires_adapter_ref:
            return InterfaceCapability(modes=list(ALL_MODES))
        return InterfaceCapability()

    def modes(self, interface: Interface) -> list[InterfaceMode]:
        return self.capability(interface).modes if self.offers(interface) else []

    def read_operations(self, interface: Interface) -> list[str]:
        return self.capability(interface).read if self.offers(interface) else []

    def write_operations(self, interface: Interface) -> list[str]:
        return self.capability(interface).write if self.offers(interface) else []

    def has_write_operations(self, interfaces: Iterable[Interface] | None = None) -> bool:
        wanted = self.interfaces if interfaces is None else list(interfaces)
        return any(self.write_operations(i) for i in wanted)

    def offered_interfaces(self) -> list[Interface]:
        return [i for i in INTERFACE_ORDER if i in self.interfaces]

    def secret_optional(self, auth_mode: str | None) -> bool:
        """May a webhook endpoint do without a verification secret for this auth mode?"""
        alternative = self.webhook_signature.signed_alternative
        if alternative is None:
            return False
        return not alternative.auth_modes or auth_mode in alternative.auth_modes


class ProviderTypeLookup(Protocol):
    """What validation needs of a registry (providers.registry.ProviderTypeRegistry has it)."""

    def find(self, provider_type: str) -> ProviderTypeDescriptor | None: ...

    def names(self) -> list[str]: ...
