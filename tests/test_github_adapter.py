"""The GitHub adapter against a strict mock of the REST API: headers, pagination, conditional
requests, error classification and the list operations."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from providers.base import (
    Cursor,
    ExternalIssue,
    PaginationLoopError,
    ProviderAuthError,
    ProviderConflict,
    ProviderNotFound,
    ProviderPermissionError,
    ProviderProtocolError,
    ProviderTransientError,
    ProviderValidationError,
    RateLimited,
    RepoRef,
    Verdict,
)
from providers.github import classify_response
from tests.test_github_adapter_fixtures import (
    API,
    TOKEN,
    MockGitHub,
    issue_payload,
    job_payload,
    link,
    pull_payload,
    reply,
    repository_payload,
    token_provider,
    workflow_run_payload,
)

REPO = RepoRef(owner="octocat", name="Hello-World")
ISSUES = "/repos/octocat/Hello-World/issues"
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)


async def test_requests_carry_github_headers_and_token() -> None:
    mock = MockGitHub().on("GET", "/repos/octocat/Hello-World", reply(200, repository_payload()))
    async with token_provider(mock) as github:
        await github.get_repository(REPO)
    (request,) = mock.requests
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"].startswith("krate-sync/")
    assert "if-none-match" not in request.headers


async def test_issue_pages_follow_link_headers_and_cursor_survives_serialization() -> None:
    page2 = f"{API}/repositories/1296269/issues?state=all&sort=updated&direction=asc&page=2"
    mock = (
        MockGitHub()
        .on(
            "GET",
            ISSUES,
            reply(200, [issue_payload(1)], headers=link((page2, "next"), (page2, "last"))),
            params={
                "state": "all",
                "sort": "updated",
                "direction": "asc",
                "per_page": "100",
                "since": "2026-05-01T00:00:00Z",
            },
        )
        .on(
            "GET",
            "/repositories/1296269/issues",
            reply(200, [issue_payload(2)], headers=link((f"{API}{ISSUES}?page=1", "first"))),
            params={"page": "2"},
        )
    )
    since = datetime(2026, 5, 1, tzinfo=UTC)
    async with token_provider(mock) as github:
        first = await github.list_issues(REPO, since=since)
        assert [i.number for i in first.items] == [1]
        assert first.has_more
        assert first.next_cursor is not None
        # The workflow stores the cursor as JSON and hands it to the next activity.
        stored = first.next_cursor.model_dump_json()
        cursor = Cursor.model_validate_json(stored)
        assert cursor.next_url == page2
        assert cursor.since == since
        second = await github.list_issues(REPO, cursor)
    assert [i.number for i in second.items] == [2]
    assert second.next_cursor is None
    assert not second.has_more
    assert len(stored) < 600  # small enough for workflow state
    mock.assert_done()


async def test_next_link_pointing_back_is_a_pagination_loop() -> None:
    page2 = f"{API}{ISSUES}?page=2"
    page3 = f"{API}{ISSUES}?page=3"
    mock = (
        MockGitHub()
        .on(
            "GET",
            ISSUES,
            reply(200, [issue_payload(1)], headers=link((page2, "next"))),
            params={"per_page": "100"},
        )
        .on(
            "GET",
            ISSUES,
            reply(200, [issue_payload(2)], headers=link((page3, "next"))),
            params={"page": "2"},
        )
        .on(
            "GET",
            ISSUES,
            reply(200, [issue_payload(3)], headers=link((page2, "next"))),
            params={"page": "3"},
        )
    )
    async with token_provider(mock) as github:
        first = await github.list_issues(REPO)
        second = await github.list_issues(REPO, first.next_cursor)
        with pytest.raises(PaginationLoopError):
            await github.list_issues(REPO, second.next_cursor)


async def test_next_link_to_itself_is_a_loop() -> None:
    mock = MockGitHub().on(
        "GET",
        ISSUES,
        reply(200, [], headers=link((f"{API}{ISSUES}?page=1", "next"))),
        params={"page": "1"},
    )
    async with token_provider(mock) as github:
        with pytest.raises(PaginationLoopError):
            await github.list_issues(REPO, Cursor(next_url=f"{API}{ISSUES}?page=1"))


async def test_next_link_to_another_host_is_refused() -> None:
    mock = MockGitHub()
    async with token_provider(mock) as github:
        with pytest.raises(ProviderProtocolError, match="refusing"):
            await github.list_issues(REPO, Cursor(next_url="https://evil.example/steal?page=2"))
    assert mock.requests == []  # the token never left


async def test_conditional_request_not_modified() -> None:
    etag = 'W/"a00049ba79152d03380c34652f2cb612"'
    mock = MockGitHub().on(
        "GET", ISSUES, reply(304, headers={"etag": etag, "x-ratelimit-remaining": "4990"})
    )
    async with token_provider(mock) as github:
        page = await github.list_issues(REPO, etag=etag)
    assert mock.requests[0].headers["if-none-match"] == etag
    assert page.not_modified
    assert page.items == []
    assert page.etag == etag
    assert page.next_cursor is None
    assert page.rate_limit.remaining == 4990


async def test_page_carries_etag_and_rate_limit_budget() -> None:
    mock = MockGitHub().on(
        "GET",
        ISSUES,
        reply(200, [issue_payload()], headers={"etag": 'W/"abc"', "x-ratelimit-remaining": "42"}),
    )
    async with token_provider(mock) as github:
        page = await github.list_issues(REPO)
    assert page.etag == 'W/"abc"'
    assert not page.not_modified
    budget = page.rate_limit
    assert (budget.limit, budget.remaining, budget.used, budget.resource) == (5000, 42, 1, "core")
    assert budget.reset_at == datetime.fromtimestamp(1798761600, UTC)


async def test_issue_listing_routes_pull_requests_by_kind() -> None:
    mock = MockGitHub().on(
        "GET", ISSUES, reply(200, [issue_payload(1), issue_payload(2, pull_request=True)])
    )
    async with token_provider(mock) as github:
        page = await github.list_issues(REPO)
    issue, pr = page.items
    assert (issue.kind, issue.number, issue.pull_request_api_url) == ("issue", 1, None)
    assert pr.kind == "pull_request"
    assert pr.number == 2
    assert pr.pull_request_api_url == f"{API}/repos/octocat/Hello-World/pulls/2"
    # One number, one identity: the routed item names the issue side of the pull request only.
    assert pr.external.native_number == 2
    assert pr.external.native_kind == "issue"


async def test_pull_request_listing_stops_at_watermark() -> None:
    newer = pull_payload(3, updated_at="2026-05-10T00:00:00Z")
    boundary = pull_payload(2, updated_at="2026-05-01T00:00:00Z")
    older = pull_payload(1, updated_at="2026-04-01T00:00:00Z")
    page2 = f"{API}/repos/octocat/Hello-World/pulls?page=2"
    mock = MockGitHub().on(
        "GET",
        "/repos/octocat/Hello-World/pulls",
        reply(200, [newer, boundary, older], headers=link((page2, "next"))),
        params={"state": "all", "sort": "updated", "direction": "desc", "per_page": "100"},
    )
    async with token_provider(mock) as github:
        page = await github.list_pull_requests(REPO, since=datetime(2026, 5, 1, tzinfo=UTC))
    assert [p.number for p in page.items] == [3, 2]
    assert page.next_cursor is None  # page 2 is older still: never fetched
    assert "since" not in mock.requests[0].url.params


async def test_pull_request_listing_keeps_paging_while_all_are_fresh() -> None:
    page2 = f"{API}/repos/octocat/Hello-World/pulls?page=2"
    mock = MockGitHub().on(
        "GET",
        "/repos/octocat/Hello-World/pulls",
        reply(
            200, [pull_payload(3, updated_at="2026-05-10T00:00:00Z")], headers=link((page2, "next"))
        ),
    )
    async with token_provider(mock) as github:
        page = await github.list_pull_requests(REPO, since=datetime(2026, 5, 1, tzinfo=UTC))
    assert page.next_cursor is not None
    assert page.next_cursor.since == datetime(2026, 5, 1, tzinfo=UTC)


async def test_workflow_runs_and_jobs() -> None:
    repo = RepoRef(owner="octo-org", name="octo-repo")
    runs = "/repos/octo-org/octo-repo/actions/runs"
    mock = (
        MockGitHub()
        .on(
            "GET",
            runs,
            reply(200, {"total_count": 1, "workflow_runs": [workflow_run_payload()]}),
            params={"created": ">=2020-01-01T00:00:00Z", "per_page": "100"},
        )
        .on(
            "GET",
            f"{runs}/29679449/jobs",
            reply(200, {"total_count": 1, "jobs": [job_payload()]}),
            params={"filter": "latest"},
        )
        .on("POST", f"{runs}/30433642/rerun-failed-jobs", reply(201, {}))
        .on("POST", f"{runs}/30433642/cancel", reply(202, {}))
    )
    async with token_provider(mock) as github:
        page = await github.list_pipelines(repo, since=datetime(2020, 1, 1, tzinfo=UTC))
        jobs = await github.list_jobs(repo, "29679449")
        await github.rerun(repo, "30433642", failed_only=True)
        await github.cancel(repo, "30433642")
    (run,) = page.items
    assert (run.phase, run.workflow, run.sha) == ("Pending", "Build", run.external.sha)
    assert run.external.native_id == "30433642"
    (job,) = jobs.items
    assert (job.phase, job.pipeline_id, job.repository) == (
        "Succeeded",
        "29679449",
        "octo-org/octo-repo",
    )
    mock.assert_done()


async def test_refs_list_branches_then_tags() -> None:
    commit = {"sha": "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc", "url": "https://api.github.com/x"}
    mock = (
        MockGitHub()
        .on(
            "GET",
            "/repos/octocat/Hello-World/branches",
            reply(200, [{"name": "master", "commit": commit, "protected": True}]),
        )
        .on(
            "GET",
            "/repos/octocat/Hello-World/tags",
            reply(
                200,
                [
                    {
                        "name": "v0.1",
                        "commit": commit,
                        "zipball_url": "z",
                        "tarball_url": "t",
                        "node_id": "MDQ6VXNlcjE=",
                    }
                ],
            ),
        )
    )
    async with token_provider(mock) as github:
        branches = await github.list_refs(REPO)
        assert branches.next_cursor is not None
        tags = await github.list_refs(
            REPO, Cursor.model_validate_json(branches.next_cursor.model_dump_json())
        )
    assert [(r.kind, r.ref, r.protected) for r in branches.items] == [
        ("branch", "refs/heads/master", True)
    ]
    assert [(r.kind, r.ref) for r in tags.items] == [("tag", "refs/tags/v0.1")]
    assert tags.next_cursor is None
    assert (
        branches.items[0].external.api_url
        == f"{API}/repos/octocat/Hello-World/git/refs/heads/master"
    )


async def test_installation_repositories_listing() -> None:
    """Static-token credentials without an owner list the user's repositories; with an owner,
    the organization's."""
    mock = (
        MockGitHub()
        .on(
            "GET",
            "/orgs/octo-org/repos",
            reply(200, [repository_payload()]),
            params={"type": "all"},
        )
        .on("GET", "/user/repos", reply(200, [repository_payload()]))
    )
    async with token_provider(mock) as github:
        org = await github.list_repositories(owner="octo-org")
        mine = await github.list_repositories()
    assert org.items[0].full_name == mine.items[0].full_name == "octocat/Hello-World"


