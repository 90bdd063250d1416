"""Repositories and their git data: listings, branches, tags, refs, commits, deploy keys,
collaborators and branch protection."""

from __future__ import annotations

from urllib.parse import unquote

from providers.github.simulator import serializers as ser
from providers.github.simulator.context import ApiError, Ctx, Result, not_found
from providers.github.simulator.models import Branch, Commit
from providers.github.simulator.routes_issues import choice
from providers.github.simulator.routing import Route
from providers.github.simulator.state import Repo

PROTECTION_DOC = "https://docs.github.com/rest/branches/branch-protection#get-branch-protection"


def _sorted_repos(ctx: Ctx, repos: list[Repo], default_sort: str) -> list[Repo]:
    sort = choice(ctx, "sort", default_sort, ("created", "updated", "pushed", "full_name"))
    default_direction = "asc" if sort == "full_name" else "desc"
    descending = choice(ctx, "direction", default_direction, ("asc", "desc")) == "desc"
    if sort == "full_name":
        return sorted(repos, key=lambda r: r.full_name.lower(), reverse=descending)
    attribute = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}[sort]
    return sorted(repos, key=lambda r: (getattr(r, attribute), r.id), reverse=descending)


async def installation_repositories(ctx: Ctx) -> Result:
    inst = ctx.credential.installation if ctx.credential else None
    if inst is None:
        raise ApiError(
            403,
            "You must authenticate with an installation access token in order to list "
            "repositories for an installation.",
        )
    repos = ctx.state.installation_repos(inst)

    def wrap(page: list[ser.Json], total: int) -> ser.Json:
        return {"total_count": total, "repository_selection": "all", "repositories": page}

    return ctx.paginate(repos, lambda r: ser.repository(r, ctx.base), wrap)


async def org_repositories(ctx: Ctx) -> Result:
    org = ctx.param("org")
    owner = ctx.state.users.get(org.lower())
    if owner is None or owner.type != "Organization":
        raise not_found()
    repos = ctx.state.repos_of(org)
    kind = choice(ctx, "type", "all", ("all", "public", "private", "forks", "sources", "member"))
    if kind == "public":
        repos = [r for r in repos if not r.private]
    elif kind == "private":
        repos = [r for r in repos if r.private]
    elif kind == "forks":
        repos = []
    return ctx.paginate(_sorted_repos(ctx, repos, "created"), lambda r: ser.repository(r, ctx.base))


async def user_repositories(ctx: Ctx) -> Result:
    if ctx.credential is None or ctx.credential.user is None:
        raise ApiError(403, "Resource not accessible by integration")
    repos = list(ctx.state.repos.values())
    return ctx.paginate(
        _sorted_repos(ctx, repos, "full_name"), lambda r: ser.repository(r, ctx.base)
    )


async def get_repository(ctx: Ctx) -> Result:
    return Result(200, ser.full_repository(ctx.repo(), ctx.base))


async def update_repository(ctx: Ctx) -> Result:
    """PATCH /repos/{owner}/{repo}: only `name` (a rename) is modelled."""
    repo = ctx.repo()
    name = (await ctx.json()).get("name")
    if isinstance(name, str) and name and name != repo.name:
        try:
            ctx.state.rename_repo(repo, name, ctx.actor)
        except ValueError as exc:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Repository", "code": "custom", "message": str(exc)}],
            ) from None
    return Result(200, ser.full_repository(repo, ctx.base))


async def list_branches(ctx: Ctx) -> Result:
    repo = ctx.repo()
    protected = ctx.query("protected")

    def build() -> list[Branch]:
        items = sorted(repo.branches.values(), key=lambda b: b.name)
        if protected is not None:
            wanted = protected.lower() in ("true", "1")
            items = [b for b in items if (b.protection is not None) == wanted]
        return items

    items = repo.view(("branches", protected), build)
    return ctx.paginate(items, lambda b: ser.branch(b, repo, ctx.base))


