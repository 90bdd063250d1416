"""Issues (which include pull requests), issue comments, labels, assignees and milestones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from providers.github.simulator import serializers as ser
from providers.github.simulator.context import ApiError, Ctx, Result, not_found
from providers.github.simulator.models import Issue, IssueComment
from providers.github.simulator.routing import Route
from providers.github.simulator.state import Repo


def invalid(field: str, resource: str = "Issue") -> ApiError:
    return ApiError(
        422, "Validation Failed", errors=[{"resource": resource, "field": field, "code": "invalid"}]
    )


def choice(ctx: Ctx, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = ctx.query(name, default) or default
    if value not in allowed:
        raise invalid(name)
    return value


def sort_issues(items: list[Issue], sort: str, descending: bool) -> list[Issue]:
    keys = {
        "created": lambda i: (i.created_at, i.number),
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (i.comments, i.number),
    }
    return sorted(items, key=keys[sort], reverse=descending)


def filter_issues(ctx: Ctx, source: list[Issue]) -> list[Issue]:
    """Apply the `state`, `since`, `labels`, `assignee`, `creator` and `milestone` filters."""
    state = choice(ctx, "state", "open", ("open", "closed", "all"))
    since: datetime | None = ctx.since()
    labels = [n.strip().lower() for n in (ctx.query("labels") or "").split(",") if n.strip()]
    assignee = ctx.query("assignee")
    creator = ctx.query("creator")
    milestone = ctx.query("milestone")

    def keep(i: Issue) -> bool:
        if state != "all" and i.state != state:
            return False
        if since is not None and i.updated_at < since:
            return False
        if labels and not set(labels) <= {lb.name.lower() for lb in i.labels}:
            return False
        if assignee is not None:
            logins = {a.login.lower() for a in i.assignees}
            if (assignee == "none" and logins) or (assignee == "*" and not logins):
                return False
            if assignee not in ("none", "*") and assignee.lower() not in logins:
                return False
        if creator is not None and i.user.login.lower() != creator.lower():
            return False
        if milestone is not None:
            number = i.milestone.number if i.milestone else None
            if (milestone == "none" and number is not None) or (
                milestone == "*" and number is None
            ):
                return False
            if milestone not in ("none", "*") and str(number) != milestone:
                return False
        return True

    return [i for i in source if keep(i)]


async def list_issues(ctx: Ctx) -> Result:
    repo = ctx.repo()
    sort = choice(ctx, "sort", "created", ("created", "updated", "comments"))
    descending = choice(ctx, "direction", "desc", ("asc", "desc")) == "desc"

    def build() -> list[Issue]:
        return sort_issues(filter_issues(ctx, list(repo.issues.values())), sort, descending)

    # Keyed on the raw query values: an invalid value raises while building, so is never cached.
    items = repo.view(("issues", sort, descending, *_filter_key(ctx)), build)
    return ctx.paginate(items, lambda i: ser.issue(i, repo, ctx.base))


def _filter_key(ctx: Ctx) -> tuple[Any, ...]:
    names = ("state", "since", "labels", "assignee", "creator", "milestone")
    return tuple(ctx.query(n) for n in names)


async def get_issue(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = repo.issues.get(ctx.int_param("number"))
    if issue is None:
        raise not_found()
    return Result(200, _single(issue, repo, ctx))


def _single(issue: Issue, repo: Repo, ctx: Ctx) -> dict[str, Any]:
    """A single issue also says who closed it (lists and webhooks do not)."""
    data = ser.issue(issue, repo, ctx.base)
    data["closed_by"] = ser.user(issue.closed_by, ctx.base) if issue.closed_by else None
    return data


async def create_issue(ctx: Ctx) -> Result:
    repo = ctx.repo()
    body = await ctx.json()
    title = body.get("title")
    if not isinstance(title, str | int) or not str(title).strip():
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
        )
    assignees = body.get("assignees") or ([body["assignee"]] if body.get("assignee") else [])
    issue = ctx.state.create_issue(
        repo,
        ctx.actor,
        str(title),
        body.get("body"),
        labels=[str(n) for n in body.get("labels") or []],
        assignees=[str(a) for a in assignees],
        milestone=body.get("milestone"),
    )
    data = ser.issue(issue, repo, ctx.base)
    return Result(201, data, {"location": data["url"]})


async def update_issue(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = repo.issues.get(ctx.int_param("number"))
    if issue is None:
        raise not_found()
    ctx.state.update_issue(repo, issue, ctx.actor, await ctx.json())
    return Result(200, _single(issue, repo, ctx))


def _issue(ctx: Ctx, repo: Repo) -> Issue:
    issue = repo.issues.get(ctx.int_param("number"))
    if issue is None:
        raise not_found()
    return issue


async def add_labels(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _issue(ctx, repo)
    body = await ctx.json_any()
    raw = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(raw, list) or not raw:
        raise ApiError(
            422,
            'Invalid request.\n\nNo subschema in "anyOf" matched.',
            documentation_url="https://docs.github.com/rest/issues/labels#add-labels-to-an-issue",
        )
    names = [str(n.get("name") if isinstance(n, dict) else n) for n in raw]
    labels = ctx.state.add_labels(repo, issue, ctx.actor, names)
    return Result(200, [ser.label(lb, repo, ctx.base) for lb in labels])


async def remove_label(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _issue(ctx, repo)
    name = ctx.param("name")
    if name.lower() not in {lb.name.lower() for lb in issue.labels}:
        raise ApiError(
            404,
            "Label does not exist",
            documentation_url="https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue",
        )
    labels = ctx.state.remove_label(repo, issue, ctx.actor, name)
    return Result(200, [ser.label(lb, repo, ctx.base) for lb in labels])


async def _change_assignees(ctx: Ctx, add: bool) -> Result:
    repo = ctx.repo()
    issue = _issue(ctx, repo)
    body = await ctx.json()
    logins = body.get("assignees") or []
    if not isinstance(logins, list):
        raise invalid("assignees")
    ctx.state.change_assignees(repo, issue, ctx.actor, [str(x) for x in logins], add)
    return Result(201 if add else 200, ser.issue(issue, repo, ctx.base))


async def add_assignees(ctx: Ctx) -> Result:
    return await _change_assignees(ctx, add=True)


async def remove_assignees(ctx: Ctx) -> Result:
    return await _change_assignees(ctx, add=False)


async def list_labels(ctx: Ctx) -> Result:
    repo = ctx.repo()
    items = repo.view(("labels",), lambda: sorted(repo.labels.values(), key=lambda lb: lb.id))
    return ctx.paginate(items, lambda lb: ser.label(lb, repo, ctx.base))


async def list_milestones(ctx: Ctx) -> Result:
    repo = ctx.repo()
    state = choice(ctx, "state", "open", ("open", "closed", "all"))
    sort = choice(ctx, "sort", "due_on", ("due_on", "completeness"))
    descending = choice(ctx, "direction", "asc", ("asc", "desc")) == "desc"

    def build() -> list[Any]:
        kept = [m for m in repo.milestones.values() if state == "all" or m.state == state]
        if sort == "completeness":
            counts = ser.milestone_counts(repo)

            def done(number: int) -> float:
                opened, closed = counts.get(number, (0, 0))
                return closed / (opened + closed) if opened + closed else 0.0

            return sorted(kept, key=lambda m: (done(m.number), m.number), reverse=descending)
        return sorted(
            kept, key=lambda m: (m.due_on is None, m.due_on, m.number), reverse=descending
        )

    items = repo.view(("milestones", state, sort, descending), build)
    return ctx.paginate(items, lambda m: ser.milestone(m, repo, ctx.base))


# -- issue comments ----------------------------------------------------------------------


def _sorted_comments(
    items: list[IssueComment], sort: str | None, descending: bool
) -> list[IssueComment]:
    if sort == "updated":
        return sorted(items, key=lambda c: (c.updated_at, c.id), reverse=descending)
    return sorted(items, key=lambda c: c.id, reverse=descending)


async def list_repo_comments(ctx: Ctx) -> Result:
    repo = ctx.repo()
    sort = ctx.query("sort")
    if sort is not None and sort not in ("created", "updated"):
        raise invalid("sort", "IssueComment")
    # GitHub ignores `direction` without `sort` and then lists oldest first.
    descending = sort is not None and choice(ctx, "direction", "desc", ("asc", "desc")) == "desc"
    since = ctx.since()

    def build() -> list[IssueComment]:
        kept = [c for c in repo.comments.values() if since is None or c.updated_at >= since]
        return _sorted_comments(kept, sort, descending)

    items = repo.view(("comments", sort, descending, since), build)
    return ctx.paginate(
        items, lambda c: ser.issue_comment(c, repo, ctx.base, repo.issues.get(c.issue_number))
    )


async def list_issue_comments(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _issue(ctx, repo)
    since = ctx.since()
    comments = repo.comments_by_issue.get(issue.number, [])
    items = [c for c in comments if since is None or c.updated_at >= since]
    return ctx.paginate(items, lambda c: ser.issue_comment(c, repo, ctx.base, issue))


async def create_comment(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _issue(ctx, repo)
    body = await ctx.json()
    comment = ctx.state.create_comment(repo, issue, ctx.actor, body.get("body"))  # type: ignore[arg-type]
    data = ser.issue_comment(comment, repo, ctx.base, issue)
    return Result(201, data, {"location": data["url"]})


def _comment(ctx: Ctx, repo: Repo) -> IssueComment:
    comment = repo.comments.get(ctx.int_param("comment_id"))
    if comment is None:
        raise not_found()
    return comment


async def get_comment(ctx: Ctx) -> Result:
    repo = ctx.repo()
    comment = _comment(ctx, repo)
    return Result(
        200, ser.issue_comment(comment, repo, ctx.base, repo.issues.get(comment.issue_number))
    )


async def update_comment(ctx: Ctx) -> Result:
    repo = ctx.repo()
    comment = _comment(ctx, repo)
    body = await ctx.json()
    ctx.state.update_comment(repo, comment, ctx.actor, body.get("body"))  # type: ignore[arg-type]
    return Result(
        200, ser.issue_comment(comment, repo, ctx.base, repo.issues.get(comment.issue_number))
    )


async def delete_comment(ctx: Ctx) -> Result:
    repo = ctx.repo()
    ctx.state.delete_comment(repo, _comment(ctx, repo), ctx.actor)
    return Result(204, None)


P = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    Route("GET", f"{P}/issues", list_issues),
    Route("POST", f"{P}/issues", create_issue),
    Route("GET", f"{P}/issues/comments", list_repo_comments),
    Route("GET", f"{P}/issues/comments/{{comment_id:int}}", get_comment),
    Route("PATCH", f"{P}/issues/comments/{{comment_id:int}}", update_comment),
    Route("DELETE", f"{P}/issues/comments/{{comment_id:int}}", delete_comment),
    Route("GET", f"{P}/issues/{{number:int}}", get_issue),
    Route("PATCH", f"{P}/issues/{{number:int}}", update_issue),
    Route("GET", f"{P}/issues/{{number:int}}/comments", list_issue_comments),
    Route("POST", f"{P}/issues/{{number:int}}/comments", create_comment),
    Route("POST", f"{P}/issues/{{number:int}}/labels", add_labels),
    Route("DELETE", f"{P}/issues/{{number:int}}/labels/{{name}}", remove_label),
    Route("POST", f"{P}/issues/{{number:int}}/assignees", add_assignees),
    Route("DELETE", f"{P}/issues/{{number:int}}/assignees", remove_assignees),
    Route("GET", f"{P}/labels", list_labels),
    Route("GET", f"{P}/milestones", list_milestones),
]