# Errors -----------------------------------------------------------------------------------------


def _response(status: int, body: object = None, **headers: str) -> httpx.Response:
    return reply(status, body, headers=headers)


def test_primary_rate_limit_carries_reset() -> None:
    response = _response(
        403,
        {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        },
        **{
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "1778500800",
            "x-ratelimit-resource": "core",
        },
    )
    verdict = classify_response(response, now=NOW)
    assert verdict.verdict is Verdict.RATE_LIMITED
    error = verdict.error
    assert isinstance(error, RateLimited)
    assert error.reset_at == datetime.fromtimestamp(1778500800, UTC)
    assert error.retry_after is None
    assert error.resource == "core"
    assert not error.secondary
    assert "API rate limit exceeded" in error.message


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_carries_retry_after(status: int) -> None:
    response = _response(
        status,
        {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        },
        **{"retry-after": "37"},
    )
    error = classify_response(response, now=NOW).error
    assert isinstance(error, RateLimited)
    assert error.secondary
    assert error.retry_after == 37
    assert error.reset_at == datetime(2026, 5, 11, 12, 0, 37, tzinfo=UTC)


def test_secondary_rate_limit_without_headers_waits_a_minute() -> None:
    response = _response(403, {"message": "You have exceeded a secondary rate limit."})
    error = classify_response(response, now=NOW).error
    assert isinstance(error, RateLimited)
    assert error.retry_after == 60


