"""Provider adapters for bindings, built once per worker and reused.

An adapter owns an `httpx.AsyncClient` (a connection pool) and, for GitHub Apps, the cached
installation token: building one per activity would pay a TLS handshake and a token exchange
per page. So the factory keeps one connected adapter per (provider type, provider, API base URL,
Secret ref, credentials digest) for the life of the worker. The digest makes a rotated Secret
take effect at the next activity without a worker restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr, ValidationError

from activities.backfill_models import BindingRef
from activities.secrets import ConfigurationError, SecretRef, read_secret, require_key
from providers.github import DEFAULT_BASE_URL, GitHubCredentials, GitHubProvider

SUPPORTED_PROVIDER_TYPES = ("github",)

# Tests inject a transport (httpx.MockTransport, ASGITransport over a simulator); production
# passes None and httpx opens real connections.
TransportFactory = Callable[[BindingRef], httpx.AsyncBaseTransport | None]


@dataclass(frozen=True)
class _Key:
    provider_type: str
    provider: str
    base_url: str
    secret: str
    digest: str


def secret_ref_of(binding: BindingRef) -> SecretRef:
    if not binding.auth_secret:
        raise ConfigurationError(
            f"binding {binding.namespace}/{binding.binding} names no auth Secret "
            f"(spec.auth.secretRef); the provider cannot be reached without credentials"
        )
    return SecretRef(binding.auth_secret_namespace or binding.namespace, binding.auth_secret)


def github_credentials(
    values: dict[str, SecretStr], ref: SecretRef, secrets_dir: Path, binding: BindingRef
) -> GitHubCredentials:
    """`token`, or `appId` + `privateKey` + `installationId` (the binding's installation id
    wins: one App key serves every installation)."""
    try:
        if "token" in values:
            return GitHubCredentials(token=require_key(values, "token", ref, secrets_dir))
        app_id = require_key(values, "appId", ref, secrets_dir)
        private_key = values.get("privateKey")
        if private_key is None:
            require_key(values, "privateKey", ref, secrets_dir)  # raises, naming the file
        assert private_key is not None
        installation = binding.installation_id
        if installation is None:
            raw = require_key(values, "installationId", ref, secrets_dir)
            if not raw.strip().isdigit():
                raise ConfigurationError(f"Secret {ref} key 'installationId' is not a number")
            installation = int(raw.strip())
        return GitHubCredentials(
            app_id=app_id, private_key=private_key.get_secret_value(), installation_id=installation
        )
    except ValidationError as exc:
        # The message lists field names only; pydantic never echoes SecretStr values.
        raise ConfigurationError(f"Secret {ref}: unusable GitHub credentials: {exc}") from None


def _digest(values: dict[str, SecretStr], installation_id: int | None) -> str:
    h = hashlib.sha256()
    for key in sorted(values):
        h.update(key.encode())
        h.update(b"\0")
        h.update(values[key].get_secret_value().encode())
        h.update(b"\0")
    h.update(str(installation_id).encode())
    return h.hexdigest()


class ProviderFactory:
    """Connected adapters by binding; `aclose()` closes them all (worker shutdown)."""

    def __init__(
        self, secrets_dir: Path, *, transport_factory: TransportFactory | None = None
    ) -> None:
        self._secrets_dir = secrets_dir
        self._transport_factory = transport_factory
        self._adapters: dict[_Key, GitHubProvider] = {}

    def github(self, binding: BindingRef) -> GitHubProvider:
        """The GitHub adapter for `binding` (ConfigurationError for other provider types)."""
        if binding.provider_type not in SUPPORTED_PROVIDER_TYPES:
            raise ConfigurationError(
                f"provider type {binding.provider_type!r} (provider {binding.provider}) has no "
                f"adapter yet; supported so far: {', '.join(SUPPORTED_PROVIDER_TYPES)}"
            )
        ref = secret_ref_of(binding)
        # Read on every call (a few small files): a rotated Secret is picked up at once.
        values = read_secret(self._secrets_dir, ref)
        base_url = binding.api_base_url or DEFAULT_BASE_URL
        key = _Key(
            binding.provider_type,
            binding.provider,
            base_url.rstrip("/"),
            str(ref),
            _digest(values, binding.installation_id),
        )
        adapter = self._adapters.get(key)
        if adapter is None:
            credentials = github_credentials(values, ref, self._secrets_dir, binding)
            transport = self._transport_factory(binding) if self._transport_factory else None
            adapter = GitHubProvider.connect(
                credentials,
                base_url=base_url,
                transport=transport,
                provider_ref=binding.provider,
                binding_ref=binding.binding,
            )
            # An older adapter for the same Secret (before a rotation) is left to the garbage
            # collector: closing it here could cut a page another activity is reading.
            self._adapters[key] = adapter
        return adapter

    async def aclose(self) -> None:
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            await adapter.aclose()
