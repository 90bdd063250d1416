"""Write intents over HTTP, under `/api/v1/orgs/{org}/intents`.

| Route | Role |
| --- | --- |
| `GET intents?phase=` | any (read) |
| `GET intents/{name}` (request preview redacted) | any (read) |
| `POST intents` `{"binding", "operation", "parameters", "agent"?, "repository"?, "idempotencyKey"?}` | operator, admin |
| `POST intents/{name}/approve` / `reject` / `cancel` / `retry` `{"reason"?}` | operator, admin |

The actor is the token (`api:<name>`): a token cannot approve an intent it created. Errors:
400 invalid request, 404 unknown binding or intent, 409 refused by the workflow (self-approval,
a finished intent), 503 database or Temporal unavailable.
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

from activities.writes_models import SOURCE_AGENT, SOURCE_USER
from ingress.auth import ApiToken, Permission
from ingress.guard import Handler, guarded, problem
from ingress.runtime import Runtime
from settings import Settings
from starter.intents import (
    VERBS,
    CreatedWriteIntent,
    IntentNotFound,
    IntentRejected,
    WriteIntentRequest,
    create_write_intent,
    decide,
    get_intent,
    list_intents,
    start_write_intent,
)
from store.db import session_scope

log = logging.getLogger("krate_sync.ingress.intents")

PREFIX = "/api/v1/orgs/{org}/intents"


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _list(engine: Engine, org: str, phase: str | None) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return list_intents(session, org, phase)


async def list_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    items = await run_in_threadpool(_list, rt.engine, org, request.query_params.get("phase"))
    return JSONResponse({"items": items})


def _get(engine: Engine, org: str, name: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        return get_intent(session, org, name)


async def get_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    try:
        doc = await run_in_threadpool(_get, rt.engine, org, request.path_params["name"])
    except IntentNotFound as error:
        return problem(404, str(error))
    return JSONResponse(doc)


def _create(engine: Engine, request: WriteIntentRequest) -> CreatedWriteIntent:
    with session_scope(engine) as session:
        return create_write_intent(session, request)


async def create_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    body = await _json(request)
    binding, operation = body.get("binding"), body.get("operation")
    parameters = body.get("parameters", {})
    if not isinstance(binding, str) or not isinstance(operation, str):
        return problem(400, 'give "binding" and "operation" (strings) and "parameters" (object)')
    if not isinstance(parameters, dict):
        return problem(400, '"parameters" must be an object')
    key = body.get("idempotencyKey")
    repository = body.get("repository")
    intent_request = WriteIntentRequest(
        org=org,
        binding=binding,
        operation=operation,
        parameters=parameters,
        actor=token.actor,
        source_kind=SOURCE_AGENT if body.get("agent") else SOURCE_USER,
        repository=repository if isinstance(repository, str) else None,
        idempotency_key=key if isinstance(key, str) else None,
    )
    try:
        created = await run_in_threadpool(_create, rt.engine, intent_request)
    except IntentNotFound as error:
        return problem(404, str(error))
    except IntentRejected as error:
        return problem(400, str(error))
    try:
        client = await rt.signaler.client()
        await start_write_intent(client, rt.settings.task_queue, created)
    except RuntimeError as error:
        # Stored; the workflow starts when the same idempotency key is posted again.
        return problem(503, f"intent {created.name} stored but Temporal is unavailable: {error}")
    return JSONResponse(created.manifest, status_code=201 if created.created else 200)


def _decision(verb: str) -> Handler:
    async def handler(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
        body = await _json(request)
        reason = body.get("reason")
        try:
            client = await rt.signaler.client()
            status = await decide(
                client,
                org,
                request.path_params["name"],
                verb,
                token.actor,
                reason if isinstance(reason, str) else None,
            )
        except IntentNotFound as error:
            return problem(404, str(error))
        except IntentRejected as error:
            return problem(409, str(error))
        except RuntimeError as error:
            return problem(503, f"Temporal unavailable: {error}")
        return JSONResponse(status.model_dump(mode="json"))

    return handler


def routes(settings: Settings) -> Sequence[BaseRoute]:
    found: list[BaseRoute] = [
        Route(PREFIX, guarded(log=log, handler=list_endpoint), methods=["GET"]),
        Route(
            PREFIX,
            guarded(
                log=log,
                permission=Permission.ACT,
                action="create or decide write intents",
                handler=create_endpoint,
            ),
            methods=["POST"],
        ),
        Route(
            f"{PREFIX}/{{name}}",
            guarded(log=log, handler=get_endpoint),
            methods=["GET"],
        ),
    ]
    for verb in VERBS:
        found.append(
            Route(
                f"{PREFIX}/{{name}}/{verb}",
                guarded(
                    log=log,
                    permission=Permission.ACT,
                    action="create or decide write intents",
                    handler=_decision(verb),
                ),
                methods=["POST"],
            )
        )
    return found