async def get_branch(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = repo.branches.get(unquote(ctx.param("branch")))
    if found is None:
        raise ApiError(404, "Branch not found")
    data = ser.branch(found, repo, ctx.base)
    data["_links"] = {
        "self": f"{ctx.base}/repos/{repo.full_name}/branches/{found.name}",
        "html": f"{ctx.base}/{repo.full_name}/tree/{found.name}",
    }
    data["protection_url"] = f"{ctx.base}/repos/{repo.full_name}/branches/{found.name}/protection"
    return Result(200, data)


async def list_tags(ctx: Ctx) -> Result:
    repo = ctx.repo()
    # GitHub lists tags newest first; the seeded names sort the same way.
    items = repo.view(("tags",), lambda: sorted(repo.tags.values(), key=lambda t: t.name)[::-1])
    return ctx.paginate(items, lambda t: ser.tag(t, repo, ctx.base))


def _refs(repo: Repo) -> list[tuple[str, str]]:
    def build() -> list[tuple[str, str]]:
        heads = [(f"refs/heads/{b.name}", b.sha) for b in repo.branches.values()]
        tags = [(f"refs/tags/{t.name}", t.sha) for t in repo.tags.values()]
        return sorted(heads + tags)

    return repo.view(("refs",), build)


async def matching_refs(ctx: Ctx) -> Result:
    repo = ctx.repo()
    prefix = "refs/" + ctx.request.path_params.get("ref", "").strip("/")
    items = [(r, s) for r, s in _refs(repo) if r.startswith(prefix)]
    return Result(200, [ser.git_ref(r, s, repo, ctx.base) for r, s in items])


async def list_refs(ctx: Ctx) -> Result:
    repo = ctx.repo()
    prefix = "refs/" + ctx.request.path_params.get("ref", "").strip("/")
    items = [(r, s) for r, s in _refs(repo) if r.startswith(prefix)]
    if not items:
        raise not_found()
    exact = [(r, s) for r, s in items if r == prefix]
    if exact:  # the legacy refs endpoint answers an object for an exact ref
        return Result(200, ser.git_ref(*exact[0], repo, ctx.base))
    return ctx.paginate(items, lambda rs: ser.git_ref(rs[0], rs[1], repo, ctx.base))


async def get_ref(ctx: Ctx) -> Result:
    repo = ctx.repo()
    ref = "refs/" + ctx.param("ref").strip("/")
    for name, sha in _refs(repo):
        if name == ref:
            return Result(200, ser.git_ref(name, sha, repo, ctx.base))
    raise not_found()


def _resolve(repo: Repo, ref: str) -> Commit | None:
    if ref in repo.commits:
        return repo.commits[ref]
    for name in (ref, ref.removeprefix("heads/"), ref.removeprefix("refs/heads/")):
        if name in repo.branches:
            return repo.commits.get(repo.branches[name].sha)
    for name in (ref, ref.removeprefix("tags/"), ref.removeprefix("refs/tags/")):
        if name in repo.tags:
            return repo.commits.get(repo.tags[name].sha)
    if len(ref) >= 7:
        for sha, found in repo.commits.items():
            if sha.startswith(ref):
                return found
    return None


async def get_commit(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = _resolve(repo, ctx.param("ref"))
    if found is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.param('ref')}")
    return Result(200, ser.commit(found, repo, ctx.base, detail=True))


async def list_commits(ctx: Ctx) -> Result:
    repo = ctx.repo()
    since, until = ctx.since("since"), ctx.since("until")
    start = ctx.query("sha")
    author = ctx.query("author")

    def build() -> list[Commit]:
        head = _resolve(repo, start or repo.default_branch)
        if head is None:
            return []
        chain: list[Commit] = []
        cursor: Commit | None = head
        while cursor is not None:  # first-parent walk, newest first, as `git log` does
            chain.append(cursor)
            cursor = repo.commits.get(cursor.parents[0]) if cursor.parents else None
        return [
            c
            for c in chain
            if (since is None or c.date >= since)
            and (until is None or c.date <= until)
            and (author is None or c.author.login.lower() == author.lower())
        ]

    items = repo.view(("commits", start, since, until, author), build)
    if not items and start and _resolve(repo, start) is None:
        raise not_found()
    return ctx.paginate(items, lambda c: ser.commit(c, repo, ctx.base))


async def list_keys(ctx: Ctx) -> Result:
    repo = ctx.repo()
    items = sorted(repo.keys.values(), key=lambda k: k.id)
    return ctx.paginate(items, lambda k: ser.deploy_key(k, repo, ctx.base))


async def get_key(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = repo.keys.get(ctx.int_param("key_id"))
    if found is None:
        raise not_found()
    return Result(200, ser.deploy_key(found, repo, ctx.base))


async def create_key(ctx: Ctx) -> Result:
    repo = ctx.repo()
    body = await ctx.json()
    if not body.get("key"):
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "PublicKey", "code": "missing_field", "field": "key"}],
        )
    title, read_only = str(body.get("title") or ""), bool(body.get("read_only", False))
    key = ctx.state.add_key(repo, ctx.actor, title, str(body["key"]), read_only)
    data = ser.deploy_key(key, repo, ctx.base)
    return Result(201, data, {"location": data["url"]})


async def delete_key(ctx: Ctx) -> Result:
    repo = ctx.repo()
    ctx.state.delete_key(repo, ctx.int_param("key_id"))
    return Result(204, None)


