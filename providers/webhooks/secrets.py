"""Webhook secrets with a rotation window: the previous secret stays valid until a deadline."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from providers.webhooks.result import FailureReason, MatchedSecret


@dataclass(frozen=True)
class BasicCredentials:
    """User name and password for HTTP basic auth (Azure DevOps service hooks)."""

    username: str
    password: str = field(repr=False)


Secret = str | bytes | BasicCredentials


@dataclass(frozen=True)
class SecretSet:
    """The current secret and, during a rotation, the previous one with its deadline.

    The previous secret is accepted while `now <= previous_valid_until`; after that a delivery
    signed with it fails with `previous_secret_expired`, so the operator sees why.
    """

    current: Secret = field(repr=False)
    previous: Secret | None = field(default=None, repr=False)
    previous_valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.previous is not None and self.previous_valid_until is None:
            raise ValueError("a previous secret needs previous_valid_until (the rotation deadline)")
        if self.previous_valid_until is not None and self.previous_valid_until.tzinfo is None:
            raise ValueError("previous_valid_until must be timezone-aware")

    def previous_expired(self, now: datetime) -> bool:
        """True once the rotation window is over (the previous secret may be deleted)."""
        return self.previous_valid_until is not None and now > self.previous_valid_until


@dataclass(frozen=True)
class SecretMatch:
    matched: MatchedSecret | None
    failure: FailureReason | None = None
    message: str = ""


def match_secret(secrets: SecretSet, now: datetime, check: Callable[[Secret], bool]) -> SecretMatch:
    """Run `check` against the current and the previous secret and say which one matched.

    Both checks always run, so timing does not reveal which secret was used.
    """
    current_ok = check(secrets.current)
    previous_ok = secrets.previous is not None and check(secrets.previous)
    if current_ok:
        return SecretMatch("current")
    if previous_ok:
        if secrets.previous_expired(now):
            return SecretMatch(
                None,
                FailureReason.PREVIOUS_SECRET_EXPIRED,
                "signed with the previous secret, whose rotation window ended at "
                f"{secrets.previous_valid_until}; the sender must use the current secret",
            )
        return SecretMatch("previous")
    return SecretMatch(None, FailureReason.SIGNATURE_MISMATCH, "signature does not match")


def secret_bytes(secret: Secret) -> bytes | None:
    """The HMAC key or token bytes; None for credentials that are not a single string."""
    if isinstance(secret, bytes):
        return secret
    if isinstance(secret, str):
        return secret.encode()
    return None


def digest_equal(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison. Looked up on `hmac` at call time so tests can observe it."""
    return hmac.compare_digest(expected, given)
