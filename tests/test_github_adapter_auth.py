"""GitHub App authentication: the RS256 signer, the App JWT and installation token caching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from providers.base import ProviderAuthError, ProviderConfigurationError, RepoRef
from providers.github import AppInstallationAuth, GitHubCredentials, GitHubProvider
from providers.github.auth import load_app_key, make_app_jwt
from tests.test_github_adapter_fixtures import (
    TEST_APP_KEY_PEM,
    TEST_APP_KEY_PKCS8_PEM,
    FakeClock,
    MockGitHub,
    reply,
    repository_payload,
)

APP_ID = "12345"
INSTALLATION = 42
TOKENS = f"/app/installations/{INSTALLATION}/access_tokens"
START = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
REPO = RepoRef(owner="octocat", name="Hello-World")


def _verify_rs256(token: str) -> dict[str, Any]:
    """Check a JWT's RS256 signature against the App's public key and return its claims."""
    public = load_app_key(TEST_APP_KEY_PEM).public_key()
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    claims: dict[str, Any] = jwt.decode(
        token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    return claims


def _app_credentials(pem: str = TEST_APP_KEY_PEM) -> GitHubCredentials:
    return GitHubCredentials(app_id=APP_ID, private_key=pem, installation_id=INSTALLATION)


class TokenMint:
    """The access_tokens endpoint: checks the App JWT, hands out numbered tokens."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.minted = 0
        self.claims: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        scheme, _, app_jwt = request.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        self.claims.append(_verify_rs256(app_jwt))
        self.minted += 1
        expires = self.clock() + timedelta(hours=1)
        return reply(
            201,
            {
                "token": f"ghs_installation_{self.minted}",
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {"issues": "write", "contents": "read"},
                "repository_selection": "selected",
            },
        )


def test_pkcs8_and_pkcs1_keys_are_the_same_key() -> None:
    pkcs8 = load_app_key(TEST_APP_KEY_PKCS8_PEM).private_numbers()
    pkcs1 = load_app_key(TEST_APP_KEY_PEM).private_numbers()
    assert pkcs8 == pkcs1


def test_jwt_is_rejected_by_another_key() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = make_app_jwt(APP_ID, load_app_key(TEST_APP_KEY_PEM), now=START)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_key(), algorithms=["RS256"], options={"verify_exp": False})


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64!\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----",
    ],
)
def test_unusable_keys_are_configuration_errors(pem: str) -> None:
    with pytest.raises(ProviderConfigurationError):
        GitHubProvider.connect(_app_credentials(pem), transport=MockGitHub().transport())


def test_credentials_are_one_mode_or_the_other() -> None:
    with pytest.raises(ValidationError):
        GitHubCredentials()
    with pytest.raises(ValidationError):
        GitHubCredentials(token="t", app_id="1", private_key="k", installation_id=1)
    with pytest.raises(ValidationError):
        GitHubCredentials(app_id="1", private_key="k")
    creds = GitHubCredentials.model_validate(
        {"app_id": 12345, "private_key": "s3cr3t-pem", "installation_id": 1}
    )
    assert creds.app_id == "12345"
    assert creds.is_app
    assert "s3cr3t" not in repr(creds)  # secrets stay out of logs


async def test_app_jwt_claims_and_installation_token_use() -> None:
    clock = FakeClock(START)
    mint = TokenMint(clock)
    mock = (
        MockGitHub()
        .on("POST", TOKENS, mint)
        .on("GET", "/repos/octocat/Hello-World", reply(200, repository_payload()), times=2)
    )
    async with GitHubProvider.connect(
        _app_credentials(), transport=mock.transport(), clock=clock
    ) as github:
        await github.get_repository(REPO)
        await github.get_repository(REPO)
    (claims,) = mint.claims
    now = int(START.timestamp())
    assert claims["iss"] == APP_ID
    assert claims["iat"] == now - 60
    assert now < claims["exp"] <= now + 600
    assert claims["exp"] - claims["iat"] <= 660
    api_calls = [r for r in mock.requests if r.url.path != TOKENS]
    assert {r.headers["authorization"] for r in api_calls} == {"Bearer ghs_installation_1"}
    mock.assert_done()


async def test_installation_token_is_cached_then_refreshed_before_expiry() -> None:
    clock = FakeClock(START)
    mint = TokenMint(clock)
    mock = MockGitHub().on("POST", TOKENS, mint, times=2)
    http = httpx.AsyncClient(base_url="https://api.github.com", transport=mock.transport())
    auth = AppInstallationAuth(
        app_id=APP_ID,
        private_key_pem=TEST_APP_KEY_PEM,
        installation_id=INSTALLATION,
        http=http,
        clock=clock,
    )
    assert await auth.token() == "ghs_installation_1"
    assert auth.expires_at == START + timedelta(hours=1)
    clock.advance(minutes=54, seconds=59)
    assert await auth.token() == "ghs_installation_1"  # still more than 5 minutes left
    clock.advance(seconds=1)
    assert await auth.token() == "ghs_installation_2"  # 5 minutes before expiry: renewed
    assert mint.minted == 2
    # The second JWT is made at the time of the refresh, not reused.
    assert mint.claims[1]["iat"] == int(clock().timestamp()) - 60
    await http.aclose()


async def test_revoked_installation_token_is_replaced_once() -> None:
    clock = FakeClock(START)
    mint = TokenMint(clock)

    def repo(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer ghs_installation_1":
            return reply(401, {"message": "Bad credentials"})
        return reply(200, repository_payload())

    mock = (
        MockGitHub()
        .on("POST", TOKENS, mint, times=2)
        .on("GET", "/repos/octocat/Hello-World", repo, times=2)
    )
    async with GitHubProvider.connect(
        _app_credentials(), transport=mock.transport(), clock=clock
    ) as github:
        repository = await github.get_repository(REPO)
    assert repository.full_name == "octocat/Hello-World"
    assert mint.minted == 2
    mock.assert_done()


async def test_static_token_401_is_an_auth_error_without_retry() -> None:
    mock = MockGitHub().on(
        "GET", "/repos/octocat/Hello-World", reply(401, {"message": "Bad credentials"})
    )
    async with GitHubProvider.connect(
        GitHubCredentials(token="ghp_revoked"), transport=mock.transport()
    ) as github:
        with pytest.raises(ProviderAuthError, match="Bad credentials"):
            await github.get_repository(REPO)
    assert len(mock.requests) == 1


async def test_rejected_app_jwt_is_an_auth_error() -> None:
    mock = MockGitHub().on(
        "POST",
        TOKENS,
        reply(
            401,
            {
                "message": "'Expiration time' claim ('exp') is too far in the future",
                "documentation_url": "https://docs.github.com/rest",
            },
        ),
    )
    async with GitHubProvider.connect(_app_credentials(), transport=mock.transport()) as github:
        with pytest.raises(ProviderAuthError, match="too far in the future"):
            await github.get_repository(REPO)


async def test_app_lists_installation_repositories() -> None:
    clock = FakeClock(START)
    mock = (
        MockGitHub()
        .on("POST", TOKENS, TokenMint(clock))
        .on(
            "GET",
            "/installation/repositories",
            reply(
                200,
                {
                    "total_count": 1,
                    "repository_selection": "selected",
                    "repositories": [repository_payload()],
                },
            ),
        )
    )
    async with GitHubProvider.connect(
        _app_credentials(), transport=mock.transport(), clock=clock
    ) as github:
        page = await github.list_repositories()
    assert [r.full_name for r in page.items] == ["octocat/Hello-World"]
