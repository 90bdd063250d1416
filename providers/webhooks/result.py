"""What a verifier returns: success with hints, or a reason code the ingress maps to a status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

MatchedSecret = Literal["current", "previous"]


class Algorithm(StrEnum):
    HMAC_SHA256 = "hmac-sha256"
    HMAC_SHA256_TIMESTAMP = "hmac-sha256+timestamp"
    """HMAC-SHA256 over content that carries a timestamp, checked against a replay tolerance."""
    TOKEN = "token"
    BASIC = "basic"
    NONE = "none"
    ADAPTER_DEFINED = "adapter-defined"


class FailureReason(StrEnum):
    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    MALFORMED_BODY = "malformed_body"
    SIGNATURE_MISMATCH = "signature_mismatch"
    STALE_TIMESTAMP = "stale_timestamp"
    PREVIOUS_SECRET_EXPIRED = "previous_secret_expired"
    UNSUPPORTED_METHOD = "unsupported_method"
    NOT_CONFIGURED = "not_configured"
    """No usable secret, or `none` without an explicit opt-in: fail closed."""

    @property
    def http_status(self) -> int:
        return _STATUS[self]


# 400: the request is not a well-formed delivery; 401: it is well-formed but not authentic;
# 500: our configuration cannot verify anything (fail closed, never accept).
_STATUS: dict[FailureReason, int] = {
    FailureReason.MISSING_HEADER: 400,
    FailureReason.MALFORMED_HEADER: 400,
    FailureReason.MALFORMED_BODY: 400,
    FailureReason.SIGNATURE_MISMATCH: 401,
    FailureReason.STALE_TIMESTAMP: 401,
    FailureReason.PREVIOUS_SECRET_EXPIRED: 401,
    FailureReason.UNSUPPORTED_METHOD: 405,
    FailureReason.NOT_CONFIGURED: 500,
}


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of one verification. Hints are unverified on failure: log them, trust nothing."""

    verified: bool
    provider_type: str
    algorithm: str
    matched_secret: MatchedSecret | None = None
    delivery_id: str | None = None
    event: str | None = None
    action: str | None = None
    signed_at: datetime | None = None
    """The timestamp the signature covers (Linear, Buildkite), when there is one."""
    failure: FailureReason | None = None
    message: str = ""

    @property
    def http_status(self) -> int:
        """200 when verified, else the status the ingress should answer."""
        return 200 if self.failure is None else self.failure.http_status

    def with_hints(
        self, *, delivery_id: str | None, event: str | None, action: str | None
    ) -> VerificationResult:
        """Fill hints that are still empty (header hints win over body hints)."""
        return replace(
            self,
            delivery_id=self.delivery_id or delivery_id,
            event=self.event or event,
            action=self.action or action,
        )


@dataclass(frozen=True)
class Hints:
    delivery_id: str | None = None
    event: str | None = None
    action: str | None = None


def success(
    provider_type: str,
    algorithm: str,
    matched: MatchedSecret | None,
    hints: Hints,
    *,
    signed_at: datetime | None = None,
) -> VerificationResult:
    return VerificationResult(
        verified=True,
        provider_type=provider_type,
        algorithm=str(algorithm),
        matched_secret=matched,
        delivery_id=hints.delivery_id,
        event=hints.event,
        action=hints.action,
        signed_at=signed_at,
    )


def failure(
    provider_type: str,
    algorithm: str,
    reason: FailureReason,
    message: str,
    hints: Hints = Hints(),
    *,
    signed_at: datetime | None = None,
) -> VerificationResult:
    return VerificationResult(
        verified=False,
        provider_type=provider_type,
        algorithm=str(algorithm),
        delivery_id=hints.delivery_id,
        event=hints.event,
        action=hints.action,
        signed_at=signed_at,
        failure=reason,
        message=message,
    )
