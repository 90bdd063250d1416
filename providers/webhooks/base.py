"""The verifier contract and the steps every scheme shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from providers.webhooks.hints import body_hints, header_hints
from providers.webhooks.request import WebhookRequest
from providers.webhooks.result import FailureReason, Hints, VerificationResult, failure
from providers.webhooks.secrets import SecretSet, secret_bytes


class Verifier(Protocol):
    """Checks that a request comes from the provider. Pure: no I/O, no clock of its own."""

    @property
    def provider_type(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def signature_headers(self) -> frozenset[str]:
        """Headers that carry the proof; any one of them is enough to attempt verification."""
        ...

    @property
    def signature_query_params(self) -> frozenset[str]:
        """Query parameters that may carry the proof instead (Jenkins `?token=`)."""
        ...

    def verify(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime
    ) -> VerificationResult: ...


class BaseVerifier(ABC):
    """Template: method check, secret check, the scheme's own check, then body hints."""

    provider_type: str
    algorithm: str
    signature_headers: frozenset[str]
    signature_query_params: frozenset[str] = frozenset()
    needs_secret: ClassVar[bool] = True
    allowed_methods: ClassVar[frozenset[str]] = frozenset({"POST"})

    def verify(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime
    ) -> VerificationResult:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        hints = header_hints(self.provider_type, request.headers)
        if request.method.upper() not in self.allowed_methods:
            return self.fail(
                FailureReason.UNSUPPORTED_METHOD,
                f"{request.method} is not a webhook delivery method",
                hints,
            )
        if self.needs_secret and secrets is None:
            return self.fail(
                FailureReason.NOT_CONFIGURED, "no verification secret configured", hints
            )
        result = self.check(request, secrets, now, hints)
        if not result.verified:
            return result
        # Only a verified body is worth reading.
        extra = body_hints(self.provider_type, request.body)
        return result.with_hints(
            delivery_id=extra.delivery_id, event=extra.event, action=extra.action
        )

    @abstractmethod
    def check(
        self, request: WebhookRequest, secrets: SecretSet | None, now: datetime, hints: Hints
    ) -> VerificationResult:
        """The scheme itself; `secrets` is only None when `needs_secret` is False."""

    def fail(
        self,
        reason: FailureReason,
        message: str,
        hints: Hints,
        *,
        algorithm: str | None = None,
        signed_at: datetime | None = None,
    ) -> VerificationResult:
        return failure(
            self.provider_type,
            algorithm or self.algorithm,
            reason,
            message,
            hints,
            signed_at=signed_at,
        )

    def string_secrets_missing(self, secrets: SecretSet) -> bool:
        """HMAC and token schemes need string secrets, not basic credentials."""
        return secret_bytes(secrets.current) is None or (
            secrets.previous is not None and secret_bytes(secrets.previous) is None
        )

    def signature_present(self, request: WebhookRequest) -> bool:
        """True when at least one proof-carrying header (or query parameter) is present."""
        if any(request.headers.value(name) is not None for name in self.signature_headers):
            return True
        return any(request.query.get(name, "").strip() for name in self.signature_query_params)


def within_tolerance(now: datetime, signed_at: datetime, tolerance: timedelta) -> bool:
    """Replay check in both directions: a clock ahead of ours is as suspicious as one behind."""
    return abs(now - signed_at) <= tolerance
