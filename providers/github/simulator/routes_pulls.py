"""Pull requests, their reviews and review comments, and merging."""

from __future__ import annotations

from providers.github.simulator import serializers as ser
from providers.github.simulator.context import ApiError, Ctx, Result, not_found
from providers.github.simulator.models import Issue, ReviewComment
from providers.github.simulator.routes_issues import choice, invalid
from providers.github.simulator.routing import Route
from providers.github.simulator.state import Invalid, Repo

MERGE_DOC = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"


def _pull(ctx: Ctx, repo: Repo) -> Issue:
    found = repo.issues.get(ctx.int_param("number"))
    if found is None or found.pull is None:
        raise not_found()
    return found


async def list_pulls(ctx: Ctx) -> Result:
    repo = ctx.repo()
    state = choice(ctx, "state", "open", ("open", "closed", "all"))
    sort = choice(ctx, "sort", "created", ("created", "updated", "popularity", "long-running"))
    # GitHub: desc by default for `created`, asc for the other sorts.
    default_direction = "desc" if sort == "created" else "asc"
    descending = choice(ctx, "direction", default_direction, ("asc", "desc")) == "desc"
    head = ctx.query("head")
    base = ctx.query("base")

    def build() -> list[Issue]:
        kept = []
        for issue in repo.issues.values():
            p = issue.pull
            if p is None or (state != "all" and issue.state != state):
                continue
            if head and f"{repo.owner.login}:{p.head_ref}" != head and p.head_ref != head:
                continue
            if base and p.base_ref != base:
                continue
            kept.append(issue)
        if sort == "updated":
            return sorted(kept, key=lambda i: (i.updated_at, i.number), reverse=descending)
        if sort == "popularity":
            return sorted(kept, key=lambda i: (i.comments, i.number), reverse=descending)
        if sort == "long-running":
            # Open longest first, ignoring pull requests that have not been touched in a month.
            return sorted(kept, key=lambda i: (i.created_at, i.number), reverse=not descending)
        return sorted(kept, key=lambda i: (i.created_at, i.number), reverse=descending)

    items = repo.view(("pulls", state, sort, descending, head, base), build)
    return ctx.paginate(items, lambda i: ser.pull_request(i, repo, ctx.base, full=False))


async def get_pull(ctx: Ctx) -> Result:
    repo = ctx.repo()
    return Result(200, ser.pull_request(_pull(ctx, repo), repo, ctx.base))


async def create_pull(ctx: Ctx) -> Result:
    repo = ctx.repo()
    body = await ctx.json()
    missing = [name for name in ("head", "base") if not body.get(name)]
    if not body.get("title") and not body.get("issue"):
        missing.insert(0, "title")
    if missing:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {"resource": "PullRequest", "code": "missing_field", "field": m} for m in missing
            ],
        )
    issue = ctx.state.create_pull(
        repo,
        ctx.actor,
        str(body["title"]),
        str(body["head"]),
        str(body["base"]),
        body.get("body"),
        bool(body.get("draft", False)),
    )
    data = ser.pull_request(issue, repo, ctx.base)
    return Result(201, data, {"location": data["url"]})


async def update_pull(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _pull(ctx, repo)
    body = await ctx.json()
    allowed = {k: v for k, v in body.items() if k in ("title", "body", "state", "base")}
    ctx.state.update_issue(repo, issue, ctx.actor, allowed)
    return Result(200, ser.pull_request(issue, repo, ctx.base))


async def merge_pull(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _pull(ctx, repo)
    body = await ctx.json()
    method = body.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise invalid("merge_method", "PullRequest")
    try:
        sha = ctx.state.merge_pull(
            repo, issue, ctx.actor, body.get("sha"), body.get("commit_title")
        )
    except Invalid as exc:
        raise ApiError(405, exc.message, documentation_url=MERGE_DOC) from None
    except ValueError as exc:
        raise ApiError(409, str(exc), documentation_url=MERGE_DOC) from None
    return Result(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


async def list_reviews(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _pull(ctx, repo)
    items = repo.reviews_by_pull.get(issue.number, [])
    return ctx.paginate(items, lambda r: ser.review(r, repo, ctx.base))


async def get_review(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _pull(ctx, repo)
    review_id = ctx.int_param("review_id")
    for review in repo.reviews_by_pull.get(issue.number, []):
        if review.id == review_id:
            return Result(200, ser.review(review, repo, ctx.base))
    raise not_found()


async def get_review_comment(ctx: Ctx) -> Result:
    repo = ctx.repo()
    comment = repo.review_comments.get(ctx.int_param("comment_id"))
    if comment is None:
        raise not_found()
    return Result(200, ser.review_comment(comment, repo, ctx.base))


def _sorted_review_comments(
    ctx: Ctx, items: list[ReviewComment], default_sort: str | None
) -> list[ReviewComment]:
    sort = ctx.query("sort", default_sort)
    if sort is not None and sort not in ("created", "updated", "created_at"):
        raise invalid("sort", "PullRequestReviewComment")
    descending = sort is not None and choice(ctx, "direction", "desc", ("asc", "desc")) == "desc"
    since = ctx.since()
    kept = [c for c in items if since is None or c.updated_at >= since]
    if sort == "updated":
        return sorted(kept, key=lambda c: (c.updated_at, c.id), reverse=descending)
    return sorted(kept, key=lambda c: c.id, reverse=descending)


async def list_repo_review_comments(ctx: Ctx) -> Result:
    repo = ctx.repo()
    key = ("review_comments", ctx.query("sort"), ctx.query("direction"), ctx.query("since"))
    items = repo.view(
        key, lambda: _sorted_review_comments(ctx, list(repo.review_comments.values()), None)
    )
    return ctx.paginate(items, lambda c: ser.review_comment(c, repo, ctx.base))


async def list_pull_review_comments(ctx: Ctx) -> Result:
    repo = ctx.repo()
    issue = _pull(ctx, repo)
    items = _sorted_review_comments(ctx, repo.review_comments_by_pull.get(issue.number, []), None)
    return ctx.paginate(items, lambda c: ser.review_comment(c, repo, ctx.base))


P = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    Route("GET", f"{P}/pulls", list_pulls),
    Route("POST", f"{P}/pulls", create_pull),
    Route("GET", f"{P}/pulls/comments", list_repo_review_comments),
    Route("GET", f"{P}/pulls/comments/{{comment_id:int}}", get_review_comment),
    Route("GET", f"{P}/pulls/{{number:int}}", get_pull),
    Route("PATCH", f"{P}/pulls/{{number:int}}", update_pull),
    Route("PUT", f"{P}/pulls/{{number:int}}/merge", merge_pull),
    Route("GET", f"{P}/pulls/{{number:int}}/reviews", list_reviews),
    Route("GET", f"{P}/pulls/{{number:int}}/reviews/{{review_id:int}}", get_review),
    Route("GET", f"{P}/pulls/{{number:int}}/comments", list_pull_review_comments),
]