@pytest.mark.parametrize(
    ("status", "cls", "message"),
    [
        (401, ProviderAuthError, "Bad credentials"),
        (403, ProviderPermissionError, "Resource not accessible by integration"),
        (404, ProviderNotFound, "Not Found"),
        (410, ProviderNotFound, "Issues are disabled for this repo"),
        (422, ProviderValidationError, "Validation Failed"),
        (409, ProviderConflict, "Head branch was modified. Review and try the merge again."),
        (405, ProviderConflict, "Pull Request is not mergeable"),
    ],
)
def test_fatal_errors_keep_githubs_message(status: int, cls: type[Exception], message: str) -> None:
    response = _response(
        status, {"message": message, "documentation_url": "https://docs.github.com/rest"}
    )
    verdict = classify_response(response, now=NOW)
    assert verdict.verdict is Verdict.FATAL
    assert type(verdict.error) is cls
    assert verdict.error is not None
    assert verdict.error.message == message
    assert verdict.error.status == status
    assert verdict.error.request_id == "CAFE:1234:5678:9ABC:DEF0"
    assert not verdict.error.retryable


def test_validation_error_keeps_field_errors() -> None:
    errors = [{"resource": "Issue", "field": "title", "code": "missing_field"}]
    response = _response(422, {"message": "Validation Failed", "errors": errors})
    error = classify_response(response).error
    assert isinstance(error, ProviderValidationError)
    assert error.details == errors


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient_and_honour_retry_after(status: int) -> None:
    response = httpx.Response(status, headers={"retry-after": "12"}, text="<html>Unicorn!</html>")
    verdict = classify_response(response, now=NOW)
    assert verdict.verdict is Verdict.RETRIABLE
    assert isinstance(verdict.error, ProviderTransientError)
    assert verdict.error.retry_after == 12
    assert verdict.error.retryable


