"""Provider type → verifier, and the header checks the ingress needs before verifying."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType

from providers.webhooks.base import BaseVerifier
from providers.webhooks.gitlab import GITLAB, GitLabVerifier
from providers.webhooks.headers import HeaderInput, Headers
from providers.webhooks.hmac_schemes import BITBUCKET, CIRCLECI, GITEA, GITHUB, JIRA
from providers.webhooks.request import WebhookRequest
from providers.webhooks.shared_secret import (
    AZURE_DEVOPS,
    CUSTOM,
    JENKINS,
    UnverifiedVerifier,
)
from providers.webhooks.timestamped import BUILDKITE, LINEAR, BuildkiteVerifier, LinearVerifier

VERIFIERS: Mapping[str, BaseVerifier] = MappingProxyType(
    {
        "github": GITHUB,
        "gitlab": GITLAB,
        "gitea": GITEA,
        "bitbucket": BITBUCKET,
        "jira": JIRA,
        "linear": LINEAR,
        "buildkite": BUILDKITE,
        "circleci": CIRCLECI,
        "azure-devops": AZURE_DEVOPS,
        "jenkins": JENKINS,
        "custom": CUSTOM,
    }
)
"""The default verifier of every built-in provider type (names as in providers/registry)."""


class UnknownProviderTypeError(LookupError):
    def __init__(self, provider_type: str) -> None:
        super().__init__(
            f"no webhook verifier for provider type {provider_type!r}; "
            f"known: {', '.join(sorted(VERIFIERS))}"
        )


def verifier_for(
    provider_type: str,
    *,
    registry_scheme: str | None = None,
    allow_unverified: bool = False,
    tolerance: timedelta | None = None,
    accept_token: bool | None = None,
) -> BaseVerifier:
    """The verifier for a provider type, adjusted by configuration.

    `registry_scheme` is the provider type's `webhookSignature.scheme` from the registry; when
    it is `none`, the result accepts unverified deliveries only if `allow_unverified` is True
    (an explicit operator opt-in). `tolerance` changes the replay window of Linear, Buildkite
    and GitLab signing tokens; `accept_token=False` makes Buildkite insist on signatures.
    """
    if registry_scheme == "none":
        return UnverifiedVerifier(provider_type, opted_in=allow_unverified)
    try:
        verifier = VERIFIERS[provider_type]
    except KeyError:
        raise UnknownProviderTypeError(provider_type) from None
    if tolerance is not None and isinstance(
        verifier, LinearVerifier | BuildkiteVerifier | GitLabVerifier
    ):
        verifier = replace(verifier, tolerance=tolerance)
    if accept_token is not None and isinstance(verifier, BuildkiteVerifier):
        verifier = replace(verifier, accept_token=accept_token)
    return verifier


def signature_headers(provider_type: str) -> frozenset[str]:
    """Header names that carry the proof for a provider type (any one is enough)."""
    return verifier_for(provider_type).signature_headers


def signature_headers_present(
    provider_type: str, headers: HeaderInput, query: Mapping[str, str] | None = None
) -> bool:
    """Whether the request carries any proof at all: False → answer 400, not 401.

    Schemes without a proof (`none`, `custom`) report True: there is nothing to be missing.
    """
    verifier = verifier_for(provider_type)
    if not verifier.signature_headers and not verifier.signature_query_params:
        return True
    request = WebhookRequest(Headers(headers), query=dict(query or {}))
    return verifier.signature_present(request)
