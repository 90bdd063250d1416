"""The simulator's responses against GitHub's published OpenAPI description (@octokit/openapi)
and its webhook payloads against @octokit/webhooks-schemas.

Every endpoint the simulator serves is called once on a fresh seeded world and its body is
validated against the documented response schema for that status, with $refs resolved and
`nullable` honoured: a missing required field, a wrong type or a bad enum value fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from providers.github.simulator import AppConfig, Simulator
from tests.test_github_simulator_support import (
    NPM,
    app_jwt,
    client,
    make_sim,
    openapi_validator,
    rsa_private_pem,
    schema_errors,
    small_seed,
    webhook_validator,
)

pytestmark = pytest.mark.skipif(
    not NPM.exists(),
    reason="tests/npm/node_modules is absent: run `npm ci --prefix tests/npm` to install the "
    "published GitHub OpenAPI description and webhook schemas",
)

APP_ID = 4242
R = "/repos/{owner}/{repo}"


@dataclass(frozen=True)
class Case:
    method: str
    spec_path: str  # the path as the OpenAPI description spells it
    path: str  # with {r} (owner/repo) and picks from `World` as format fields
    status: int
    body: Any = None
    auth: str = "token"  # token, installation or jwt


CASES = [
    Case("GET", "/installation/repositories", "/installation/repositories", 200,
         auth="installation"),
    Case("GET", "/orgs/{org}/repos", "/orgs/{org}/repos", 200),
    Case("GET", "/user/repos", "/user/repos", 200),
    Case("GET", R, "/repos/{r}", 200),
    Case("GET", f"{R}/issues", "/repos/{r}/issues?state=all&per_page=100", 200),
    Case("GET", f"{R}/issues/{{issue_number}}", "/repos/{r}/issues/{issue}", 200),
    Case("GET", f"{R}/issues/{{issue_number}}", "/repos/{r}/issues/{merged_pull}", 200),
    Case("PATCH", f"{R}/issues/{{issue_number}}", "/repos/{r}/issues/{issue}", 200,
         {"title": "Edited", "state": "closed", "state_reason": "not_planned",
          "labels": ["bug"], "assignees": ["ada"], "milestone": 1}),
    Case("POST", f"{R}/issues", "/repos/{r}/issues", 201,
         {"title": "New", "body": "Body", "labels": ["bug", "brand new"], "assignees": ["ada"]}),
    Case("GET", f"{R}/pulls", "/repos/{r}/pulls?state=all&per_page=100", 200),
    Case("GET", f"{R}/pulls/{{pull_number}}", "/repos/{r}/pulls/{open_pull}", 200),
    Case("GET", f"{R}/pulls/{{pull_number}}", "/repos/{r}/pulls/{merged_pull}", 200),
    Case("POST", f"{R}/pulls", "/repos/{r}/pulls", 201,
         {"title": "Feature", "head": "{feature}", "base": "main", "body": "Adds it"}),
    Case("PATCH", f"{R}/pulls/{{pull_number}}", "/repos/{r}/pulls/{open_pull}", 200,
         {"title": "Renamed", "state": "closed"}),
    Case("PUT", f"{R}/pulls/{{pull_number}}/merge", "/repos/{r}/pulls/{open_pull}/merge", 200,
         {"merge_method": "squash"}),
    Case("GET", f"{R}/pulls/{{pull_number}}/reviews", "/repos/{r}/pulls/{reviewed_pull}/reviews",
         200),
    Case("GET", f"{R}/pulls/{{pull_number}}/reviews/{{review_id}}",
         "/repos/{r}/pulls/{reviewed_pull}/reviews/{review}", 200),
    Case("GET", f"{R}/pulls/comments", "/repos/{r}/pulls/comments?per_page=100", 200),
    Case("GET", f"{R}/pulls/comments/{{comment_id}}", "/repos/{r}/pulls/comments/{review_comment}",
         200),
    Case("GET", f"{R}/pulls/{{pull_number}}/comments",
         "/repos/{r}/pulls/{commented_pull}/comments", 200),
    Case("GET", f"{R}/issues/comments", "/repos/{r}/issues/comments?per_page=100", 200),
    Case("GET", f"{R}/issues/{{issue_number}}/comments",
         "/repos/{r}/issues/{commented_issue}/comments", 200),
    Case("POST", f"{R}/issues/{{issue_number}}/comments", "/repos/{r}/issues/{issue}/comments",
         201, {"body": "Hello"}),
    Case("PATCH", f"{R}/issues/comments/{{comment_id}}", "/repos/{r}/issues/comments/{comment}",
         200, {"body": "Edited"}),
    Case("DELETE", f"{R}/issues/comments/{{comment_id}}", "/repos/{r}/issues/comments/{comment}",
         204),
    Case("GET", f"{R}/labels", "/repos/{r}/labels", 200),
    Case("POST", f"{R}/issues/{{issue_number}}/labels", "/repos/{r}/issues/{issue}/labels", 200,
         {"labels": ["question", "fresh"]}),
    Case("DELETE", f"{R}/issues/{{issue_number}}/labels/{{name}}",
         "/repos/{r}/issues/{labelled_issue}/labels/{label}", 200),
    Case("GET", f"{R}/milestones", "/repos/{r}/milestones?state=all", 200),
    Case("POST", f"{R}/issues/{{issue_number}}/assignees", "/repos/{r}/issues/{issue}/assignees",
         201, {"assignees": ["grace"]}),
    Case("DELETE", f"{R}/issues/{{issue_number}}/assignees",
         "/repos/{r}/issues/{assigned_issue}/assignees", 200, {"assignees": ["{assignee}"]}),
    Case("GET", f"{R}/actions/runs", "/repos/{r}/actions/runs", 200),
    Case("GET", f"{R}/actions/runs/{{run_id}}", "/repos/{r}/actions/runs/{pr_run}", 200),
    Case("GET", f"{R}/actions/runs/{{run_id}}/jobs", "/repos/{r}/actions/runs/{done_run}/jobs",
         200),
    Case("GET", f"{R}/actions/jobs/{{job_id}}", "/repos/{r}/actions/jobs/{job}", 200),
    Case("POST", f"{R}/actions/runs/{{run_id}}/rerun", "/repos/{r}/actions/runs/{done_run}/rerun",
         201),
    Case("POST", f"{R}/actions/runs/{{run_id}}/cancel",
         "/repos/{r}/actions/runs/{live_run}/cancel", 202),
    Case("GET", f"{R}/branches", "/repos/{r}/branches", 200),
    Case("GET", f"{R}/tags", "/repos/{r}/tags", 200),
    Case("GET", f"{R}/git/matching-refs/{{ref}}", "/repos/{r}/git/matching-refs/heads", 200),
    Case("GET", f"{R}/git/ref/{{ref}}", "/repos/{r}/git/ref/heads/main", 200),
    Case("GET", f"{R}/commits", "/repos/{r}/commits", 200),
    Case("GET", f"{R}/commits/{{ref}}", "/repos/{r}/commits/main", 200),
    Case("GET", f"{R}/keys", "/repos/{r}/keys", 200),
    Case("POST", f"{R}/keys", "/repos/{r}/keys", 201,
         {"title": "ci", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFresh ci@example",
          "read_only": True}),
    Case("GET", f"{R}/keys/{{key_id}}", "/repos/{r}/keys/{key}", 200),
    Case("DELETE", f"{R}/keys/{{key_id}}", "/repos/{r}/keys/{key}", 204),
    Case("GET", f"{R}/hooks", "/repos/{r}/hooks", 200),
    Case("POST", f"{R}/hooks", "/repos/{r}/hooks", 201,
         {"config": {"url": "https://example.com/hook", "secret": "s"}, "events": ["push"]}),
    Case("GET", f"{R}/hooks/{{hook_id}}", "/repos/{r}/hooks/{hook}", 200),
    Case("DELETE", f"{R}/hooks/{{hook_id}}", "/repos/{r}/hooks/{hook}", 204),
    Case("GET", f"{R}/collaborators", "/repos/{r}/collaborators", 200),
    Case("GET", f"{R}/teams", "/repos/{r}/teams", 200),
    Case("GET", f"{R}/branches/{{branch}}/protection", "/repos/{r}/branches/main/protection", 200),
    Case("PUT", f"{R}/branches/{{branch}}/protection", "/repos/{r}/branches/{feature}/protection",
         200, {"required_status_checks": {"strict": True, "contexts": ["CI"]},
               "enforce_admins": True,
               "required_pull_request_reviews": {"dismiss_stale_reviews": True,
                                                 "required_approving_review_count": 2},
               "restrictions": {"users": [], "teams": []},
               "required_linear_history": True}),
    Case("DELETE", f"{R}/branches/{{branch}}/protection", "/repos/{r}/branches/main/protection",
         204),
    Case("GET", "/rate_limit", "/rate_limit", 200),
    Case("POST", "/app/installations/{installation_id}/access_tokens",
         "/app/installations/{installation}/access_tokens", 201, auth="jwt"),
    Case("GET", "/app", "/app", 200, auth="jwt"),
]  # fmt: skip


def world(sim: Simulator) -> dict[str, Any]:
    """Objects of each kind the cases need, picked from the seeded world."""
    repo = next(iter(sim.state.repos.values()))
    issues = [i for i in repo.issues.values() if i.pull is None]
    pulls = [i for i in repo.issues.values() if i.pull is not None]
    open_pulls = [p for p in pulls if p.state == "open" and p.pull and not p.pull.draft]
    merged = [p for p in pulls if p.pull and p.pull.merged_at]
    labelled = next(i for i in issues if i.labels)
    assigned = next(i for i in issues if i.assignees)
    done_runs = [r for r in repo.runs.values() if r.status == "completed"]
    return {
        "r": repo.full_name,
        "org": repo.owner.login,
        "issue": issues[0].number,
        "labelled_issue": labelled.number,
        "label": labelled.labels[0].name,
        "assigned_issue": assigned.number,
        "assignee": assigned.assignees[0].login,
        "commented_issue": next(n for n, c in repo.comments_by_issue.items() if c),
        "comment": next(iter(repo.comments)),
        "open_pull": open_pulls[0].number,
        "merged_pull": merged[0].number,
        "reviewed_pull": next(n for n, r in repo.reviews_by_pull.items() if r),
        "review": next(r for r in repo.reviews_by_pull.values() if r)[0].id,
        "review_comment": next(iter(repo.review_comments)),
        "job": done_runs[0].jobs[0].id,
        "commented_pull": next(n for n, c in repo.review_comments_by_pull.items() if c),
        "feature": next(b for b in repo.branches if b != "main"),
        "done_run": done_runs[0].id,
        "pr_run": next((r.id for r in repo.runs.values() if r.pull_numbers), done_runs[0].id),
        "live_run": next(r.id for r in repo.runs.values() if r.status != "completed"),
        "key": next(iter(repo.keys)),
        "hook": next(iter(repo.hooks)),
        "installation": next(iter(sim.state.installations)),
    }


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def simulator() -> Simulator:
    seed = small_seed(issues=10, pulls=10, runs=6, comments=3, reviews=2, review_comments=3)
    return make_sim(seed=seed, apps=[AppConfig(app_id=APP_ID, key_pem=rsa_private_pem())])


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.method} {c.spec_path} {c.status} {c.path[-20:]}" for c in CASES]
)
async def test_response_matches_published_schema(case: Case) -> None:
    sim = simulator()
    names = world(sim)
    jwt = app_jwt(rsa_private_pem(), str(APP_ID))
    async with client(sim) as http:
        headers = {}
        if case.auth == "jwt":
            headers["Authorization"] = f"Bearer {jwt}"
        elif case.auth == "installation":
            minted = await http.post(
                f"/app/installations/{names['installation']}/access_tokens",
                headers={"Authorization": f"Bearer {jwt}"},
            )
            assert minted.status_code == 201, minted.text
            headers["Authorization"] = f"token {minted.json()['token']}"
        response = await http.request(
            case.method,
            _fill(case.path, names),
            json=_fill(case.body, names) if case.body is not None else None,
            headers=headers,
        )
    assert response.status_code == case.status, response.text
    if case.status == 204:
        assert response.content == b""
        return
    body = response.json()
    if isinstance(body, list):
        assert body, "an empty list would validate nothing"
    validator = openapi_validator(case.method, case.spec_path, case.status)
    assert schema_errors(validator, body) == []


def test_every_documented_operation_is_covered() -> None:
    """The cases above name real operations of the published description."""
    from tests.test_github_simulator_support import openapi_document

    paths = openapi_document()["paths"]
    for case in CASES:
        assert case.method.lower() in paths.get(case.spec_path, {}), case


async def test_error_bodies_match_published_schema() -> None:
    sim = simulator()
    names = world(sim)
    async with client(sim) as http:
        missing = await http.get(f"/repos/{names['r']}/issues/99999")
        invalid = await http.post(f"/repos/{names['r']}/issues", json={"body": "no title"})
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    assert schema_errors(openapi_validator("GET", f"{R}/issues/{{issue_number}}", 404),
                         missing.json()) == []  # fmt: skip
    assert invalid.status_code == 422
    assert schema_errors(openapi_validator("POST", f"{R}/issues", 422), invalid.json()) == []
    assert invalid.json()["errors"][0]["field"] == "title"


# -- webhooks -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


async def test_webhook_payloads_match_published_schemas() -> None:
    recorder = Recorder()
    sim = Simulator(
        simulator().config,
        webhook_transport=httpx.MockTransport(recorder),
    )
    sim.webhooks.configure(url="http://receiver.test/hook", secret="s3cret")
    sim.add_app(AppConfig(app_id=APP_ID + 1, key_pem=rsa_private_pem()))
    names = world(sim)
    r = names["r"]
    async with client(sim) as http:
        created = (await http.post(f"/repos/{r}/issues", json={"title": "Hook me"})).json()
        number = created["number"]
        await http.patch(f"/repos/{r}/issues/{number}", json={"title": "Hooked"})
        await http.post(f"/repos/{r}/issues/{number}/labels", json={"labels": ["bug"]})
        await http.delete(f"/repos/{r}/issues/{number}/labels/bug")
        await http.post(f"/repos/{r}/issues/{number}/assignees", json={"assignees": ["ada"]})
        comment = (
            await http.post(f"/repos/{r}/issues/{number}/comments", json={"body": "hi"})
        ).json()
        await http.patch(f"/repos/{r}/issues/comments/{comment['id']}", json={"body": "edit"})
        await http.delete(f"/repos/{r}/issues/comments/{comment['id']}")
        await http.patch(f"/repos/{r}/issues/{number}", json={"state": "closed"})
        await http.patch(f"/repos/{r}/issues/{number}", json={"state": "open"})
        pull = (
            await http.post(
                f"/repos/{r}/pulls", json={"title": "PR", "head": names["feature"], "base": "main"}
            )
        ).json()
        await http.patch(f"/repos/{r}/pulls/{pull['number']}", json={"title": "PR edited"})
        await http.post(f"/repos/{r}/issues/{pull['number']}/labels", json=["enhancement"])
        await http.post(f"/repos/{r}/issues/{pull['number']}/comments", json={"body": "on a PR"})
        await http.put(f"/repos/{r}/pulls/{pull['number']}/merge", json={})
        await http.post(f"/repos/{r}/actions/runs/{names['done_run']}/rerun")
        await http.post(f"/repos/{r}/actions/runs/{names['live_run']}/cancel")
    await sim.webhooks.drain()
    seen = set()
    for request in recorder.requests:
        payload = request.read()
        import json

        body = json.loads(payload)
        event = request.headers["X-GitHub-Event"]
        seen.add(f"{event}.{body['action']}")
        errors = schema_errors(webhook_validator(event, body["action"]), body)
        assert errors == [], f"{event}.{body['action']}: {errors}"
    assert {
        "issues.opened", "issues.edited", "issues.labeled", "issues.unlabeled", "issues.assigned",
        "issues.closed", "issues.reopened", "issue_comment.created", "issue_comment.edited",
        "issue_comment.deleted", "pull_request.opened", "pull_request.edited",
        "pull_request.labeled", "pull_request.closed", "workflow_run.requested",
        "workflow_run.completed",
    } <= seen  # fmt: skip
