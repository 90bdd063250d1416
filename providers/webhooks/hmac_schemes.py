"""HMAC-SHA256 of the raw body, hex in a header: GitHub, Gitea, Bitbucket, Jira, CircleCI."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from providers.webhooks import headers as h
from providers.webhooks.base import BaseVerifier
from providers.webhooks.request import WebhookRequest
from providers.webhooks.result import (
    Algorithm,
    FailureReason,
    Hints,
    VerificationResult,
    success,
)
from providers.webhooks.secrets import Secret, SecretSet, digest_equal, match_secret, secret_bytes

SHA256_HEX_LENGTH = 64


def body_digest(secret: Secret, message: bytes) -> bytes:
    key = secret_bytes(secret)
    if key is None:  # guarded by string_secrets_missing; never compare against a guess
        raise TypeError("HMAC needs a string or bytes secret")
    return hmac.new(key, message, hashlib.sha256).digest()


def parse_hex_digest(value: str) -> bytes | None:
    """The 32 digest bytes, or None when `value` is not 64 hex digits."""
    if len(value) != SHA256_HEX_LENGTH:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class HexHmacVerifier(BaseVerifier):
    """`<header>: <prefix><hex HMAC-SHA256 of the raw body>`."""

    provider_type: str
    header: str
    prefix: str = ""
    algorithm: str = Algorithm.HMAC_SHA256
    signature_headers: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature_headers", frozenset({self.header}))

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if self.string_secrets_missing(secrets):
            return self.fail(FailureReason.NOT_CONFIGURED, "HMAC needs a string secret", hints)
        value = request.headers.value(self.header)
        if value is None:
            return self.fail(
                FailureReason.MISSING_HEADER, f"{self.header} header is missing", hints
            )
        expected_form = f"{self.prefix}<64 hex digits>"
        if self.prefix:
            if value[: len(self.prefix)].lower() != self.prefix:
                return self.fail(
                    FailureReason.MALFORMED_HEADER, f"{self.header} is not {expected_form}", hints
                )
            value = value[len(self.prefix) :]
        given = parse_hex_digest(value)
        if given is None:
            return self.fail(
                FailureReason.MALFORMED_HEADER, f"{self.header} is not {expected_form}", hints
            )
        outcome = match_secret(
            secrets, now, lambda s: digest_equal(body_digest(s, request.body), given)
        )
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        return success(self.provider_type, self.algorithm, outcome.matched, hints)


@dataclass(frozen=True)
class CircleCIVerifier(BaseVerifier):
    """`circleci-signature: v1=<hex>[,v2=...]`; only v1 entries count (CircleCI's advice
    against downgrades), and any v1 entry that matches is enough."""

    provider_type: str = "circleci"
    algorithm: str = Algorithm.HMAC_SHA256
    signature_headers: frozenset[str] = frozenset({h.CIRCLECI_SIGNATURE})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if self.string_secrets_missing(secrets):
            return self.fail(FailureReason.NOT_CONFIGURED, "HMAC needs a string secret", hints)
        value = request.headers.value(h.CIRCLECI_SIGNATURE)
        if value is None:
            return self.fail(
                FailureReason.MISSING_HEADER, f"{h.CIRCLECI_SIGNATURE} header is missing", hints
            )
        candidates = [
            digest
            for version, _, hex_value in (part.strip().partition("=") for part in value.split(","))
            if version == "v1" and (digest := parse_hex_digest(hex_value.strip())) is not None
        ]
        if not candidates:
            return self.fail(
                FailureReason.MALFORMED_HEADER,
                f"{h.CIRCLECI_SIGNATURE} has no v1=<64 hex digits> entry",
                hints,
            )

        def check(secret: Secret) -> bool:
            expected = body_digest(secret, request.body)
            # Compare every entry (no short-circuit) so timing does not reveal which matched.
            results = [digest_equal(expected, given) for given in candidates]
            return any(results)

        outcome = match_secret(secrets, now, check)
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        return success(self.provider_type, self.algorithm, outcome.matched, hints)


GITHUB = HexHmacVerifier("github", h.GITHUB_SIGNATURE, "sha256=")
GITEA = HexHmacVerifier("gitea", h.GITEA_SIGNATURE)
BITBUCKET = HexHmacVerifier("bitbucket", h.BITBUCKET_SIGNATURE, "sha256=")
JIRA = HexHmacVerifier("jira", h.JIRA_SIGNATURE, "sha256=")
CIRCLECI = CircleCIVerifier()
