"""Providers and bindings with their status, and object links, over HTTP (viewer and up):

| route | answer |
| --- | --- |
| `GET /api/v1/orgs/{org}/providers`, `.../providers/{name}` | manifests with `status` (phase, conditions) |
| `GET /api/v1/orgs/{org}/bindings`, `.../bindings/{name}` | the same for bindings |
| `GET /api/v1/orgs/{org}/links?binding=&kind=&nativeId=&limit=` | ExternalObjectLinks |

The same manifests `krate-sync get providers|bindings|links -o yaml` prints.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ingress.auth import ApiToken
from ingress.guard import guarded, problem
from ingress.runtime import Runtime
from resources.wire import org_namespace
from settings import Settings
from store.aggregated import manifest_from_row
from store.db import session_scope
from store.links import links_of
from store.resources import get_resources

log = logging.getLogger("krate_sync.ingress.status")

PREFIX = "/api/v1/orgs/{org}"
CONFIG_PATHS = {"providers": "ExternalBackendProvider", "bindings": "ExternalBackendBinding"}
LINK_FILTERS = ("binding", "kind", "nativeId", "limit")
MAX_LINKS = 1000


def _config(engine: Engine, kind: str, org: str, name: str | None) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return get_resources(session, kind, namespace=org_namespace(org), name=name)


async def list_config(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    kind = CONFIG_PATHS[request.url.path.rstrip("/").split("/")[-1]]
    items = await run_in_threadpool(_config, rt.engine, kind, org, None)
    return JSONResponse({"items": items})


async def get_config(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    plural = request.url.path.rstrip("/").split("/")[-2]
    name = request.path_params["name"]
    items = await run_in_threadpool(_config, rt.engine, CONFIG_PATHS[plural], org, name)
    if not items:
        return problem(404, f"{CONFIG_PATHS[plural]} {name!r} not found in {org_namespace(org)}")
    return JSONResponse(items[0])


def _links(engine: Engine, org: str, query: dict[str, str], limit: int) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        found = links_of(
            session,
            namespace=org_namespace(org),
            binding=query.get("binding") or None,
            local_kind=query.get("kind") or None,
            native_id=query.get("nativeId") or None,
            limit=limit,
        )
        return [manifest_from_row(row) for row in found]


async def list_links(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    query = dict(request.query_params)
    unknown = sorted(set(query) - set(LINK_FILTERS))
    if unknown:
        return problem(
            400, f"unknown parameter {unknown[0]!r}; filters are {', '.join(LINK_FILTERS)}"
        )
    raw = query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LINKS:
        return problem(400, f"limit must be a whole number from 1 to {MAX_LINKS}")
    items = await run_in_threadpool(_links, rt.engine, org, query, int(raw))
    return JSONResponse({"items": items})


def routes(settings: Settings) -> Sequence[BaseRoute]:
    out: list[BaseRoute] = []
    for plural in CONFIG_PATHS:
        out.append(Route(f"{PREFIX}/{plural}", guarded(list_config, log=log), methods=["GET"]))
        out.append(
            Route(f"{PREFIX}/{plural}/{{name}}", guarded(get_config, log=log), methods=["GET"])
        )
    out.append(Route(f"{PREFIX}/links", guarded(list_links, log=log), methods=["GET"]))
    return out
