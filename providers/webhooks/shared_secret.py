"""Schemes that send the secret itself: Jenkins tokens and Azure DevOps basic auth (GitLab's
token is in gitlab.py).

They prove only that the sender knows the secret (nothing binds it to the body), so TLS is
what keeps them safe. Comparisons are still constant time.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from providers.webhooks import headers as h
from providers.webhooks.base import BaseVerifier
from providers.webhooks.request import WebhookRequest, header_bytes
from providers.webhooks.result import (
    Algorithm,
    FailureReason,
    Hints,
    VerificationResult,
    success,
)
from providers.webhooks.secrets import (
    BasicCredentials,
    Secret,
    SecretMatch,
    SecretSet,
    digest_equal,
    match_secret,
    secret_bytes,
)


def match_token(secrets: SecretSet, now: datetime, given: bytes) -> SecretMatch:
    """Constant-time token comparison against the current and previous secret."""

    def check(secret: Secret) -> bool:
        key = secret_bytes(secret)
        return key is not None and digest_equal(key, given)

    outcome = match_secret(secrets, now, check)
    if outcome.failure is FailureReason.SIGNATURE_MISMATCH:
        return SecretMatch(None, outcome.failure, "token does not match")
    return outcome


@dataclass(frozen=True)
class JenkinsTokenVerifier(BaseVerifier):
    """The Generic Webhook Trigger plugin's token: `Authorization: Bearer <token>`, a `token`
    header, or a `token` query parameter, looked for in that order."""

    provider_type: str = "jenkins"
    algorithm: str = Algorithm.TOKEN
    signature_headers: frozenset[str] = frozenset({h.AUTHORIZATION, h.JENKINS_TOKEN_HEADER})
    signature_query_params: frozenset[str] = frozenset({h.JENKINS_TOKEN_QUERY})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if self.string_secrets_missing(secrets):
            return self.fail(FailureReason.NOT_CONFIGURED, "token needs a string secret", hints)
        authorization = request.headers.value(h.AUTHORIZATION)
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return self.fail(
                    FailureReason.MALFORMED_HEADER, "Authorization is not Bearer <token>", hints
                )
            given: str | None = token.strip()
        else:
            given = request.headers.value(h.JENKINS_TOKEN_HEADER) or (
                request.query.get(h.JENKINS_TOKEN_QUERY, "").strip() or None
            )
        if given is None:
            return self.fail(
                FailureReason.MISSING_HEADER,
                "no token: expected Authorization: Bearer, a token header or ?token=",
                hints,
            )
        outcome = match_token(secrets, now, header_bytes(given))
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        return success(self.provider_type, self.algorithm, outcome.matched, hints)


@dataclass(frozen=True)
class BasicAuthVerifier(BaseVerifier):
    """`Authorization: Basic base64(user:password)` against BasicCredentials (Azure DevOps)."""

    provider_type: str = "azure-devops"
    algorithm: str = Algorithm.BASIC
    signature_headers: frozenset[str] = frozenset({h.AUTHORIZATION})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if not isinstance(secrets.current, BasicCredentials) or not isinstance(
            secrets.previous, BasicCredentials | None
        ):
            return self.fail(
                FailureReason.NOT_CONFIGURED, "basic auth needs BasicCredentials secrets", hints
            )
        value = request.headers.value(h.AUTHORIZATION)
        if value is None:
            return self.fail(FailureReason.MISSING_HEADER, "Authorization header is missing", hints)
        credentials = parse_basic(value)
        if credentials is None:
            return self.fail(
                FailureReason.MALFORMED_HEADER,
                "Authorization is not Basic base64(user:password)",
                hints,
            )
        user, password = credentials

        def check(secret: Secret) -> bool:
            if not isinstance(secret, BasicCredentials):
                return False
            # Both halves are always compared, so timing does not say which one was wrong.
            user_ok = digest_equal(secret.username.encode(), user)
            password_ok = digest_equal(secret.password.encode(), password)
            return user_ok & password_ok

        outcome = match_secret(secrets, now, check)
        if outcome.failure is FailureReason.SIGNATURE_MISMATCH:
            return self.fail(outcome.failure, "user name or password does not match", hints)
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        return success(self.provider_type, self.algorithm, outcome.matched, hints)


def parse_basic(value: str) -> tuple[bytes, bytes] | None:
    """(user, password) bytes from `Basic <base64>`, or None when malformed (RFC 7617)."""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


@dataclass(frozen=True)
class UnverifiedVerifier(BaseVerifier):
    """Scheme `none`: accepts without proof, but only when the operator opted in explicitly
    (and `verifier_for` only builds it when the registry says the provider signs nothing)."""

    provider_type: str
    opted_in: bool = False
    algorithm: str = Algorithm.NONE
    signature_headers: frozenset[str] = frozenset()
    needs_secret = False

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        if not self.opted_in:
            return self.fail(
                FailureReason.NOT_CONFIGURED,
                "unverified deliveries are refused unless the operator opts in",
                hints,
            )
        return success(self.provider_type, self.algorithm, None, hints)


@dataclass(frozen=True)
class AdapterDefinedVerifier(BaseVerifier):
    """`custom` providers: their adapter supplies the verifier; without one, fail closed."""

    provider_type: str = "custom"
    algorithm: str = Algorithm.ADAPTER_DEFINED
    signature_headers: frozenset[str] = frozenset()
    needs_secret = False

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        return self.fail(
            FailureReason.NOT_CONFIGURED,
            "custom providers verify deliveries in their adapter; none was given",
            hints,
        )


JENKINS = JenkinsTokenVerifier()
AZURE_DEVOPS = BasicAuthVerifier()
CUSTOM = AdapterDefinedVerifier()
