"""GitHub's JSON shapes for the simulator's objects (REST API version 2022-11-28).

`base` is the simulator's own root URL: it serves both the API (`{base}/repos/...`, like
api.github.com) and the html links (`{base}/{owner}/{repo}/...`, like github.com), whose paths
never collide. Field sets follow the published OpenAPI description (every required field is
present) and stay inside what the webhook schemas allow, so the same objects serve webhooks.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from providers.github.simulator.clock import iso
from providers.github.simulator.ids import git_sha, node_id
from providers.github.simulator.models import (
    App,
    Branch,
    Collaborator,
    Commit,
    DeployKey,
    Hook,
    Issue,
    IssueComment,
    Job,
    Label,
    Milestone,
    Review,
    ReviewComment,
    Tag,
    Team,
    User,
    WorkflowRun,
)
from providers.github.simulator.state import Repo

Json = dict[str, Any]

# The REST API version the caller asked for (X-GitHub-Api-Version). 2026-03-10 adds
# `archived_at` / `archived_by` to labels (githubkit 0.16's models require them).
DEFAULT_API_VERSION = "2022-11-28"
API_VERSIONS = ("2022-11-28", "2026-03-10")
api_version: ContextVar[str] = ContextVar("api_version", default=DEFAULT_API_VERSION)

ROLE_PERMISSIONS = {
    "admin": {"pull": True, "triage": True, "push": True, "maintain": True, "admin": True},
    "maintain": {"pull": True, "triage": True, "push": True, "maintain": True, "admin": False},
    "write": {"pull": True, "triage": True, "push": True, "maintain": False, "admin": False},
    "triage": {"pull": True, "triage": True, "push": False, "maintain": False, "admin": False},
    "read": {"pull": True, "triage": False, "push": False, "maintain": False, "admin": False},
}
APP_PERMISSIONS = {
    "actions": "write",
    "administration": "write",
    "checks": "read",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
APP_EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "workflow_run"]


def user(u: User, base: str) -> Json:
    """A user object. Shared between calls (users never change): copy before modifying."""
    key = (u.id, u.login, u.type, base)
    found = _USERS.get(key)
    if found is None:
        found = _USERS[key] = _user(u, base)
    return found


_USERS: dict[tuple[int, str, str, str], Json] = {}


def _user(u: User, base: str) -> Json:
    api = f"{base}/users/{u.login}"
    return {
        "login": u.login,
        "id": u.id,
        "node_id": node_id("org" if u.type == "Organization" else "user", u.id),
        "avatar_url": f"{base}/avatars/u/{u.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{u.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": u.type,
        "site_admin": u.site_admin,
    }


def _maybe_user(u: User | None, base: str) -> Json | None:
    return None if u is None else user(u, base)


def _repo_urls(repo: Repo, base: str) -> Json:
    api = f"{base}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": node_id("repo", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(repo.owner, base),
        "html_url": f"{base}/{repo.full_name}",
        "description": repo.description,
        "fork": False,
        "url": api,
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
    }


def open_issues_count(repo: Repo) -> int:
    return repo.view(
        ("open_issues_count",),
        lambda: [sum(1 for i in repo.issues.values() if i.state == "open")],
    )[0]


def minimal_repository(repo: Repo, base: str) -> Json:
    """The short form GitHub embeds in workflow runs (cached like `repository`)."""
    return dict(repo.view(("minimal_repository", base), lambda: [_repo_urls(repo, base)])[0])


def repository(repo: Repo, base: str, *, permissions: bool = True) -> Json:
    """The `repository` shape of list endpoints, pull request heads and webhooks. Cached per
    repository generation: a page of pull requests embeds it twice per item."""
    key = ("repository", base, permissions, api_version.get())
    return dict(repo.view(key, lambda: [_repository(repo, base, permissions)])[0])


def _repository(repo: Repo, base: str, permissions: bool) -> Json:
    data = _repo_urls(repo, base)
    host = base.split("://", 1)[-1]
    open_count = open_issues_count(repo)
    data.update(
        {
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
            "clone_url": f"{base}/{repo.full_name}.git",
            "svn_url": f"{base}/{repo.full_name}",
            "homepage": None,
            "size": 100 + len(repo.commit_order),
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": repo.language,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_count,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": list(repo.topics),
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "custom_properties": {},
        }
    )
    if permissions:
        data["permissions"] = dict(ROLE_PERMISSIONS["admin"])
    return data


def full_repository(repo: Repo, base: str) -> Json:
    """GET /repos/{owner}/{repo}."""
    data = repository(repo, base)
    data.update(
        {
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "delete_branch_on_merge": False,
            "allow_update_branch": False,
            "use_squash_pr_title_as_default": False,
            "squash_merge_commit_message": "COMMIT_MESSAGES",
            "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
            "merge_commit_message": "PR_TITLE",
            "merge_commit_title": "MERGE_MESSAGE",
            "temp_clone_token": None,
            "network_count": 0,
            "subscribers_count": 0,
        }
    )
    if repo.owner.type == "Organization":
        data["organization"] = user(repo.owner, base)
    return data


def label(lb: Label, repo: Repo, base: str) -> Json:
    data: Json = {
        "id": lb.id,
        "node_id": node_id("label", lb.id),
        "url": f"{base}/repos/{repo.full_name}/labels/{quote(lb.name)}",
        "name": lb.name,
        "color": lb.color,
        "default": lb.default,
        "description": lb.description,
    }
    if api_version.get() >= "2026-03-10":
        data["archived_at"] = None
        data["archived_by"] = None
    return data


def milestone_counts(repo: Repo) -> dict[int, tuple[int, int]]:
    """Open and closed issue counts per milestone number, computed once per generation."""

    def build() -> list[dict[int, tuple[int, int]]]:
        counts: dict[int, list[int]] = {}
        for issue in repo.issues.values():
            if issue.milestone is not None:
                pair = counts.setdefault(issue.milestone.number, [0, 0])
                pair[0 if issue.state == "open" else 1] += 1
        return [{k: (v[0], v[1]) for k, v in counts.items()}]

    return repo.view(("milestone_counts",), build)[0]


def milestone(ms: Milestone, repo: Repo, base: str) -> Json:
    open_count, closed_count = milestone_counts(repo).get(ms.number, (0, 0))
    return {
        "url": f"{base}/repos/{repo.full_name}/milestones/{ms.number}",
        "html_url": f"{base}/{repo.full_name}/milestone/{ms.number}",
        "labels_url": f"{base}/repos/{repo.full_name}/milestones/{ms.number}/labels",
        "id": ms.id,
        "node_id": node_id("milestone", ms.id),
        "number": ms.number,
        "title": ms.title,
        "description": ms.description,
        "creator": user(ms.creator, base),
        "open_issues": open_count,
        "closed_issues": closed_count,
        "state": ms.state,
        "created_at": iso(ms.created_at),
        "updated_at": iso(ms.updated_at),
        "due_on": iso(ms.due_on),
        "closed_at": iso(ms.closed_at),
    }


def _reactions(url: str) -> Json:
    return {
        "url": f"{url}/reactions",
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    }


def _issue_html(issue: Issue, repo: Repo, base: str) -> str:
    kind = "pull" if issue.pull else "issues"
    return f"{base}/{repo.full_name}/{kind}/{issue.number}"


def issue(i: Issue, repo: Repo, base: str) -> Json:
    """An issue as the issues endpoints return it; pull requests carry `pull_request`."""
    api = f"{base}/repos/{repo.full_name}/issues/{i.number}"
    data: Json = {
        "url": api,
        "repository_url": f"{base}/repos/{repo.full_name}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": _issue_html(i, repo, base),
        "id": i.id,
        "node_id": node_id("issue", i.id),
        "number": i.number,
        "title": i.title,
        "user": user(i.user, base),
        "labels": [label(lb, repo, base) for lb in i.labels],
        "state": i.state,
        "locked": i.locked,
        "assignee": _maybe_user(i.assignees[0] if i.assignees else None, base),
        "assignees": [user(a, base) for a in i.assignees],
        "milestone": milestone(i.milestone, repo, base) if i.milestone else None,
        "comments": i.comments,
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at),
        "closed_at": iso(i.closed_at),
        "author_association": i.author_association,
        "active_lock_reason": i.active_lock_reason,
        "body": i.body,
        "reactions": _reactions(api),
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        "state_reason": i.state_reason,
    }
    if i.pull is not None:
        html = data["html_url"]
        data["draft"] = i.pull.draft
        data["pull_request"] = {
            "url": f"{base}/repos/{repo.full_name}/pulls/{i.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(i.pull.merged_at),
        }
    return data


def _pr_ref(repo: Repo, base: str, ref: str, sha: str) -> Json:
    return {
        "label": f"{repo.owner.login}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(repo.owner, base),
        "repo": repository(repo, base, permissions=False),
    }


def pull_request(i: Issue, repo: Repo, base: str, *, full: bool = True) -> Json:
    """A pull request: the `pull-request` shape, or `pull-request-simple` for lists."""
    p = i.pull
    assert p is not None
    repo_api = f"{base}/repos/{repo.full_name}"
    api = f"{repo_api}/pulls/{i.number}"
    issue_api = f"{repo_api}/issues/{i.number}"
    html = f"{base}/{repo.full_name}/pull/{i.number}"
    data: Json = {
        "url": api,
        "id": p.id,
        "node_id": node_id("pull", p.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "number": i.number,
        "state": i.state,
        "locked": i.locked,
        "title": i.title,
        "user": user(i.user, base),
        "body": i.body,
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at),
        "closed_at": iso(i.closed_at),
        "merged_at": iso(p.merged_at),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": _maybe_user(i.assignees[0] if i.assignees else None, base),
        "assignees": [user(a, base) for a in i.assignees],
        "requested_reviewers": [user(r, base) for r in p.requested_reviewers],
        "requested_teams": [],
        "labels": [label(lb, repo, base) for lb in i.labels],
        "milestone": milestone(i.milestone, repo, base) if i.milestone else None,
        "draft": p.draft,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": f"{repo_api}/statuses/{p.head_sha}",
        "head": _pr_ref(repo, base, p.head_ref, p.head_sha),
        "base": _pr_ref(repo, base, p.base_ref, p.base_sha),
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{repo_api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": f"{repo_api}/statuses/{p.head_sha}"},
        },
        "author_association": i.author_association,
        "auto_merge": None,
        "active_lock_reason": i.active_lock_reason,
    }
    if full:
        is_open = i.state == "open"
        data.update(
            {
                "merged": p.merged_at is not None,
                "mergeable": True if is_open else None,
                "rebaseable": True if is_open else None,
                "mergeable_state": ("draft" if p.draft else "clean") if is_open else "unknown",
                "merged_by": _maybe_user(p.merged_by, base),
                "comments": i.comments,
                "review_comments": p.review_comments,
                "maintainer_can_modify": p.maintainer_can_modify,
                "commits": p.commits,
                "additions": p.additions,
                "deletions": p.deletions,
                "changed_files": p.changed_files,
            }
        )
    return data


def issue_comment(c: IssueComment, repo: Repo, base: str, issue_obj: Issue | None = None) -> Json:
    repo_api = f"{base}/repos/{repo.full_name}"
    kind = "pull" if issue_obj is not None and issue_obj.pull else "issues"
    url = f"{repo_api}/issues/comments/{c.id}"
    return {
        "url": url,
        "html_url": f"{base}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{repo_api}/issues/{c.issue_number}",
        "id": c.id,
        "node_id": node_id("issue_comment", c.id),
        "user": user(c.user, base),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "author_association": c.author_association,
        "body": c.body,
        "reactions": _reactions(url),
        "performed_via_github_app": None,
    }


def review(r: Review, repo: Repo, base: str) -> Json:
    html = f"{base}/{repo.full_name}/pull/{r.pull_number}#pullrequestreview-{r.id}"
    pr_url = f"{base}/repos/{repo.full_name}/pulls/{r.pull_number}"
    return {
        "id": r.id,
        "node_id": node_id("review", r.id),
        "user": user(r.user, base),
        "body": r.body,
        "state": r.state,
        "html_url": html,
        "pull_request_url": pr_url,
        "author_association": r.author_association,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        "submitted_at": iso(r.submitted_at),
        "commit_id": r.commit_id,
    }


def review_comment(c: ReviewComment, repo: Repo, base: str) -> Json:
    url = f"{base}/repos/{repo.full_name}/pulls/comments/{c.id}"
    html = f"{base}/{repo.full_name}/pull/{c.pull_number}#discussion_r{c.id}"
    pr_url = f"{base}/repos/{repo.full_name}/pulls/{c.pull_number}"
    data: Json = {
        "url": url,
        "pull_request_review_id": c.review_id,
        "id": c.id,
        "node_id": node_id("review_comment", c.id),
        "diff_hunk": c.diff_hunk,
        "path": c.path,
        "commit_id": c.commit_id,
        "original_commit_id": c.commit_id,
        "user": user(c.user, base),
        "body": c.body,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "html_url": html,
        "pull_request_url": pr_url,
        "author_association": c.author_association,
        "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr_url}},
        "reactions": _reactions(url),
        "start_line": None,
        "original_start_line": None,
        "start_side": None,
        "line": c.line,
        "original_line": c.line,
        "side": "RIGHT",
        "original_position": c.line,
        "position": c.line,
        "subject_type": "line",
    }
    if c.in_reply_to_id is not None:
        data["in_reply_to_id"] = c.in_reply_to_id
    return data


def _git_person(u: User, when: Any) -> Json:
    return {
        "name": u.login,
        "email": f"{u.id}+{u.login}@users.noreply.github.com",
        "date": iso(when),
    }


def workflow_run(run: WorkflowRun, repo: Repo, base: str) -> Json:
    api = f"{base}/repos/{repo.full_name}/actions/runs/{run.id}"
    repo_api = f"{base}/repos/{repo.full_name}"
    person = _git_person(run.actor, run.created_at)
    pulls = []
    for number in run.pull_numbers:
        found = repo.issues.get(number)
        if found is None or found.pull is None:
            continue
        short_repo = {"id": repo.id, "url": repo_api, "name": repo.name}
        pulls.append(
            {
                "url": f"{repo_api}/pulls/{number}",
                "id": found.pull.id,
                "number": number,
                "head": {
                    "ref": found.pull.head_ref,
                    "sha": found.pull.head_sha,
                    "repo": short_repo,
                },
                "base": {
                    "ref": found.pull.base_ref,
                    "sha": found.pull.base_sha,
                    "repo": short_repo,
                },
            }
        )
    check_suite_id = run.id + 5_000_000_000
    return {
        "id": run.id,
        "name": run.name,
        "node_id": node_id("run", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": run.display_title,
        "run_number": run.run_number,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "check_suite_id": check_suite_id,
        "check_suite_node_id": node_id("check_suite", check_suite_id),
        "url": api,
        "html_url": f"{base}/{repo.full_name}/actions/runs/{run.id}",
        "pull_requests": pulls,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "actor": user(run.actor, base),
        "run_attempt": run.run_attempt,
        "referenced_workflows": [],
        "run_started_at": iso(run.run_started_at),
        "triggering_actor": user(run.actor, base),
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{repo_api}/check-suites/{check_suite_id}",
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "previous_attempt_url": (
            f"{api}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None
        ),
        "workflow_url": f"{repo_api}/actions/workflows/{run.workflow_id}",
        "head_commit": {
            "id": run.head_sha,
            "tree_id": git_sha("tree", run.head_sha),
            "message": run.head_message,
            "timestamp": iso(run.created_at),
            "author": {"name": person["name"], "email": person["email"]},
            "committer": {"name": person["name"], "email": person["email"]},
        },
        "repository": minimal_repository(repo, base),
        "head_repository": minimal_repository(repo, base),
    }


def job(j: Job, run: WorkflowRun, repo: Repo, base: str) -> Json:
    repo_api = f"{base}/repos/{repo.full_name}"
    return {
        "id": j.id,
        "run_id": run.id,
        "workflow_name": run.name,
        "head_branch": run.head_branch,
        "run_url": f"{repo_api}/actions/runs/{run.id}",
        "run_attempt": j.run_attempt,
        "node_id": node_id("job", j.id),
        "head_sha": run.head_sha,
        "url": f"{repo_api}/actions/jobs/{j.id}",
        "html_url": f"{base}/{repo.full_name}/actions/runs/{run.id}/job/{j.id}",
        "status": j.status,
        "conclusion": j.conclusion,
        "created_at": iso(j.created_at),
        "started_at": iso(j.started_at),
        "completed_at": iso(j.completed_at),
        "name": j.name,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "conclusion": s.conclusion,
                "number": s.number,
                "started_at": iso(s.started_at),
                "completed_at": iso(s.completed_at),
            }
            for s in j.steps
        ],
        "check_run_url": f"{repo_api}/check-runs/{j.id}",
        "labels": ["ubuntu-latest"],
        "runner_id": j.runner_id,
        "runner_name": j.runner_name,
        "runner_group_id": 1 if j.runner_id is not None else None,
        "runner_group_name": "GitHub Actions" if j.runner_id is not None else None,
    }


def branch(b: Branch, repo: Repo, base: str) -> Json:
    return {
        "name": b.name,
        "commit": {"sha": b.sha, "url": f"{base}/repos/{repo.full_name}/commits/{b.sha}"},
        "protected": b.protection is not None,
    }


def tag(t: Tag, repo: Repo, base: str) -> Json:
    repo_api = f"{base}/repos/{repo.full_name}"
    return {
        "name": t.name,
        "zipball_url": f"{repo_api}/zipball/refs/tags/{t.name}",
        "tarball_url": f"{repo_api}/tarball/refs/tags/{t.name}",
        "commit": {"sha": t.sha, "url": f"{repo_api}/commits/{t.sha}"},
        "node_id": node_id("ref", int(git_sha("tag", repo.id, t.name)[:12], 16)),
    }


def git_ref(ref: str, sha: str, repo: Repo, base: str) -> Json:
    repo_api = f"{base}/repos/{repo.full_name}"
    return {
        "ref": ref,
        "node_id": node_id("ref", int(git_sha(repo.id, ref)[:12], 16)),
        "url": f"{repo_api}/git/{ref}",
        "object": {"sha": sha, "type": "commit", "url": f"{repo_api}/git/commits/{sha}"},
    }


def commit(c: Commit, repo: Repo, base: str, *, detail: bool = False) -> Json:
    repo_api = f"{base}/repos/{repo.full_name}"
    person = _git_person(c.author, c.date)
    data: Json = {
        "sha": c.sha,
        "node_id": node_id("commit", int(c.sha[:12], 16)),
        "commit": {
            "author": person,
            "committer": person,
            "message": c.message,
            "tree": {"sha": c.tree_sha, "url": f"{repo_api}/git/trees/{c.tree_sha}"},
            "url": f"{repo_api}/git/commits/{c.sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "url": f"{repo_api}/commits/{c.sha}",
        "html_url": f"{base}/{repo.full_name}/commit/{c.sha}",
        "comments_url": f"{repo_api}/commits/{c.sha}/comments",
        "author": user(c.author, base),
        "committer": user(c.author, base),
        "parents": [
            {
                "sha": p,
                "url": f"{repo_api}/commits/{p}",
                "html_url": f"{base}/{repo.full_name}/commit/{p}",
            }
            for p in c.parents
        ],
    }
    if detail:
        data["stats"] = {"total": 0, "additions": 0, "deletions": 0}
        data["files"] = []
    return data


def deploy_key(k: DeployKey, repo: Repo, base: str) -> Json:
    return {
        "id": k.id,
        "key": k.key,
        "url": f"{base}/repos/{repo.full_name}/keys/{k.id}",
        "title": k.title,
        "verified": True,
        "created_at": iso(k.created_at),
        "read_only": k.read_only,
        "added_by": k.added_by,
        "last_used": iso(k.last_used),
        "enabled": True,
    }


def hook(h: Hook, repo: Repo, base: str) -> Json:
    """A repository hook; the secret is masked as GitHub masks it."""
    api = f"{base}/repos/{repo.full_name}/hooks/{h.id}"
    config = {k: v for k, v in h.config.items() if k != "secret"}
    if h.config.get("secret"):
        config["secret"] = "********"
    return {
        "type": "Repository",
        "id": h.id,
        "name": h.name,
        "active": h.active,
        "events": list(h.events),
        "config": config,
        "updated_at": iso(h.updated_at),
        "created_at": iso(h.created_at),
        "url": api,
        "test_url": f"{api}/test",
        "ping_url": f"{api}/pings",
        "deliveries_url": f"{api}/deliveries",
        "last_response": dict(h.last_response),
    }


def collaborator(c: Collaborator, base: str) -> Json:
    data = dict(user(c.user, base))
    data["permissions"] = dict(ROLE_PERMISSIONS.get(c.role_name, ROLE_PERMISSIONS["read"]))
    data["role_name"] = c.role_name
    return data


# The legacy `permission` name of each role (GitHub still reports pull/push for read/write).
_LEGACY_PERMISSION = {"read": "pull", "write": "push"}


def team(t: Team, org: str, base: str) -> Json:
    """A `team` as GET /repos/{owner}/{repo}/teams lists it: `permission` and `permissions`
    are the team's access to that repository."""
    api = f"{base}/organizations/{org}/team/{t.id}"
    return {
        "id": t.id,
        "node_id": node_id("team", t.id),
        "url": api,
        "html_url": f"{base}/orgs/{org}/teams/{t.slug}",
        "name": t.name,
        "slug": t.slug,
        "description": t.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": _LEGACY_PERMISSION.get(t.role_name, t.role_name),
        "permissions": dict(ROLE_PERMISSIONS.get(t.role_name, ROLE_PERMISSIONS["read"])),
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "type": "organization",
        "parent": None,
    }


