"""GraphQL nodes rewritten as the REST objects they stand for, so that `mapping` (the one
mapping for REST reads, webhooks and backfill) turns them into the same `External*` models.

Only what REST puts in an object's normalized fields or extensions is rebuilt; API URLs come
from the adapter's base URL exactly as GitHub forms them. What GitHub's GraphQL API does not
expose stays absent (`performed_via_github_app` is null; for jobs: runner, labels, created_at).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from providers.base import ExternalPipeline

Node = Mapping[str, Any]

# REST spells lock reasons as words; GraphQL as enum values.
LOCK_REASONS = {
    "OFF_TOPIC": "off-topic",
    "TOO_HEATED": "too heated",
    "RESOLVED": "resolved",
    "SPAM": "spam",
}
REACTION_KEYS = {
    "THUMBS_UP": "+1",
    "THUMBS_DOWN": "-1",
    "LAUGH": "laugh",
    "HOORAY": "hooray",
    "CONFUSED": "confused",
    "HEART": "heart",
    "ROCKET": "rocket",
    "EYES": "eyes",
}


def _obj(node: Node | None, key: str) -> Node:
    value = node.get(key) if node else None
    return value if isinstance(value, Mapping) else {}


def _nodes(node: Node | None, key: str) -> list[Node]:
    found = _obj(node, key).get("nodes")
    return [n for n in found if isinstance(n, Mapping)] if isinstance(found, list) else []


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """A BigInt (string) or Int as a Python int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def truncated(node: Node, key: str) -> bool:
    """Whether a nested connection holds more than the query asked for."""
    conn = _obj(node, key)
    total = conn.get("totalCount")
    return isinstance(total, int) and total > len(_nodes(node, key))


def user(actor: Node | None) -> dict[str, Any] | None:
    """An Actor as REST's simple user (login, id, node_id, type)."""
    if not actor or not isinstance(actor.get("login"), str):
        return None
    return {
        "login": actor["login"],
        "id": _int(actor.get("databaseId")),
        "node_id": actor.get("id"),
        "type": actor.get("__typename"),
    }


def _milestone(node: Node) -> dict[str, Any] | None:
    ms = _obj(node, "milestone")
    if not ms:
        return None
    return {
        "node_id": ms.get("id"),
        "number": ms.get("number"),
        "title": ms.get("title"),
        "state": _lower(ms.get("state")),
    }


