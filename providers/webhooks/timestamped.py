"""Schemes with a signed timestamp and a replay tolerance: Linear and Buildkite."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from providers.webhooks import headers as h
from providers.webhooks.base import BaseVerifier, within_tolerance
from providers.webhooks.hmac_schemes import body_digest, parse_hex_digest
from providers.webhooks.request import WebhookRequest, header_bytes
from providers.webhooks.result import (
    Algorithm,
    FailureReason,
    Hints,
    VerificationResult,
    success,
)
from providers.webhooks.secrets import SecretSet, digest_equal, match_secret
from providers.webhooks.shared_secret import match_token

LINEAR_TOLERANCE = timedelta(seconds=60)
"""Linear's SDK refuses deliveries more than a minute away from now."""
BUILDKITE_TOLERANCE = timedelta(minutes=5)
"""Buildkite's docs suggest a short window, 'for example, 5 minutes'."""

# Outside this range a timestamp cannot be a real delivery and datetime would overflow.
_MAX_EPOCH_SECONDS = 32503680000  # year 3000


def _epoch(seconds: float) -> datetime | None:
    if not 0 <= seconds < _MAX_EPOCH_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class LinearVerifier(BaseVerifier):
    """`Linear-Signature: <hex HMAC-SHA256 of the raw body>`; the body's `webhookTimestamp`
    (milliseconds, covered by the signature) must be within `tolerance` of now."""

    tolerance: timedelta = LINEAR_TOLERANCE
    provider_type: str = "linear"
    algorithm: str = Algorithm.HMAC_SHA256_TIMESTAMP
    signature_headers: frozenset[str] = frozenset({h.LINEAR_SIGNATURE})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if self.string_secrets_missing(secrets):
            return self.fail(FailureReason.NOT_CONFIGURED, "HMAC needs a string secret", hints)
        value = request.headers.value(h.LINEAR_SIGNATURE)
        if value is None:
            return self.fail(
                FailureReason.MISSING_HEADER, f"{h.LINEAR_SIGNATURE} header is missing", hints
            )
        given = parse_hex_digest(value)
        if given is None:
            return self.fail(
                FailureReason.MALFORMED_HEADER, f"{h.LINEAR_SIGNATURE} is not 64 hex digits", hints
            )
        outcome = match_secret(
            secrets, now, lambda s: digest_equal(body_digest(s, request.body), given)
        )
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints)
        # The body is authentic from here on, so parsing it is safe.
        signed_at = _linear_timestamp(request.body)
        if signed_at is None:
            return self.fail(
                FailureReason.MALFORMED_BODY,
                f"body has no numeric {h.LINEAR_TIMESTAMP_FIELD} (milliseconds)",
                hints,
            )
        if not within_tolerance(now, signed_at, self.tolerance):
            return self.fail(
                FailureReason.STALE_TIMESTAMP,
                f"{h.LINEAR_TIMESTAMP_FIELD} {signed_at.isoformat()} is more than "
                f"{self.tolerance} away from now",
                hints,
                signed_at=signed_at,
            )
        return success(
            self.provider_type, self.algorithm, outcome.matched, hints, signed_at=signed_at
        )


def _linear_timestamp(body: bytes) -> datetime | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    millis = payload.get(h.LINEAR_TIMESTAMP_FIELD)
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        return None
    try:
        return _epoch(millis / 1000)
    except OverflowError:  # an integer too large for a float
        return None


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts characters such as "²" that int() refuses.
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class BuildkiteVerifier(BaseVerifier):
    """Signature mode: `X-Buildkite-Signature: timestamp=<unix>,signature=<hex HMAC-SHA256 of
    "<timestamp>.<body>">`, within `tolerance`. Token mode: `X-Buildkite-Token` sent as is,
    accepted unless `accept_token` is False. A request with both is checked by signature."""

    tolerance: timedelta = BUILDKITE_TOLERANCE
    accept_token: bool = True
    provider_type: str = "buildkite"
    algorithm: str = Algorithm.HMAC_SHA256_TIMESTAMP
    signature_headers: frozenset[str] = frozenset({h.BUILDKITE_SIGNATURE, h.BUILDKITE_TOKEN})

    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        assert secrets is not None
        if self.string_secrets_missing(secrets):
            return self.fail(FailureReason.NOT_CONFIGURED, "Buildkite needs a string token", hints)
        signature = request.headers.value(h.BUILDKITE_SIGNATURE)
        if signature is not None:
            return self._check_signature(request, signature, secrets, now, hints)
        token = request.headers.value(h.BUILDKITE_TOKEN)
        if token is not None and self.accept_token:
            return self._check_token(token, secrets, now, hints)
        wanted = (
            f"{h.BUILDKITE_SIGNATURE} or {h.BUILDKITE_TOKEN}"
            if self.accept_token
            else f"{h.BUILDKITE_SIGNATURE} (token mode is disabled)"
        )
        return self.fail(FailureReason.MISSING_HEADER, f"{wanted} header is missing", hints)

    def _check_signature(
        self, request: WebhookRequest, value: str, secrets: SecretSet, now: datetime, hints: Hints
    ) -> VerificationResult:
        parts = dict(part.strip().partition("=")[::2] for part in value.split(","))
        raw_timestamp = parts.get("timestamp", "").strip()
        given = parse_hex_digest(parts.get("signature", "").strip())
        signed_at = _epoch(int(raw_timestamp)) if _is_digits(raw_timestamp) else None
        if given is None or signed_at is None:
            return self.fail(
                FailureReason.MALFORMED_HEADER,
                f"{h.BUILDKITE_SIGNATURE} is not timestamp=<unix seconds>,signature=<64 hex digits>",
                hints,
            )
        # The signed message uses the timestamp exactly as sent, as Buildkite's example does.
        message = raw_timestamp.encode() + b"." + request.body
        outcome = match_secret(secrets, now, lambda s: digest_equal(body_digest(s, message), given))
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints, signed_at=signed_at)
        if not within_tolerance(now, signed_at, self.tolerance):
            return self.fail(
                FailureReason.STALE_TIMESTAMP,
                f"signature timestamp {signed_at.isoformat()} is more than {self.tolerance} "
                "away from now",
                hints,
                signed_at=signed_at,
            )
        return success(
            self.provider_type, self.algorithm, outcome.matched, hints, signed_at=signed_at
        )

    def _check_token(
        self, token: str, secrets: SecretSet, now: datetime, hints: Hints
    ) -> VerificationResult:
        outcome = match_token(secrets, now, header_bytes(token))
        if outcome.failure is not None:
            return self.fail(outcome.failure, outcome.message, hints, algorithm=Algorithm.TOKEN)
        return success(self.provider_type, Algorithm.TOKEN, outcome.matched, hints)


LINEAR = LinearVerifier()
BUILDKITE = BuildkiteVerifier()
