"""GitHub credentials: a static token, or a GitHub App installation.

Credentials arrive as values (resolved from a Secret by the caller); this module never reads
files or the environment. For an App, a short RS256 JWT (iss = App id, iat 60 s in the past to
absorb clock drift, exp 9 minutes ahead, under GitHub's 10-minute cap) buys an installation
token from `POST /app/installations/{id}/access_tokens`; that token (valid one hour) is cached
and bought again five minutes before its `expires_at`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, Self

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from providers.base import ProviderConfigurationError, ProviderProtocolError, Verdict
from providers.github.errors import classify_response, classify_transport_error

JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class GitHubCredentials(BaseModel):
    """Either `token`, or `app_id` + `private_key` (PEM) + `installation_id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr | None = None
    app_id: str | None = None
    private_key: SecretStr | None = None
    installation_id: int | None = None

    @field_validator("app_id", mode="before")
    @classmethod
    def _app_id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one_mode(self) -> Self:
        app_fields = (self.app_id, self.private_key, self.installation_id)
        if self.token is not None:
            if any(f is not None for f in app_fields):
                raise ValueError("give either a token or GitHub App credentials, not both")
        elif any(f is None for f in app_fields):
            raise ValueError("GitHub App credentials need app_id, private_key and installation_id")
        return self

    @property
    def is_app(self) -> bool:
        return self.token is None


class TokenSource(Protocol):
    """Something that yields the bearer token for the next API request."""

    @property
    def refreshable(self) -> bool:
        """Whether a 401 is worth one retry with a freshly minted token."""
        ...

    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """A personal access, OAuth or pre-minted installation token used as it is."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        """Nothing to refresh: a rejected static token stays rejected."""


def load_app_key(pem: str) -> RSAPrivateKey:
    """The App's RSA private key from PEM (PKCS#1 or PKCS#8, unencrypted)."""
    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        raise ProviderConfigurationError(
            "GitHub App private key: not an unencrypted PEM private key"
        ) from exc
    if not isinstance(key, RSAPrivateKey):
        raise ProviderConfigurationError("GitHub App private key: GitHub Apps use RSA keys")
    return key


def make_app_jwt(app_id: str, private_key: RSAPrivateKey, *, now: datetime) -> str:
    """A GitHub App JWT signed with RS256."""
    claims: dict[str, object] = {
        "iat": int((now - JWT_BACKDATE).timestamp()),
        "exp": int((now + JWT_LIFETIME).timestamp()),
        "iss": app_id,
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


class AppInstallationAuth:
    """Installation tokens for one GitHub App installation, cached until near expiry."""

    refreshable = True

    def __init__(
        self,
        *,
        app_id: str,
        private_key_pem: str,
        installation_id: int,
        http: httpx.AsyncClient,
        clock: Clock = utc_now,
    ) -> None:
        self._key = load_app_key(private_key_pem)
        self._app_id = app_id
        self._installation_id = installation_id
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def expires_at(self) -> datetime | None:
        return self._expires_at

    def app_jwt(self) -> str:
        """A fresh App JWT (for the /app endpoints)."""
        return make_app_jwt(self._app_id, self._key, now=self._clock())

    async def token(self) -> str:
        async with self._lock:  # one refresh at a time; the others reuse its token
            if self._token is None or self._needs_refresh():
                await self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (GitHub said 401: it was revoked or has expired early)."""
        self._token = None
        self._expires_at = None

    def _needs_refresh(self) -> bool:
        return self._expires_at is None or self._clock() >= self._expires_at - TOKEN_REFRESH_MARGIN

    async def _refresh(self) -> None:
        url = f"/app/installations/{self._installation_id}/access_tokens"
        headers = {"Authorization": f"Bearer {self.app_jwt()}"}
        try:
            response = await self._http.post(url, headers=headers)
        except httpx.TransportError as exc:
            raise classify_transport_error(exc) from exc
        verdict = classify_response(response, now=self._clock())
        if verdict.error is not None:
            raise verdict.error
        if verdict.verdict is not Verdict.OK:
            raise ProviderProtocolError(
                f"unexpected {response.status_code} minting an installation token"
            )
        try:
            body = response.json()
            token = body["token"]
            expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderProtocolError(
                "installation token response lacks token/expires_at"
            ) from exc
        if not isinstance(token, str) or not token:
            raise ProviderProtocolError("installation token response has an empty token")
        self._token = token
        self._expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)


def token_source_for(
    credentials: GitHubCredentials, *, http: httpx.AsyncClient, clock: Clock = utc_now
) -> TokenSource:
    """The token source matching `credentials`."""
    if credentials.token is not None:
        return StaticToken(credentials.token.get_secret_value())
    assert credentials.app_id is not None
    assert credentials.private_key is not None
    assert credentials.installation_id is not None
    return AppInstallationAuth(
        app_id=credentials.app_id,
        private_key_pem=credentials.private_key.get_secret_value(),
        installation_id=credentials.installation_id,
        http=http,
        clock=clock,
    )