def _common(node: Node) -> dict[str, Any]:
    """The fields issues and pull requests share, REST-named."""
    return {
        "id": _int(node.get("fullDatabaseId")),
        "node_id": node.get("id"),
        "html_url": node.get("url"),
        "number": node.get("number"),
        "title": node.get("title"),
        # GraphQL's body is never null; REST gives null for an empty body.
        "body": node.get("body") or None,
        "user": user(_obj(node, "author")),
        "labels": [{"name": n.get("name")} for n in _nodes(node, "labels")],
        "assignees": [u for n in _nodes(node, "assignees") if (u := user(n))],
        "milestone": _milestone(node),
        "locked": node.get("locked"),
        "active_lock_reason": LOCK_REASONS.get(node.get("activeLockReason") or ""),
        "author_association": node.get("authorAssociation"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "closed_at": node.get("closedAt"),
    }


def issue(node: Node, *, api_base: str, repository: str) -> dict[str, Any]:
    """An Issue node as an item of GET /repos/{o}/{r}/issues."""
    api = f"{api_base}/repos/{repository}/issues/{node.get('number')}"
    reactions: dict[str, Any] = {"url": f"{api}/reactions", "total_count": 0}
    for group in node.get("reactionGroups") or []:
        key = REACTION_KEYS.get(group.get("content"))
        if key is not None:
            count = _obj(group, "reactors").get("totalCount") or 0
            reactions[key] = count
            reactions["total_count"] += count
    return {
        **_common(node),
        "url": api,
        "state": _lower(node.get("state")),
        "state_reason": _lower(node.get("stateReason")),
        "comments": _obj(node, "comments").get("totalCount", 0),
        "reactions": reactions,
        "performed_via_github_app": None,
    }


def pull_request(node: Node, *, api_base: str, repository: str) -> dict[str, Any]:
    """A PullRequest node as an item of GET /repos/{o}/{r}/pulls."""
    number = node.get("number")
    reviewers = [_obj(n, "requestedReviewer") for n in _nodes(node, "reviewRequests")]
    auto = _obj(node, "autoMergeRequest")
    head_repo = _obj(node, "headRepository").get("nameWithOwner")
    return {
        **_common(node),
        "url": f"{api_base}/repos/{repository}/pulls/{number}",
        # GraphQL's MERGED is REST's closed (merged_at tells merged ones apart).
        "state": "open" if node.get("state") == "OPEN" else "closed",
        "draft": node.get("isDraft"),
        "merged_at": node.get("mergedAt"),
        "merge_commit_sha": _obj(node, "mergeCommit").get("oid"),
        "head": {
            "ref": node.get("headRefName"),
            "sha": node.get("headRefOid"),
            "repo": {"full_name": head_repo} if head_repo else None,
        },
        "base": {
            "ref": node.get("baseRefName"),
            "sha": node.get("baseRefOid"),
            "repo": {"full_name": repository},
        },
        "requested_reviewers": [
            {"login": r["login"]} for r in reviewers if r.get("__typename") != "Team"
        ],
        "requested_teams": [{"slug": r["slug"]} for r in reviewers if r.get("slug")],
        "auto_merge": {
            "enabled_by": user(_obj(auto, "enabledBy")),
            "merge_method": _lower(auto.get("mergeMethod")),
            "commit_title": auto.get("commitHeadline"),
            "commit_message": auto.get("commitBody"),
        }
        if auto
        else None,
    }


def review(node: Node) -> dict[str, Any]:
    """A PullRequestReview node as an item of GET .../pulls/{n}/reviews."""
    return {
        "id": _int(node.get("fullDatabaseId")),
        "node_id": node.get("id"),
        "user": user(_obj(node, "author")),
        "body": node.get("body"),
        "state": node.get("state"),
        "html_url": node.get("url"),
        "author_association": node.get("authorAssociation"),
        "submitted_at": node.get("submittedAt"),
        "commit_id": _obj(node, "commit").get("oid"),
    }


def _step_status(step: Node) -> str:
    # CheckStep has no status: a completed step has completedAt, a running one startedAt.
    if step.get("completedAt"):
        return "completed"
    return "in_progress" if step.get("startedAt") else "queued"


def step(node: Node) -> dict[str, Any]:
    return {
        "name": node.get("name"),
        "status": _step_status(node),
        "conclusion": _lower(node.get("conclusion")),
        "number": node.get("number"),
        "started_at": node.get("startedAt"),
        "completed_at": node.get("completedAt"),
    }


def job(
    node: Node, steps: Sequence[Node], *, run: ExternalPipeline, api_base: str
) -> dict[str, Any]:
    """A CheckRun of a workflow run as an item of GET .../actions/runs/{id}/jobs; the run
    (read by REST just before) gives the fields a check run does not carry."""
    job_id = _int(node.get("databaseId"))
    return {
        "id": job_id,
        "run_id": _int(run.external.native_id),
        "workflow_name": run.workflow,
        "head_branch": run.ref,
        "run_attempt": run.run_attempt,
        "node_id": node.get("id"),
        "head_sha": run.sha,
        "url": f"{api_base}/repos/{run.repository}/actions/jobs/{job_id}",
        # For Actions, a check run's details URL is the job's page.
        "html_url": node.get("detailsUrl"),
        "status": _lower(node.get("status")),
        "conclusion": _lower(node.get("conclusion")),
        "started_at": node.get("startedAt"),
        "completed_at": node.get("completedAt"),
        "name": node.get("name"),
        "steps": [step(s) for s in steps],
    }
