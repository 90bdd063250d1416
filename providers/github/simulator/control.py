"""The control API under /_sim: change the world, set faults and budgets, read the request log
and webhook deliveries. It is never faulted, rate limited or logged.

`/_sim/api/<any API path>` runs the regular API handler without authentication, acting as the
user named by the `X-Sim-Actor` header (default: the first configured token's user), so every
write the API supports (edit an issue, close a pull request, add a comment...) is also a
control action, with the same updated_at, ETag and webhook effects.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from providers.github.simulator import serializers as ser
from providers.github.simulator.clock import parse_iso
from providers.github.simulator.context import ApiError, Ctx, run_handler
from providers.github.simulator.routes import API_ROUTES
from providers.github.simulator.seed import SeedConfig, seed_state
from providers.github.simulator.state import Credential, NotFound

if TYPE_CHECKING:
    from providers.github.simulator.app import Simulator
    from providers.github.simulator.routing import Route as ApiRoute

PREFIX = "/_sim"
Endpoint = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def _guard(handler: Endpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return JSONResponse(exc.body(), exc.status)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"message": f"Invalid control request: {exc}"}, 400)

    return endpoint


def control_routes(sim: Simulator) -> list[BaseRoute]:
    def counts() -> dict[str, int]:
        repos = list(sim.state.repos.values())
        issues = [i for r in repos for i in r.issues.values()]
        return {
            "repositories": len(repos),
            "issues": sum(1 for i in issues if i.pull is None),
            "pull_requests": sum(1 for i in issues if i.pull is not None),
            "issue_comments": sum(len(r.comments) for r in repos),
            "reviews": sum(len(v) for r in repos for v in r.reviews_by_pull.values()),
            "review_comments": sum(len(r.review_comments) for r in repos),
            "workflow_runs": sum(len(r.runs) for r in repos),
            "jobs": sum(len(r.jobs) for r in repos),
            "branches": sum(len(r.branches) for r in repos),
            "tags": sum(len(r.tags) for r in repos),
            "commits": sum(len(r.commits) for r in repos),
            "deploy_keys": sum(len(r.keys) for r in repos),
            "requests": len(sim.requests),
            "webhook_deliveries": len(sim.webhooks.deliveries),
        }

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def get_counts(request: Request) -> Response:
        return JSONResponse(counts())

    async def get_requests(request: Request) -> Response:
        return JSONResponse({"requests": list(sim.requests)})

    async def reset_requests(request: Request) -> Response:
        sim.requests.clear()
        return Response(status_code=204)

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            sim.faults.update(await _body(request))
        return JSONResponse(dataclasses.asdict(sim.faults.config))

    async def ratelimit(request: Request) -> Response:
        if request.method == "PUT":
            body = await _body(request)
            sim.ratelimiter.configure(
                limit=body.get("limit"),
                remaining=body.get("remaining"),
                reset_in=body.get("reset_in"),
                reset_at=body.get("reset_at"),
                key=body.get("bucket"),
                status=body.get("status"),
            )
        limiter = sim.ratelimiter
        return JSONResponse(
            {
                "limit": limiter.limit,
                "status": limiter.status,
                "buckets": {k: dataclasses.asdict(b) for k, b in limiter.buckets.items()},
                "secondary": dataclasses.asdict(limiter.secondary),
            }
        )

    async def secondary(request: Request) -> Response:
        if request.method == "DELETE":
            sim.ratelimiter.clear_secondary()
        else:
            body = await _body(request)
            sim.ratelimiter.trip_secondary(
                int(body.get("retry_after", 60)),
                int(body.get("status", 403)),
                int(body.get("after_requests", 0)),
            )
        return JSONResponse(dataclasses.asdict(sim.ratelimiter.secondary))

    async def webhook(request: Request) -> Response:
        if request.method == "PUT":
            try:
                sim.webhooks.configure(**await _body(request))
            except (TypeError, ValueError) as error:  # an unknown field or content type
                return JSONResponse({"message": str(error)}, status_code=422)
        data = dataclasses.asdict(sim.webhooks.config)
        data["secret"] = "********" if data["secret"] else None
        return JSONResponse(data)

    async def deliveries(request: Request) -> Response:
        with_payload = request.query_params.get("payload") in ("1", "true")
        items = []
        for d in sim.webhooks.deliveries:
            item = dataclasses.asdict(d)
            if not with_payload:
                item.pop("payload")
            items.append(item)
        return JSONResponse({"pending": sim.webhooks.pending(), "deliveries": items})

    async def drain(request: Request) -> Response:
        await sim.webhooks.drain()
        return Response(status_code=204)

    async def tokens(request: Request) -> Response:
        body = await _body(request)
        sim.add_token(str(body["token"]), str(body.get("login", "krate-bot")))
        return JSONResponse({"token": body["token"], "login": body.get("login", "krate-bot")}, 201)

    async def run_status(request: Request) -> Response:
        repo = sim.state.repo(request.path_params["owner"], request.path_params["repo"])
        run = repo.run(int(request.path_params["run_id"]))
        body = await _body(request)
        actor = _actor(sim, request)
        if body.get("status") == "completed" or body.get("conclusion"):
            sim.state.finish_run(repo, run, actor, str(body.get("conclusion") or "success"))
        elif body.get("status") in ("queued", "in_progress"):
            run.status, run.conclusion = str(body["status"]), None
            run.updated_at = sim.state.now_after(run.updated_at)
            run.version += 1
            repo.touch()
        return JSONResponse(ser.workflow_run(run, repo, sim.base_for(request)))

    async def seed(request: Request) -> Response:
        body = await _body(request)
        if "until" in body and isinstance(body["until"], str):
            body["until"] = parse_iso(body["until"]) or datetime.now(UTC)
        seed_state(sim.state, SeedConfig(**body))
        return JSONResponse(counts(), 201)

    def state_errors(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound:
                return JSONResponse({"message": "Not Found"}, 404)

        return _guard(endpoint)

    routes: list[BaseRoute] = [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/counts", get_counts, methods=["GET"]),
        Route(f"{PREFIX}/requests", get_requests, methods=["GET"]),
        Route(f"{PREFIX}/requests", reset_requests, methods=["DELETE"]),
        Route(f"{PREFIX}/faults", _guard(faults), methods=["GET", "PUT"]),
        Route(f"{PREFIX}/ratelimit", _guard(ratelimit), methods=["GET", "PUT"]),
        Route(f"{PREFIX}/ratelimit/secondary", _guard(secondary), methods=["PUT", "DELETE"]),
        Route(f"{PREFIX}/webhook", _guard(webhook), methods=["GET", "PUT"]),
        Route(f"{PREFIX}/webhook/deliveries", deliveries, methods=["GET"]),
        Route(f"{PREFIX}/webhook/drain", drain, methods=["POST"]),
        Route(f"{PREFIX}/tokens", _guard(tokens), methods=["POST"]),
        Route(f"{PREFIX}/seed", _guard(seed), methods=["POST"]),
        Route(
            f"{PREFIX}/repos/{{owner}}/{{repo}}/actions/runs/{{run_id:int}}",
            state_errors(run_status),
            methods=["PATCH"],
        ),
    ]
    routes += [
        Route(f"{PREFIX}/api{r.path}", _api_endpoint(sim, r), methods=[r.method])
        for r in API_ROUTES
        if r.auth == "token"
    ]
    return routes


def _actor(sim: Simulator, request: Request) -> Any:
    login = request.headers.get("x-sim-actor")
    if not login:
        first = next(iter(sim.config.tokens.values()), "krate-bot")
        login = first
    return sim.state.user(login)


def _api_endpoint(sim: Simulator, route: ApiRoute) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ctx = Ctx(request=request, sim=sim, base=sim.base_for(request))
        ctx.credential = Credential(token="", user=_actor(sim, request))
        result = await run_handler(route.handler, ctx)
        if result.body is None:
            return Response(None, result.status, headers=result.headers)
        return JSONResponse(result.body, result.status, headers=result.headers)

    return endpoint
