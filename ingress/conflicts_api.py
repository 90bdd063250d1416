"""Sync conflicts over HTTP, under `/api/v1/orgs/{org}/conflicts`.

| Route | Role |
| --- | --- |
| `GET conflicts?phase=` | any (read) |
| `GET conflicts/{name}` | any (read) |
| `POST conflicts/{name}/resolve` `{"decision", "values"?, "note"?}` | operator, admin |

`resolve` sends the ConflictWorkflow's `resolve` update (with-start), the same one the command
line and the Temporal Web UI send; the actor is the token (`api:<name>`). Answers: 200 the
decision was applied; 400 refused by the validator (unknown decision, manual-edit without
values); 404 unknown conflict; 409 closed already, or not applied (apply-krate without write
intents, a write intent refused); 503 database or Temporal unavailable.
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

from activities.conflict_activities import conflict_search_attributes
from activities.conflict_models import ConflictWorkflowInput, ResolveInput
from ingress.auth import ApiToken, Permission
from ingress.guard import guarded, problem
from ingress.runtime import Runtime
from settings import Settings
from starter.conflict_commands import ResolutionRefused, send_resolution
from store.aggregated import manifest_from_row
from store.conflicts import find_conflict, list_conflicts
from store.db import session_scope

log = logging.getLogger("krate_sync.ingress.conflicts")

PREFIX = "/api/v1/orgs/{org}/conflicts"


def _list(engine: Engine, org: str, phase: str | None) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return list_conflicts(session, org=org, phase=phase)


def _get(engine: Engine, org: str, name: str) -> dict[str, Any] | None:
    with session_scope(engine) as session:
        row = find_conflict(session, name, org)
        return None if row is None else manifest_from_row(row)


async def list_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    phase = request.query_params.get("phase") or None
    return JSONResponse({"items": await run_in_threadpool(_list, rt.engine, org, phase)})


async def get_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    name = request.path_params["name"]
    doc = await run_in_threadpool(_get, rt.engine, org, name)
    if doc is None:
        return problem(404, f"no conflict {name!r} in org {org!r}")
    return JSONResponse(doc)


async def resolve_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    name = request.path_params["name"]
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("decision"), str):
        return problem(400, 'give {"decision": ..., "values"?: {...}, "note"?: "..."}')
    values, note = body.get("values") or {}, body.get("note")
    if not isinstance(values, dict) or not (note is None or isinstance(note, str)):
        return problem(400, '"values" must be an object and "note" a string')
    doc = await run_in_threadpool(_get, rt.engine, org, name)
    if doc is None:
        return problem(404, f"no conflict {name!r} in org {org!r}")
    phase = (doc.get("status") or {}).get("phase")
    if phase not in (None, "Open"):
        return problem(409, f"conflict {name} is {phase} already")
    start = ConflictWorkflowInput(org=org, namespace=doc["metadata"]["namespace"], name=name)
    decision = ResolveInput(decision=body["decision"], actor=token.actor, values=values, note=note)
    try:
        client = await rt.signaler.client()
        result = await send_resolution(
            client, rt.settings.task_queue, start, decision, conflict_search_attributes(doc)
        )
    except ResolutionRefused as error:
        return problem(400, str(error))
    except RuntimeError as error:
        return problem(503, f"Temporal unavailable: {error}")
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if result.applied else 409)


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [
        Route(PREFIX, guarded(log=log, handler=list_endpoint), methods=["GET"]),
        Route(
            f"{PREFIX}/{{name}}",
            guarded(log=log, handler=get_endpoint),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/{{name}}/resolve",
            guarded(
                log=log,
                permission=Permission.ACT,
                action="resolve conflicts",
                handler=resolve_endpoint,
            ),
            methods=["POST"],
        ),
    ]
