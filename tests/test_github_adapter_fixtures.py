"""Shared pieces of the GitHub adapter tests: a strict mock of the GitHub API, a clock, a test
App key and payloads shaped like the examples in GitHub's REST documentation.

The RSA key below was made for these tests with `openssl genrsa -traditional 2048` and protects
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.github import GitHubCredentials, GitHubProvider

API = "https://api.github.com"
TOKEN = "ghp_test_static_token"

TEST_APP_KEY_PEM = """-----BEGIN RSA PRIVATE KEY-----
MIIEoAIBAAKCAQEA6F/U7KdwJHYbikakAB3KuZwYkqYmU8/9o2jCoHNs7lpgJc1e
PX3DHnK23KSwBjMbi+ZcAha2v0T+LvSMxS75fS3QAIG+ZtMTR95Ydo52pZFg4bpz
d1/1oXL4EVFLy3mdd8O873OXnpiKyTOOltRnjppF74w+KX6GUrSL73aY2djWLsZZ
4av18sINOQEuiMRyYcCypOq0hWPVzzau859QHh/Z+Y0zXs5CEiBwP843Mc0SkfL8
MISBwF3IpDY+pZH27hdprYieb6vvi8jkzaq3qTXUPQOZ0IQh7i7TigTLFELKFYvE
4bcSAYyJIbIZTxIBdgl9NjNKKLwsat7lfH2U8QIDAQABAoIBAAXFR3jfCZpmMnXj
HjSAiOXGGhgeNypyqlZSBi9M3oImzWdy66m0Q1GwwJjHIDXvM/pr7JICtWQXlwZc
fVhyO7Dfn+A7WJqeGEb7HxBGpmyjKRhB9Jcc03FAdSec8LhrWz07p6f8o2HFYQDx
HlPhj3bLnvv9bBfEtBo+sJDwTYhvXXkDGYKU5/GJXgPN/geA8Jsd6J6GJAyDJxJL
7Igt+GEF9B0b6XdDXgn0cepDSZXsDIJkGyzhdfg5ZnZy2uY5MOdAVkVoYjyZR111
WBLRXVkSfmcUaGO5nJZzWd2HCfcm+Pt5eThOAArIoQiyHUPC/tbqhL3lxzEC5kUR
Sy8upx8CgYEA9e02ERcam7JJTl9cUA8q42AyFhMJ4ASnghAC4hGAl/vjHTcbfQYe
k/QXCs7jnMI+ikoC9RbgP4mxjyc0suRZ2GFOzwz+UgLBsTdeo6W/N36f0lAIjh06
X+GpkQUJPQR3UqcXX+lV/II3IElF52A6dL04CueDqo4LIcBfNu3EvMcCgYEA8eSC
6SBi3hNHWKi5Q9prsIBV8p8g/t7EaitsS/ZpMJ+1IFGAVD6Z7Pw4csdRqAJLEB2v
cnUCbJNrY5bAr168x2qw7We7WjEPr4vAIiSgXZIwyou4/Gv0N9qqzdMYa4FLP62d
u5jJeWomfDhtxjRTe79yaiQiW3MJ3rTy8Mh5uIcCgYBJiKA+A/aEz45zzLfBiId+
bWkMiKzPOxULItZ52lnlGAAU4EFr5MSH4Nhy9uHAIaSpnO+9cRWkafuZnlN3mifz
N0VlS7FPvFtGLhQyQoEmisonDJ9CPyMRQFx/bE4S3J8BK80ldJOtaRIqqT4prPBN
r7ZuLEOGX+qcMPVHa1kESQJ/F585KYsAHK/FR+MyNG4gFhxySD9B+aHHjJaw/LoT
i6wNBBrxbUivv3TiDlNopf+TVP+RIpxKoE/FLPSL3JRj2xWQMZ7vrN8dqQb8vFjX
UEv2d9EtP3lLYCj6hR8YQ2dc8dsCjE9fXXwARiE8lx6FCJCpm7PrpwKU9Cq3jswF
FwKBgGvh4WfPoPFvd4qBFFnX1AvKbcSMAfZVnVHJ6RnBlfQr7Qk1I71dfWSKjjqH
8D4uafW1n+gGierrNvN62nG1BUF8aoDXJwmOU3jZCEY0aa0Gdi70enpFztK49+ey
mCtjjlSn2ABpMt/nJurAcn24ImsHxRGXExhfNre8NKqu8RDU
-----END RSA PRIVATE KEY-----
"""

TEST_APP_KEY_PKCS8_PEM = """-----BEGIN PRIVATE KEY-----
MIIEugIBADANBgkqhkiG9w0BAQEFAASCBKQwggSgAgEAAoIBAQDoX9Tsp3AkdhuK
RqQAHcq5nBiSpiZTz/2jaMKgc2zuWmAlzV49fcMecrbcpLAGMxuL5lwCFra/RP4u
9IzFLvl9LdAAgb5m0xNH3lh2jnalkWDhunN3X/WhcvgRUUvLeZ13w7zvc5eemIrJ
M46W1GeOmkXvjD4pfoZStIvvdpjZ2NYuxlnhq/Xywg05AS6IxHJhwLKk6rSFY9XP
Nq7zn1AeH9n5jTNezkISIHA/zjcxzRKR8vwwhIHAXcikNj6lkfbuF2mtiJ5vq++L
yOTNqrepNdQ9A5nQhCHuLtOKBMsUQsoVi8ThtxIBjIkhshlPEgF2CX02M0oovCxq
3uV8fZTxAgMBAAECggEABcVHeN8JmmYydeMeNICI5cYaGB43KnKqVlIGL0zegibN
Z3LrqbRDUbDAmMcgNe8z+mvskgK1ZBeXBlx9WHI7sN+f4DtYmp4YRvsfEEambKMp
GEH0lxzTcUB1J5zwuGtbPTunp/yjYcVhAPEeU+GPdsue+/1sF8S0Gj6wkPBNiG9d
eQMZgpTn8YleA83+B4Dwmx3onoYkDIMnEkvsiC34YQX0HRvpd0NeCfRx6kNJlewM
gmQbLOF1+DlmdnLa5jkw50BWRWhiPJlHXXVYEtFdWRJ+ZxRoY7mclnNZ3YcJ9yb4
+3l5OE4ACsihCLIdQ8L+1uqEveXHMQLmRRFLLy6nHwKBgQD17TYRFxqbsklOX1xQ
DyrjYDIWEwngBKeCEALiEYCX++MdNxt9Bh6T9BcKzuOcwj6KSgL1FuA/ibGPJzSy
5FnYYU7PDP5SAsGxN16jpb83fp/SUAiOHTpf4amRBQk9BHdSpxdf6VX8gjcgSUXn
YDp0vTgK54OqjgshwF827cS8xwKBgQDx5ILpIGLeE0dYqLlD2muwgFXynyD+3sRq
K2xL9mkwn7UgUYBUPpns/Dhyx1GoAksQHa9ydQJsk2tjlsCvXrzHarDtZ7taMQ+v
i8AiJKBdkjDKi7j8a/Q32qrN0xhrgUs/rZ27mMl5aiZ8OG3GNFN7v3JqJCJbcwne
tPLwyHm4hwKBgEmIoD4D9oTPjnPMt8GIh35taQyIrM87FQsi1nnaWeUYABTgQWvk
xIfg2HL24cAhpKmc771xFaRp+5meU3eaJ/M3RWVLsU+8W0YuFDJCgSaKyicMn0I/
IxFAXH9sThLcnwErzSV0k61pEiqpPims8E2vtm4sQ4Zf6pww9UdrWQRJAn8Xnzkp
iwAcr8VH4zI0biAWHHJIP0H5oceMlrD8uhOLrA0EGvFtSK+/dOIOU2il/5NU/5Ei
nEqgT8Us9IvclGPbFZAxnu+s3x2pBvy8WNdQS/Z30S0/eUtgKPqFHxhDZ1zx2wKM
T19dfABGITyXHoUIkKmbs+unApT0KreOzAUXAoGAa+HhZ8+g8W93ioEUWdfUC8pt
xIwB9lWdUcnpGcGV9CvtCTUjvV19ZIqOOofwPi5p9bWf6AaJ6us283racbUFQXxq
gNcnCY5TeNkIRjRprQZ2LvR6ekXO0rj357KYK2OOVKfYAGky3+cm6sByfbgiawfF
EZcTGF82t7w0qq7xENQ=
-----END PRIVATE KEY-----
"""


class FakeClock:
    """A settable clock for token expiry and rate-limit arithmetic."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class Expected:
    method: str
    path: str
    responder: Responder
    params: dict[str, str] | None = None
    times: int = 1


