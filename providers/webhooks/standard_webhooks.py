"""Standard Webhooks (https://www.standardwebhooks.com), which GitLab signing tokens follow.

`webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`,
possibly several space-separated entries; the key is the base64 part of a `whsec_...` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from providers.webhooks import headers as h
from providers.webhooks.result import FailureReason
from providers.webhooks.secrets import Secret

WEBHOOK_ID = h.STANDARD_WEBHOOK_ID
WEBHOOK_TIMESTAMP = h.STANDARD_WEBHOOK_TIMESTAMP
WEBHOOK_SIGNATURE = h.STANDARD_WEBHOOK_SIGNATURE
SECRET_PREFIX = "whsec_"
_MAX_EPOCH_SECONDS = 32503680000  # year 3000: beyond that a timestamp is garbage


def signing_key(secret: Secret) -> bytes | None:
    """The HMAC key of a `whsec_<base64>` secret; None for any other kind of secret."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return None
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def is_signing_secret(secret: Secret) -> bool:
    return isinstance(secret, str) and secret.startswith(SECRET_PREFIX)


@dataclass(frozen=True)
class SignedParts:
    message_id: str
    raw_timestamp: str
    signed_at: datetime
    signatures: tuple[bytes, ...]

    def content(self, body: bytes) -> bytes:
        return f"{self.message_id}.{self.raw_timestamp}.".encode() + body


@dataclass(frozen=True)
class ParseError:
    reason: FailureReason
    message: str


def parse(
    message_id: str | None, timestamp: str | None, signature: str
) -> SignedParts | ParseError:
    """The signed parts, or why they cannot be used. Only `v1` entries count."""
    if message_id is None or timestamp is None:
        return ParseError(
            FailureReason.MISSING_HEADER,
            f"{WEBHOOK_SIGNATURE} needs {WEBHOOK_ID} and {WEBHOOK_TIMESTAMP} headers",
        )
    digits = timestamp.isascii() and timestamp.isdigit()  # isdigit alone accepts "²"
    if not digits or not 0 <= int(timestamp) < _MAX_EPOCH_SECONDS:
        return ParseError(
            FailureReason.MALFORMED_HEADER, f"{WEBHOOK_TIMESTAMP} is not unix seconds"
        )
    signatures: list[bytes] = []
    for entry in signature.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            signatures.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signatures:
        return ParseError(
            FailureReason.MALFORMED_HEADER, f"{WEBHOOK_SIGNATURE} has no v1,<base64> entry"
        )
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    return SignedParts(message_id, timestamp, signed_at, tuple(signatures))


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value a sender computes."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
