"""Pause, resume and resync over HTTP: a provider's bindings, or one binding.

| Route | Permission |
| --- | --- |
| `POST providers/{provider}/pause` `{"reason"?}` | act (operator, admin) |
| `POST providers/{provider}/resume` | act |
| `POST providers/{provider}/resync` (a full resync of every binding not paused) | act |
| `POST bindings/{binding}/pause` `{"reason"?}`, `resume`, `sync` (a pass now), `resync` | act |

The answer lists each binding with what happened to it (`{"bindings": [{"binding",
"workflowId", "result"}]}`); the actor (`api:<token name>`) is recorded in the audit log, as
`krate-sync providers ...` and `krate-sync sync ...` do (starter/binding_actions.py). Errors:
404 unknown provider or binding, 503 Temporal or the database unavailable.
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
from temporalio.service import RPCError

from ingress.auth import ApiToken, Permission
from ingress.guard import Handler, guarded, problem
from ingress.runtime import Runtime
from ingress.signaler import TemporalUnavailable
from settings import Settings
from starter import binding_actions
from starter.binding_actions import BindingOutcome, NotFound
from starter.reconcile import BindingPlan
from store.db import session_scope

log = logging.getLogger("krate_sync.ingress.sync")

PREFIX = "/api/v1/orgs/{org}"
PROVIDER_VERBS = {"pause": "pause", "resume": "resume", "resync": "resync"}
BINDING_VERBS = {"pause": "pause", "resume": "resume", "sync": "now", "resync": "resync"}
DEFAULT_REASON = {"provider": "provider paused by an operator", "binding": "paused by an operator"}


def _plans(
    engine: Engine, org: str, provider: str | None, binding: str | None
) -> list[BindingPlan]:
    from starter.reconcile import stored_config_docs

    with session_scope(engine) as session:
        docs = stored_config_docs(session)
    if binding is not None:
        return [binding_actions.binding_plan(docs, org, binding)]
    assert provider is not None
    return binding_actions.provider_plans(docs, org, provider)


def _record(
    engine: Engine, org: str, actor: str, verb: str, outcomes: list[BindingOutcome], **kw: Any
) -> None:
    with session_scope(engine) as session:
        binding_actions.record(session, org=org, actor=actor, verb=verb, outcomes=outcomes, **kw)


async def _reason(request: Request, default: str) -> str:
    try:
        body = await request.json()
    except ValueError:
        return default
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) and reason.strip() else default


def _handler(scope: str, verb: str) -> Handler:
    async def handler(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
        name = request.path_params["name"]
        provider, binding = (name, None) if scope == "provider" else (None, name)
        reason = await _reason(request, DEFAULT_REASON[scope]) if verb == "pause" else ""
        try:
            plans = await run_in_threadpool(_plans, rt.engine, org, provider, binding)
        except NotFound as error:
            return problem(404, str(error))
        try:
            client = await rt.signaler.client()
            outcomes = await binding_actions.act(
                client, rt.settings.task_queue, plans, verb, reason
            )
        except (TemporalUnavailable, RPCError) as error:
            return problem(503, f"Temporal unavailable: {error}")
        await run_in_threadpool(
            _record,
            rt.engine,
            org,
            token.actor,
            verb,
            outcomes,
            provider=provider or plans[0].config.binding.provider,
            binding=binding,
            reason=reason,
        )
        return JSONResponse(
            {scope: name, "action": verb, "bindings": [o.document() for o in outcomes]}
        )

    return handler


def routes(settings: Settings) -> Sequence[BaseRoute]:
    def route(scope: str, path: str, verb: str) -> Route:
        return Route(
            f"{PREFIX}/{scope}s/{{name}}/{path}",
            guarded(
                _handler(scope, verb),
                permission=Permission.ACT,
                action="pause, resume or resync bindings",
                log=log,
            ),
            methods=["POST"],
        )

    return [route("provider", path, verb) for path, verb in PROVIDER_VERBS.items()] + [
        route("binding", path, verb) for path, verb in BINDING_VERBS.items()
    ]