@dataclass
class MockGitHub:
    """An `httpx.MockTransport` handler that serves only the requests a test declared, in any
    order, each as often as declared; anything else fails the test at once."""

    expected: list[Expected] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        responder: Responder | httpx.Response,
        *,
        params: dict[str, str] | None = None,
        times: int = 1,
    ) -> MockGitHub:
        """Expect `method path` (and, if given, at least these query parameters)."""
        if isinstance(responder, httpx.Response):
            fixed = responder
            responder = lambda _request: fixed  # noqa: E731
        self.expected.append(Expected(method, path, responder, params, times))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for item in self.expected:
            if item.times <= 0 or item.method != request.method or item.path != request.url.path:
                continue
            query = dict(request.url.params)
            if item.params is not None and any(query.get(k) != v for k, v in item.params.items()):
                continue
            item.times -= 1
            return item.responder(request)
        pytest.fail(f"unexpected request: {request.method} {request.url}")

    def assert_done(self) -> None:
        left = [f"{e.method} {e.path}" for e in self.expected if e.times > 0]
        assert not left, f"expected requests never made: {left}"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def reply(
    status: int = 200,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A GitHub-like response: JSON body plus the rate-limit headers every answer carries."""
    base = {
        "content-type": "application/json; charset=utf-8",
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "4999",
        "x-ratelimit-used": "1",
        "x-ratelimit-reset": "1798761600",
        "x-ratelimit-resource": "core",
        "x-github-request-id": "CAFE:1234:5678:9ABC:DEF0",
    }
    base.update(headers or {})
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, headers=base, content=content)


def link(*rels: tuple[str, str]) -> dict[str, str]:
    """A `Link` header as GitHub writes it."""
    return {"link": ", ".join(f'<{url}>; rel="{rel}"' for url, rel in rels)}


def token_provider(mock: MockGitHub, **kwargs: Any) -> GitHubProvider:
    return GitHubProvider.connect(
        GitHubCredentials(token=TOKEN), transport=mock.transport(), **kwargs
    )


# Payloads (shapes from the examples of GitHub's REST documentation) ---------------------------

OWNER = {
    "login": "octocat",
    "id": 1,
    "node_id": "MDQ6VXNlcjE=",
    "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": False,
}


def repository_payload(**overrides: Any) -> dict[str, Any]:
    repo = {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": "Hello-World",
        "full_name": "octocat/Hello-World",
        "owner": OWNER,
        "private": False,
        "html_url": "https://github.com/octocat/Hello-World",
        "description": "This your first repo!",
        "fork": False,
        "url": "https://api.github.com/repos/octocat/Hello-World",
        "issues_url": "https://api.github.com/repos/octocat/Hello-World/issues{/number}",
        "clone_url": "https://github.com/octocat/Hello-World.git",
        "ssh_url": "git@github.com:octocat/Hello-World.git",
        "homepage": "https://github.com",
        "language": None,
        "forks_count": 9,
        "stargazers_count": 80,
        "default_branch": "master",
        "open_issues_count": 0,
        "topics": ["octocat", "atom", "electron", "api"],
        "has_issues": True,
        "archived": False,
        "disabled": False,
        "visibility": "public",
        "pushed_at": "2011-01-26T19:06:43Z",
        "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:14:43Z",
        "permissions": {"admin": False, "push": False, "pull": True},
    }
    repo.update(overrides)
    return repo


def issue_payload(
    number: int = 1347, *, pull_request: bool = False, **overrides: Any
) -> dict[str, Any]:
    base = f"https://api.github.com/repos/octocat/Hello-World/issues/{number}"
    issue: dict[str, Any] = {
        "id": 1000 + number,
        "node_id": "MDU6SXNzdWUx",
        "url": base,
        "repository_url": "https://api.github.com/repos/octocat/Hello-World",
        "labels_url": base + "/labels{/name}",
        "comments_url": base + "/comments",
        "events_url": base + "/events",
        "html_url": f"https://github.com/octocat/Hello-World/issues/{number}",
        "number": number,
        "state": "open",
        "title": "Found a bug",
        "body": "I'm having a problem with this.",
        "user": OWNER,
        "labels": [
            {
                "id": 208045946,
                "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                "url": "https://api.github.com/repos/octocat/Hello-World/labels/bug",
                "name": "bug",
                "description": "Something isn't working",
                "color": "f29513",
                "default": True,
            }
        ],
        "assignee": OWNER,
        "assignees": [OWNER],
        "milestone": {
            "url": "https://api.github.com/repos/octocat/Hello-World/milestones/1",
            "id": 1002604,
            "number": 1,
            "state": "open",
            "title": "v1.0",
        },
        "locked": True,
        "active_lock_reason": "too heated",
        "comments": 0,
        "closed_at": None,
        "created_at": "2011-04-22T13:33:48Z",
        "updated_at": "2011-04-22T13:33:48Z",
        "closed_by": None,
        "author_association": "COLLABORATOR",
        "state_reason": None,
    }
    if pull_request:
        issue["html_url"] = f"https://github.com/octocat/Hello-World/pull/{number}"
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/octocat/Hello-World/pulls/{number}",
            "html_url": f"https://github.com/octocat/Hello-World/pull/{number}",
            "diff_url": f"https://github.com/octocat/Hello-World/pull/{number}.diff",
            "patch_url": f"https://github.com/octocat/Hello-World/pull/{number}.patch",
            "merged_at": None,
        }
    issue.update(overrides)
    return issue


def pull_payload(number: int = 1347, **overrides: Any) -> dict[str, Any]:
    api = f"https://api.github.com/repos/octocat/Hello-World/pulls/{number}"
    repo = repository_payload()
    pr: dict[str, Any] = {
        "url": api,
        "id": 2000 + number,
        "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "html_url": f"https://github.com/octocat/Hello-World/pull/{number}",
        "diff_url": f"https://github.com/octocat/Hello-World/pull/{number}.diff",
        "issue_url": f"https://api.github.com/repos/octocat/Hello-World/issues/{number}",
        "number": number,
        "state": "open",
        "locked": True,
        "title": "Amazing new feature",
        "user": OWNER,
        "body": "Please pull these awesome changes in!",
        "labels": [{"id": 208045946, "name": "bug", "color": "f29513", "default": True}],
        "milestone": None,
        "active_lock_reason": "too heated",
        "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:01:12Z",
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
        "assignee": OWNER,
        "assignees": [OWNER],
        "requested_reviewers": [{**OWNER, "login": "other_user", "id": 2}],
        "requested_teams": [{"id": 1, "slug": "justice-league", "name": "Justice League"}],
        "head": {
            "label": "octocat:new-topic",
            "ref": "new-topic",
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "user": OWNER,
            "repo": repo,
        },
        "base": {
            "label": "octocat:master",
            "ref": "master",
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "user": OWNER,
            "repo": repo,
        },
        "_links": {"self": {"href": api}},
        "author_association": "OWNER",
        "auto_merge": None,
        "draft": False,
    }
    pr.update(overrides)
    return pr


def workflow_run_payload(run_id: int = 30433642, **overrides: Any) -> dict[str, Any]:
    api = f"https://api.github.com/repos/octo-org/octo-repo/actions/runs/{run_id}"
    run: dict[str, Any] = {
        "id": run_id,
        "name": "Build",
        "node_id": "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==",
        "check_suite_id": 42,
        "head_branch": "master",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "path": ".github/workflows/build.yml@main",
        "run_number": 562,
        "event": "push",
        "display_title": "Update README.md",
        "status": "queued",
        "conclusion": None,
        "workflow_id": 159038,
        "url": api,
        "html_url": f"https://github.com/octo-org/octo-repo/actions/runs/{run_id}",
        "jobs_url": api + "/jobs",
        "created_at": "2020-01-22T19:33:08Z",
        "updated_at": "2020-01-22T19:33:08Z",
        "run_attempt": 1,
        "run_started_at": "2020-01-22T19:33:08Z",
        "actor": OWNER,
        "triggering_actor": OWNER,
        "repository": {"id": 1296269, "full_name": "octo-org/octo-repo", "name": "octo-repo"},
    }
    run.update(overrides)
    return run


def job_payload(
    job_id: int = 399444496, run_id: int = 29679449, **overrides: Any
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": job_id,
        "run_id": run_id,
        "run_url": f"https://api.github.com/repos/octo-org/octo-repo/actions/runs/{run_id}",
        "node_id": "MDEyOldvcmtmbG93IEpvYjM5OTQ0NDQ5Ng==",
        "head_sha": "f83a356604ae3c5d03e1b46ef4d1ca77d64a90b0",
        "url": f"https://api.github.com/repos/octo-org/octo-repo/actions/jobs/{job_id}",
        "html_url": f"https://github.com/octo-org/octo-repo/runs/{job_id}",
        "status": "completed",
        "conclusion": "success",
        "started_at": "2020-01-20T17:42:40Z",
        "completed_at": "2020-01-20T17:44:39Z",
        "name": "build",
        "steps": [
            {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1}
        ],
        "check_run_url": f"https://api.github.com/repos/octo-org/octo-repo/check-runs/{job_id}",
        "labels": ["self-hosted", "foo", "bar"],
        "runner_id": 1,
        "runner_name": "my runner",
        "runner_group_id": 2,
        "runner_group_name": "my runner group",
        "workflow_name": "CI",
        "head_branch": "main",
    }
    job.update(overrides)
    return job


def deploy_key_payload(
    key_id: int, key: str, *, title: str = "octocat@octomac", read_only: bool = True
) -> dict[str, Any]:
    return {
        "id": key_id,
        "key": key,
        "url": f"https://api.github.com/repos/octocat/Hello-World/keys/{key_id}",
        "title": title,
        "verified": True,
        "created_at": "2014-12-10T15:53:42Z",
        "read_only": read_only,
        "added_by": "octocat",
        "last_used": "2022-01-10T15:53:42Z",
        "enabled": True,
    }
