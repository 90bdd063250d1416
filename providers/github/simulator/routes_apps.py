"""GitHub App endpoints (JWT-authenticated) and the rate-limit status endpoint."""

from __future__ import annotations

from providers.github.simulator import serializers as ser
from providers.github.simulator.clock import iso
from providers.github.simulator.context import ApiError, Ctx, Result, not_found
from providers.github.simulator.ids import node_id
from providers.github.simulator.models import Installation
from providers.github.simulator.routing import Route


def installation(inst: Installation, ctx: Ctx) -> ser.Json:
    base = ctx.base
    account = inst.account
    app = ctx.state.apps[inst.app_id]
    return {
        "id": inst.id,
        "node_id": node_id("installation", inst.id),
        "account": ser.user(account, base),
        "repository_selection": "all" if inst.repository_ids is None else "selected",
        "access_tokens_url": f"{base}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{base}/organizations/{account.login}/settings/installations/{inst.id}",
        "app_id": app.id,
        "app_slug": app.slug,
        "client_id": app.client_id,
        "target_id": account.id,
        "target_type": account.type,
        "permissions": dict(ser.APP_PERMISSIONS),
        "events": list(ser.APP_EVENTS),
        "created_at": iso(app.created_at),
        "updated_at": iso(app.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


async def get_app(ctx: Ctx) -> Result:
    assert ctx.app is not None
    count = sum(1 for i in ctx.state.installations.values() if i.app_id == ctx.app.id)
    return Result(200, ser.app(ctx.app, ctx.base, count))


async def list_installations(ctx: Ctx) -> Result:
    assert ctx.app is not None
    app_id = ctx.app.id
    items = sorted(
        (i for i in ctx.state.installations.values() if i.app_id == app_id), key=lambda i: i.id
    )
    return ctx.paginate(items, lambda i: installation(i, ctx))


async def repo_installation(ctx: Ctx) -> Result:
    repo = ctx.repo()
    inst = ctx.state.installation_for(repo)
    if inst is None or ctx.app is None or inst.app_id != ctx.app.id:
        raise not_found()
    return Result(200, installation(inst, ctx))


async def create_access_token(ctx: Ctx) -> Result:
    assert ctx.app is not None
    inst = ctx.state.installations.get(ctx.int_param("installation_id"))
    if inst is None or inst.app_id != ctx.app.id:
        raise not_found()
    if inst.account.id < 0:
        raise ApiError(403, "This installation has been suspended")
    credential = ctx.sim.issue_installation_token(inst)
    body: ser.Json = {
        "token": credential.token,
        "expires_at": iso(credential.expires_at),
        "permissions": dict(ser.APP_PERMISSIONS),
        "repository_selection": "all" if inst.repository_ids is None else "selected",
    }
    return Result(201, body)


async def rate_limit(ctx: Ctx) -> Result:
    key = ctx.credential.bucket if ctx.credential else "anonymous"
    bucket = ctx.sim.ratelimiter.bucket(key)
    core = ser.rate(bucket.limit, bucket.remaining, bucket.reset)
    other = ser.rate(30, 30, bucket.reset)
    points = ctx.sim.ratelimiter.bucket(f"graphql:{key}")  # the GraphQL API's own budget
    graphql = ser.rate(points.limit, points.remaining, points.reset)
    body = {
        "resources": {
            "core": core,
            "search": other,
            "graphql": graphql,
            "integration_manifest": ser.rate(5000, 5000, bucket.reset),
            "code_search": ser.rate(10, 10, bucket.reset),
        },
        "rate": core,
    }
    return Result(200, body)


ROUTES: list[Route] = [
    Route("GET", "/app", get_app, auth="jwt"),
    Route("GET", "/app/installations", list_installations, auth="jwt"),
    Route(
        "POST",
        "/app/installations/{installation_id:int}/access_tokens",
        create_access_token,
        auth="jwt",
    ),
    Route("GET", "/repos/{owner}/{repo}/installation", repo_installation, auth="jwt"),
    Route("GET", "/rate_limit", rate_limit, counts=False),
]
