"""GitHub App JWTs as GitHub checks them: RS256 signature, issuer, and GitHub's time rules.

The simulator only verifies, so only the public half of a key is needed: it accepts the public
key PEM or the App's private key PEM, from which it keeps just the modulus and exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPublicKey,
    RSAPublicNumbers,
)
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

MAX_LIFETIME_S = 600  # GitHub refuses App JWTs that live longer than ten minutes
CLOCK_DRIFT_S = 60


class JwtError(ValueError):
    """The token is not an acceptable App JWT; the message is GitHub's wording."""


def public_numbers(pem: str) -> tuple[int, int]:
    """RSA (n, e) from a PEM public or private key."""
    data = pem.encode()
    key: Any
    try:
        key = load_pem_public_key(data)
    except ValueError:
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError("not a PEM RSA key") from exc
    if isinstance(key, RSAPrivateKey):
        key = key.public_key()
    if not isinstance(key, RSAPublicKey):
        raise TypeError("GitHub App keys are RSA keys")
    numbers = key.public_numbers()
    return numbers.n, numbers.e


@dataclass(frozen=True)
class Claims:
    issuer: str
    issued_at: int
    expires_at: int


def verify(token: str, keys: dict[str, tuple[int, int]], now: int) -> Claims:
    """Check an App JWT against the keys registered per issuer (App id or client id)."""
    try:
        header = jwt.get_unverified_header(token)
        unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise JwtError("A JSON web token could not be decoded") from exc
    if header.get("alg") != "RS256":
        raise JwtError("A JSON web token could not be decoded")
    issuer = str(unverified.get("iss", ""))
    key = keys.get(issuer)
    if key is None:
        raise JwtError(f"Integration not found for issuer {issuer!r}")
    n, e = key
    try:
        # Time claims are checked below with GitHub's own rules and wording.
        payload: dict[str, Any] = jwt.decode(
            token,
            RSAPublicNumbers(e, n).public_key(),
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise JwtError("A JSON web token could not be decoded") from exc
    iat, exp = payload.get("iat"), payload.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise JwtError("Missing 'issued at' or 'expiration time' claim")
    if iat > now + CLOCK_DRIFT_S:
        raise JwtError(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past."
        )
    if exp <= now:
        raise JwtError(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires."
        )
    if exp - iat > MAX_LIFETIME_S + CLOCK_DRIFT_S:
        raise JwtError("'Expiration time' claim ('exp') is too far in the future")
    return Claims(issuer, iat, exp)