def _enabled(body: Json, name: str) -> Json:
    return {"enabled": bool(body.get(name, False))}


def branch_protection(b: Branch, repo: Repo, base: str) -> Json:
    """GET and PUT .../branches/{branch}/protection, from the stored PUT body."""
    body = b.protection or {}
    url = f"{base}/repos/{repo.full_name}/branches/{quote(b.name, safe='')}/protection"
    data: Json = {
        "url": url,
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        "enforce_admins": {
            "url": f"{url}/enforce_admins",
            "enabled": bool(body.get("enforce_admins")),
        },
        "required_linear_history": _enabled(body, "required_linear_history"),
        "allow_force_pushes": _enabled(body, "allow_force_pushes"),
        "allow_deletions": _enabled(body, "allow_deletions"),
        "block_creations": _enabled(body, "block_creations"),
        "required_conversation_resolution": _enabled(body, "required_conversation_resolution"),
        "lock_branch": _enabled(body, "lock_branch"),
        "allow_fork_syncing": _enabled(body, "allow_fork_syncing"),
    }
    checks = body.get("required_status_checks")
    if isinstance(checks, dict):
        contexts = [str(c) for c in checks.get("contexts") or []]
        data["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": bool(checks.get("strict")),
            "contexts": contexts,
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in contexts],
        }
    reviews = body.get("required_pull_request_reviews")
    if isinstance(reviews, dict):
        data["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
            "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
            "required_approving_review_count": int(
                reviews.get("required_approving_review_count", 1)
            ),
            "require_last_push_approval": bool(reviews.get("require_last_push_approval")),
        }
    if isinstance(body.get("restrictions"), dict):
        data["restrictions"] = {
            "url": f"{url}/restrictions",
            "users_url": f"{url}/restrictions/users",
            "teams_url": f"{url}/restrictions/teams",
            "apps_url": f"{url}/restrictions/apps",
            "users": [],
            "teams": [],
            "apps": [],
        }
    return data


def app(a: App, base: str, installations: int) -> Json:
    return {
        "id": a.id,
        "slug": a.slug,
        "node_id": node_id("app", a.id),
        "client_id": a.client_id,
        "owner": user(a.owner, base),
        "name": a.name,
        "description": a.description,
        "external_url": f"{base}/{a.owner.login}",
        "html_url": f"{base}/apps/{a.slug}",
        "created_at": iso(a.created_at),
        "updated_at": iso(a.created_at),
        "permissions": dict(APP_PERMISSIONS),
        "events": list(APP_EVENTS),
        "installations_count": installations,
    }


def rate(limit: int, remaining: int, reset: int) -> Json:
    return {"limit": limit, "used": limit - remaining, "remaining": remaining, "reset": reset}