async def list_hooks(ctx: Ctx) -> Result:
    repo = ctx.repo()
    items = sorted(repo.hooks.values(), key=lambda h: h.id)
    return ctx.paginate(items, lambda h: ser.hook(h, repo, ctx.base))


async def get_hook(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = repo.hooks.get(ctx.int_param("hook_id"))
    if found is None:
        raise not_found()
    return Result(200, ser.hook(found, repo, ctx.base))


async def create_hook(ctx: Ctx) -> Result:
    repo = ctx.repo()
    body = await ctx.json()
    config = body.get("config")
    events = [str(e) for e in body.get("events") or []]
    hook = ctx.state.add_hook(
        repo,
        dict(config) if isinstance(config, dict) else {},
        events,
        bool(body.get("active", True)),
    )
    data = ser.hook(hook, repo, ctx.base)
    return Result(201, data, {"location": data["url"]})


async def delete_hook(ctx: Ctx) -> Result:
    repo = ctx.repo()
    ctx.state.delete_hook(repo, ctx.int_param("hook_id"))
    return Result(204, None)


async def list_collaborators(ctx: Ctx) -> Result:
    repo = ctx.repo()
    permission = ctx.query("permission")
    order = ["read", "triage", "write", "maintain", "admin"]
    items = sorted(repo.collaborators.values(), key=lambda c: c.user.id)
    if permission is not None:
        wanted = {"pull": "read", "push": "write"}.get(permission, permission)
        if wanted not in order:
            raise ApiError(422, "Validation Failed")
        items = [c for c in items if order.index(c.role_name) >= order.index(wanted)]
    return ctx.paginate(items, lambda c: ser.collaborator(c, ctx.base))


async def list_teams(ctx: Ctx) -> Result:
    repo = ctx.repo()
    items = sorted(repo.teams.values(), key=lambda t: t.id)
    return ctx.paginate(items, lambda t: ser.team(t, repo.owner.login, ctx.base))


def _protected_branch(ctx: Ctx, repo: Repo) -> Branch:
    found = repo.branches.get(unquote(ctx.param("branch")))
    if found is None:
        raise ApiError(404, "Branch not found", documentation_url=PROTECTION_DOC)
    return found


async def get_protection(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = _protected_branch(ctx, repo)
    if found.protection is None:
        raise ApiError(404, "Branch not protected", documentation_url=PROTECTION_DOC)
    return Result(200, ser.branch_protection(found, repo, ctx.base))


async def put_protection(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = _protected_branch(ctx, repo)
    ctx.state.set_protection(repo, found, await ctx.json())
    return Result(200, ser.branch_protection(found, repo, ctx.base))


async def delete_protection(ctx: Ctx) -> Result:
    repo = ctx.repo()
    found = _protected_branch(ctx, repo)
    if found.protection is None:
        raise ApiError(404, "Branch not protected", documentation_url=PROTECTION_DOC)
    ctx.state.delete_protection(repo, found)
    return Result(204, None)


P = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    Route("GET", "/installation/repositories", installation_repositories),
    Route("GET", "/orgs/{org}/repos", org_repositories),
    Route("GET", "/user/repos", user_repositories),
    Route("GET", P, get_repository),
    Route("PATCH", P, update_repository),
    Route("GET", f"{P}/branches", list_branches),
    Route("GET", f"{P}/branches/{{branch:path}}/protection", get_protection),
    Route("PUT", f"{P}/branches/{{branch:path}}/protection", put_protection),
    Route("DELETE", f"{P}/branches/{{branch:path}}/protection", delete_protection),
    Route("GET", f"{P}/branches/{{branch:path}}", get_branch),
    Route("GET", f"{P}/tags", list_tags),
    Route("GET", f"{P}/git/matching-refs/{{ref:path}}", matching_refs),
    Route("GET", f"{P}/git/refs", list_refs),
    Route("GET", f"{P}/git/refs/{{ref:path}}", list_refs),
    Route("GET", f"{P}/git/ref/{{ref:path}}", get_ref),
    Route("GET", f"{P}/commits", list_commits),
    Route("GET", f"{P}/commits/{{ref:path}}", get_commit),
    Route("GET", f"{P}/keys", list_keys),
    Route("POST", f"{P}/keys", create_key),
    Route("GET", f"{P}/keys/{{key_id:int}}", get_key),
    Route("DELETE", f"{P}/keys/{{key_id:int}}", delete_key),
    Route("GET", f"{P}/hooks", list_hooks),
    Route("POST", f"{P}/hooks", create_hook),
    Route("GET", f"{P}/hooks/{{hook_id:int}}", get_hook),
    Route("DELETE", f"{P}/hooks/{{hook_id:int}}", delete_hook),
    Route("GET", f"{P}/collaborators", list_collaborators),
    Route("GET", f"{P}/teams", list_teams),
]
