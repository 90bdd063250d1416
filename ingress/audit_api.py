"""The audit trail over HTTP: `GET /api/v1/orgs/{org}/audit?object=&action=&limit=`.

Any token that may read the org may read its trail (viewer and up). `object` and `action` repeat
(an entry matching any of them is returned) and take what `krate-sync audit` takes; a filter
that cannot mean anything (unknown action family, a kind that is not one, a limit out of
1..1000, an unknown parameter) answers 400 with the reason. Newest entries first.
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
from settings import Settings
from starter.audit import AuditFilterError, AuditQuery, parse_query, read_audit
from store.db import session_scope

log = logging.getLogger("krate_sync.ingress.audit")

PATH = "/api/v1/orgs/{org}/audit"
PARAMETERS = ("object", "action", "limit")


def _read(engine: Engine, query: AuditQuery, org: str) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return read_audit(session, query, org)


async def list_audit(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    params = request.query_params
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        return problem(
            400, f"unknown parameter {unknown[0]!r}; filters are {', '.join(PARAMETERS)}"
        )
    try:
        query = parse_query(params.getlist("object"), params.getlist("action"), params.get("limit"))
    except AuditFilterError as error:
        return problem(400, str(error))
    return JSONResponse({"items": await run_in_threadpool(_read, rt.engine, query, org)})


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [Route(PATH, guarded(list_audit, log=log), methods=["GET"])]