def test_not_modified_and_success() -> None:
    assert classify_response(httpx.Response(304)).verdict is Verdict.NOT_MODIFIED
    assert classify_response(httpx.Response(200)).error is None


async def test_errors_surface_from_operations() -> None:
    mock = (
        MockGitHub()
        .on("GET", f"{ISSUES}/1", _response(404, {"message": "Not Found"}))
        .on("GET", f"{ISSUES}/2", _response(502, None))
        .on(
            "GET",
            f"{ISSUES}/3",
            _response(
                403,
                {"message": "API rate limit exceeded"},
                **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1778500800"},
            ),
        )
    )
    async with token_provider(mock) as github:
        with pytest.raises(ProviderNotFound, match="Not Found"):
            await github.get_issue(REPO, 1)
        with pytest.raises(ProviderTransientError):
            await github.get_issue(REPO, 2)
        with pytest.raises(RateLimited) as limited:
            await github.get_issue(REPO, 3)
    assert limited.value.reset_at == datetime.fromtimestamp(1778500800, UTC)
    # The client's budget reflects the last answer, rate-limited or not.
    assert github.client.rate_limit.remaining == 0


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("eof"),
    ],
)
async def test_transport_failures_are_transient(exc: httpx.TransportError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    mock = MockGitHub().on("GET", f"{ISSUES}/1", fail)
    async with token_provider(mock) as github:
        with pytest.raises(ProviderTransientError) as caught:
            await github.get_issue(REPO, 1)
    assert caught.value.status is None
    assert caught.value.__cause__ is exc


async def test_unexpected_request_fails_the_test() -> None:
    """The strict mock itself: a request nobody declared is a test failure, not a 404."""
    mock = MockGitHub()
    async with token_provider(mock) as github:
        with pytest.raises(pytest.fail.Exception, match="unexpected request"):
            await github.get_issue(REPO, 1)


async def test_issue_writes() -> None:
    def check_patch(request: httpx.Request) -> httpx.Response:
        import json

        assert json.loads(request.content) == {
            "state": "closed",
            "state_reason": "completed",
            "labels": ["bug"],
        }
        return reply(200, issue_payload(1, state="closed", state_reason="completed"))

    mock = (
        MockGitHub()
        .on("PATCH", f"{ISSUES}/1", check_patch)
        .on(
            "POST",
            f"{ISSUES}/1/comments",
            reply(
                201,
                {
                    "id": 1,
                    "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
                    "body": "Me too",
                    "url": f"{API}{ISSUES}/comments/1",
                    "html_url": "https://github.com/octocat/Hello-World/issues/1#issuecomment-1",
                    "issue_url": f"{API}{ISSUES}/1",
                    "user": {"login": "octocat", "id": 1},
                    "created_at": "2011-04-14T16:00:49Z",
                    "updated_at": "2011-04-14T16:00:49Z",
                    "author_association": "COLLABORATOR",
                },
            ),
        )
        .on(
            "POST",
            f"{ISSUES}/1/labels",
            reply(200, [{"id": 1, "name": "bug"}, {"id": 2, "name": "enhancement"}]),
        )
        .on(
            "DELETE",
            f"{ISSUES}/1/labels/needs triage",
            reply(404, {"message": "Label does not exist"}),
        )
        .on("DELETE", f"{ISSUES}/1/labels/bug", reply(200, [{"id": 2, "name": "enhancement"}]))
    )
    from providers.base import IssuePatch

    async with token_provider(mock) as github:
        issue = await github.update_issue(
            REPO, 1, IssuePatch(state="closed", state_reason="completed", labels=["bug"])
        )
        comment = await github.create_comment(REPO, 1, "Me too")
        added = await github.add_labels(REPO, 1, ["enhancement"])
        left = await github.remove_labels(REPO, 1, ["needs triage", "bug"])
    assert isinstance(issue, ExternalIssue)
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert (comment.parent_kind, comment.parent_number, comment.body) == ("issue", 1, "Me too")
    assert added == ["bug", "enhancement"]
    assert left == ["enhancement"]
    assert b"/labels/needs%20triage" in mock.requests[3].url.raw_path
    mock.assert_done()


async def test_merge_pull_request_reads_it_back() -> None:
    pulls = "/repos/octocat/Hello-World/pulls"

    def check_merge(request: httpx.Request) -> httpx.Response:
        import json

        assert json.loads(request.content) == {"merge_method": "squash", "sha": "6dcb09b5"}
        return reply(
            200,
            {
                "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "merged": True,
                "message": "Pull Request successfully merged",
            },
        )

    mock = (
        MockGitHub()
        .on("PUT", f"{pulls}/1347/merge", check_merge)
        .on(
            "GET",
            f"{pulls}/1347",
            reply(200, pull_payload(state="closed", merged=True, merged_at="2026-05-11T12:00:00Z")),
        )
        .on("PUT", f"{pulls}/1/merge", reply(405, {"message": "Pull Request is not mergeable"}))
    )
    from providers.base import MergeOptions

    async with token_provider(mock) as github:
        merged = await github.merge_pull_request(
            REPO, 1347, MergeOptions(method="squash", expected_head_sha="6dcb09b5")
        )
        with pytest.raises(ProviderConflict, match="not mergeable"):
            await github.merge_pull_request(REPO, 1)
    assert merged.merged
    assert merged.state == "closed"
