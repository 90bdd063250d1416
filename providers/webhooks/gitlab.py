"""GitLab: the secret token (`X-Gitlab-Token`, sent as is) or a signing token (Standard
Webhooks `webhook-signature`, GitLab 19+). The form of the configured secret picks the mode:
`whsec_...` is a signing token, anything else a secret token. A rotation may mix the two, which
is how a webhook moves from a secret token to a signing token."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from providers.webhooks import headers as h
from providers.webhooks import standard_webhooks as sw
from providers.webhooks.base import BaseVerifier, within_tolerance
from providers.webhooks.request import WebhookRequest, header_bytes
from providers.webhooks.result import (
    Algorithm,
    FailureReason,
    Hints,
    VerificationResult,
    success,
)
from providers.webhooks.secrets import Secret, SecretSet, digest_equal, match_secret, secret_bytes

GITLAB_SIGNATURE_TOLERANCE = timedelta(minutes=5)
"""The Standard Webhooks reference libraries use five minutes."""


@dataclass(frozen=True)
class GitLabVerifier(BaseVerifier):
    tolerance: timedelta = GITLAB_SIGNATURE_TOLERANCE
    provider_type: str = "gitlab"
    algorithm: str = Algorithm.TOKEN
    signature_headers: frozenset[str] = frozenset({h.GITLAB_TOKEN, sw.WEBHOOK_SIGNATURE})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        configured = [s for s in (secrets.current, secrets.previous) if s is not None]
        if any(secret_bytes(s) is None for s in configured) or any(
            sw.is_signing_secret(s) and sw.signing_key(s) is None for s in configured
        ):
            return self.fail(
                FailureReason.NOT_CONFIGURED,
                "GitLab needs a secret token or a whsec_<base64> signing token",
                hints,
            )
        token = request.headers.value(h.GITLAB_TOKEN)
        signature = request.headers.value(sw.WEBHOOK_SIGNATURE)
        if token is None and signature is None:
            return self.fail(
                FailureReason.MISSING_HEADER,
                f"{h.GITLAB_TOKEN} or {sw.WEBHOOK_SIGNATURE} header is missing",
                hints,
            )
        parts: sw.SignedParts | None = None
        if signature is not None:
            parsed = sw.parse(
                request.headers.value(sw.WEBHOOK_ID),
                request.headers.value(sw.WEBHOOK_TIMESTAMP),
                signature,
            )
            if isinstance(parsed, sw.ParseError):
                return self.fail(parsed.reason, parsed.message, hints)
            parts = parsed
        given_token = header_bytes(token) if token is not None else None

        def check(secret: Secret) -> bool:
            key = sw.signing_key(secret)
            if key is not None:
                if parts is None:
                    return False
                expected = hmac.new(key, parts.content(request.body), hashlib.sha256).digest()
                results = [digest_equal(expected, given) for given in parts.signatures]
                return any(results)
            raw = secret_bytes(secret)
            return given_token is not None and raw is not None and digest_equal(raw, given_token)

        outcome = match_secret(secrets, now, check)
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        used = secrets.current if outcome.matched == "current" else secrets.previous
        if used is None or not sw.is_signing_secret(used) or parts is None:
            return success(self.provider_type, Algorithm.TOKEN, outcome.matched, hints)
        algorithm = Algorithm.HMAC_SHA256_TIMESTAMP
        if not within_tolerance(now, parts.signed_at, self.tolerance):
            return self.fail(
                FailureReason.STALE_TIMESTAMP,
                f"{sw.WEBHOOK_TIMESTAMP} {parts.signed_at.isoformat()} is more than "
                f"{self.tolerance} away from now",
                hints,
                algorithm=algorithm,
                signed_at=parts.signed_at,
            )
        return success(
            self.provider_type, algorithm, outcome.matched, hints, signed_at=parts.signed_at
        )


GITLAB = GitLabVerifier()
