"""Unreadable `x-ratelimit-reset` and `retry-after` headers never hide the status they came
with: each status class is classified as usual through the real client (httpx.MockTransport),
and a rate limit whose reset cannot be believed falls back to Retry-After or a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.base import (
    ProviderNotFound,
    ProviderTransientError,
    RateLimited,
    RepoRef,
    parse_retry_after,
)
from providers.github.errors import parse_reset
from tests.test_github_adapter_fixtures import (
    FakeClock,
    MockGitHub,
    issue_payload,
    reply,
    token_provider,
)

REPO = RepoRef(owner="octocat", name="Hello-World")
ISSUE = "/repos/octocat/Hello-World/issues/1"
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
# Far beyond year 9999 (ValueError from datetime), a negative overflow, not a number, empty.
BAD_RESETS = ["99999999999999", "-99999999999999", "soon", ""]


@pytest.mark.parametrize("reset", BAD_RESETS)
async def test_success_with_bad_reset_is_a_success(reset: str) -> None:
    mock = MockGitHub().on(
        "GET", ISSUE, reply(200, issue_payload(1), headers={"x-ratelimit-reset": reset})
    )
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        issue = await github.get_issue(REPO, 1)
        assert issue.number == 1
        assert github.client.rate_limit.remaining == 4999
        assert github.client.rate_limit.reset_at is None


@pytest.mark.parametrize("reset", BAD_RESETS)
async def test_primary_limit_with_bad_reset_waits_a_minute(reset: str) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    mock = MockGitHub().on(
        "GET", ISSUE, reply(403, {"message": "API rate limit exceeded"}, headers=headers)
    )
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        with pytest.raises(RateLimited) as limited:
            await github.get_issue(REPO, 1)
    assert limited.value.status == 403
    assert limited.value.retry_after == 60
    assert limited.value.reset_at == NOW + timedelta(minutes=1)


async def test_primary_limit_with_bad_reset_prefers_retry_after() -> None:
    headers = {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "99999999999999",
        "retry-after": "7",
    }
    mock = MockGitHub().on(
        "GET", ISSUE, reply(403, {"message": "API rate limit exceeded"}, headers=headers)
    )
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        with pytest.raises(RateLimited) as limited:
            await github.get_issue(REPO, 1)
    assert limited.value.reset_at == NOW + timedelta(seconds=7)


@pytest.mark.parametrize("retry_after", ["inf", "nan", "1e400", "99999999999999", "tomorrow"])
@pytest.mark.parametrize("reset", ["99999999999999", "abc"])
async def test_429_with_bad_headers_waits_a_minute(retry_after: str, reset: str) -> None:
    headers = {"x-ratelimit-reset": reset, "retry-after": retry_after}
    mock = MockGitHub().on(
        "GET", ISSUE, reply(429, {"message": "Too many requests"}, headers=headers)
    )
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        with pytest.raises(RateLimited) as limited:
            await github.get_issue(REPO, 1)
    assert limited.value.status == 429
    assert limited.value.reset_at == NOW + timedelta(minutes=1)


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize("reset", BAD_RESETS)
async def test_server_error_with_bad_headers_stays_transient(status: int, reset: str) -> None:
    headers = {"x-ratelimit-reset": reset, "retry-after": "1e400"}
    mock = MockGitHub().on(
        "GET", ISSUE, reply(status, {"message": "Server Error"}, headers=headers)
    )
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        with pytest.raises(ProviderTransientError) as failed:
            await github.get_issue(REPO, 1)
    assert failed.value.status == status
    assert failed.value.retry_after is None


async def test_not_found_with_bad_reset_stays_not_found() -> None:
    headers = {"x-ratelimit-reset": "99999999999999"}
    mock = MockGitHub().on("GET", ISSUE, reply(404, {"message": "Not Found"}, headers=headers))
    async with token_provider(mock, clock=FakeClock(NOW)) as github:
        with pytest.raises(ProviderNotFound):
            await github.get_issue(REPO, 1)


def test_parse_reset_keeps_good_values_and_drops_bad_ones() -> None:
    good = int((NOW + timedelta(minutes=30)).timestamp())
    assert parse_reset(str(good)) == datetime.fromtimestamp(good, UTC)
    for bad in BAD_RESETS:
        assert parse_reset(bad) is None
    assert parse_retry_after("12") == 12
    for bad in ("inf", "-inf", "nan", "1e400"):
        assert parse_retry_after(bad) is None
