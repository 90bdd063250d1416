"""The read API (JSON) and the replay action, under `/api/v1/orgs/{org}/...`.

Every route needs `Authorization: Bearer <token>` (see ingress/auth.py for roles):

| Route | Permission |
| --- | --- |
| `GET deliveries?phase=&provider=&binding=&event=&limit=` | read |
| `GET deliveries/{name}` (name or provider delivery id) | read |
| `GET deliveries/{name}/payload` (the raw body, as received) | read_payload |
| `POST deliveries/{name}/replay` | replay |
| `GET events?provider=&binding=&delivery=&resourceKind=&limit=` | read |
| `GET bindings/{binding}/projections/{kind}?limit=` (issues, pullrequests, ...) | read |
| `GET syncstates?binding=` | read |
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from activities.deliveries import namespace_of
from ingress.auth import ApiToken, Permission
from ingress.guard import Handler, guarded, problem
from ingress.replay import DeliveryNotFound, find_by_name_or_id, requeue
from ingress.runtime import Runtime
from ingress.webhooks import signal_and_mark
from settings import Settings
from store.aggregated import manifest_from_row
from store.db import session_scope
from store.models.aggregated import SyncEvent, SyncState, WebhookDelivery
from store.payloads import get_payload
from store.projection_kinds import PROJECTION_BY_KIND
from store.projection_views import with_views

log = logging.getLogger("krate_sync.ingress.api")

PREFIX = "/api/v1/orgs/{org}"
MAX_LIMIT = 1000
# URL names of the projections (plural, lower case) -> the resource kind.
PROJECTION_PATHS = {
    "repositories": "Repository",
    "issues": "Issue",
    "pullrequests": "PullRequest",
    "reviews": "Review",
    "comments": "Comment",
    "pipelines": "Pipeline",
    "jobs": "Job",
    "refs": "GitRef",
    "commits": "Commit",
    "deploykeys": "DeployKey",
    "permissions": "RepositoryPermission",
    "branchprotections": "BranchProtection",
    "refpolicies": "RefPolicy",
    "labels": "Label",
    "webhooksubscriptions": "WebhookSubscription",
}


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    return max(1, min(int(raw), MAX_LIMIT)) if raw.isdigit() else 100


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# ---------------------------------------------------------------------------------- handlers


def _list_deliveries(engine: Engine, org: str, query: dict[str, str], limit: int) -> list[Any]:
    statement = select(WebhookDelivery).where(WebhookDelivery.namespace == namespace_of(org))
    filters = {
        "phase": WebhookDelivery.phase,
        "provider": WebhookDelivery.provider_ref,
        "binding": WebhookDelivery.binding_ref,
        "event": WebhookDelivery.event_type,
    }
    for key, column in filters.items():
        if query.get(key):
            statement = statement.where(col(column) == query[key])
    statement = statement.order_by(
        col(WebhookDelivery.received_at).desc(), col(WebhookDelivery.id).desc()
    ).limit(limit)
    with session_scope(engine) as session:
        return [manifest_from_row(row) for row in session.exec(statement)]


async def list_deliveries(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    items = await run_in_threadpool(
        _list_deliveries, rt.engine, org, dict(request.query_params), _limit(request)
    )
    return JSONResponse({"items": items})


def _get_delivery(engine: Engine, org: str, ref: str) -> dict[str, Any] | None:
    with session_scope(engine) as session:
        row = find_by_name_or_id(session, org, ref)
        return manifest_from_row(row) if row is not None else None


async def get_delivery(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    found = await run_in_threadpool(_get_delivery, rt.engine, org, request.path_params["name"])
    if found is None:
        return problem(404, "no such delivery")
    return JSONResponse(found)


def _payload(engine: Engine, org: str, ref: str) -> tuple[bytes, str] | None:
    with session_scope(engine) as session:
        row = find_by_name_or_id(session, org, ref)
        if row is None or row.payload_digest is None:
            return None
        stored = get_payload(session, row.payload_digest)
        return (stored.body, stored.content_type) if stored is not None else None


async def get_payload_raw(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    found = await run_in_threadpool(_payload, rt.engine, org, request.path_params["name"])
    if found is None:
        return problem(404, "no stored payload for this delivery")
    body, content_type = found
    return Response(body, media_type=content_type)


async def replay(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    try:
        outcome = await run_in_threadpool(
            requeue, rt.engine, org, request.path_params["name"], actor=token.actor
        )
    except DeliveryNotFound as error:
        return problem(404, str(error))
    answer = {
        "delivery": outcome.name,
        "replayed": outcome.replayed,
        "phase": outcome.phase,
        "message": outcome.message,
    }
    if outcome.replayed and outcome.config is not None:
        answer["signaled"] = await signal_and_mark(
            rt, outcome.config, outcome.delivery_id, org, outcome.provider
        )
    return JSONResponse(answer, status_code=202 if outcome.replayed else 200)


def _list_events(engine: Engine, org: str, query: dict[str, str], limit: int) -> list[Any]:
    statement = select(SyncEvent).where(SyncEvent.namespace == namespace_of(org))
    filters = {
        "provider": SyncEvent.provider_ref,
        "binding": SyncEvent.binding_ref,
        "delivery": SyncEvent.source_delivery,
        "resourceKind": SyncEvent.resource_kind,
    }
    for key, column in filters.items():
        if query.get(key):
            statement = statement.where(col(column) == query[key])
    statement = statement.order_by(col(SyncEvent.id).desc()).limit(limit)
    with session_scope(engine) as session:
        return [manifest_from_row(row) for row in session.exec(statement)]


async def list_events(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    items = await run_in_threadpool(
        _list_events, rt.engine, org, dict(request.query_params), _limit(request)
    )
    return JSONResponse({"items": items})


def _list_projection(engine: Engine, org: str, binding: str, kind: str, limit: int) -> list[Any]:
    model = PROJECTION_BY_KIND[kind]
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    statement = (
        select(model)
        .where(col(model.org) == org, col(model.binding_ref) == binding)
        .order_by(col(model.id))
        .limit(limit)
    )
    with session_scope(engine) as session:
        rows = [
            {c.name: _plain(getattr(row, c.name)) for c in table.c if c.name != "base_snapshot"}
            for row in session.exec(statement)
        ]
        return with_views(session, kind, rows)  # rich-text bodies, a pull request's checks


async def list_projection(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    kind = PROJECTION_PATHS.get(request.path_params["kind"])
    if kind is None:
        return problem(404, f"unknown projection; one of {', '.join(PROJECTION_PATHS)}")
    items = await run_in_threadpool(
        _list_projection,
        rt.engine,
        org,
        request.path_params["binding"],
        kind,
        _limit(request),
    )
    return JSONResponse({"kind": kind, "items": items})


def _list_states(engine: Engine, org: str, binding: str | None) -> list[Any]:
    statement = select(SyncState).where(SyncState.namespace == namespace_of(org))
    if binding:
        statement = statement.where(SyncState.binding_ref == binding)
    with session_scope(engine) as session:
        return [
            manifest_from_row(row) for row in session.exec(statement.order_by(col(SyncState.name)))
        ]


async def list_states(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    items = await run_in_threadpool(
        _list_states, rt.engine, org, request.query_params.get("binding")
    )
    return JSONResponse({"items": items})


def routes(settings: Settings) -> Sequence[BaseRoute]:
    def need(permission: Permission, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return guarded(handler, permission=permission, log=log)

    read, payload, act = Permission.READ, Permission.READ_PAYLOAD, Permission.REPLAY
    return [
        Route(f"{PREFIX}/deliveries", need(read, list_deliveries), methods=["GET"]),
        Route(f"{PREFIX}/deliveries/{{name}}", need(read, get_delivery), methods=["GET"]),
        Route(
            f"{PREFIX}/deliveries/{{name}}/payload",
            need(payload, get_payload_raw),
            methods=["GET"],
        ),
        Route(f"{PREFIX}/deliveries/{{name}}/replay", need(act, replay), methods=["POST"]),
        Route(f"{PREFIX}/events", need(read, list_events), methods=["GET"]),
        Route(
            f"{PREFIX}/bindings/{{binding}}/projections/{{kind}}",
            need(read, list_projection),
            methods=["GET"],
        ),
        Route(f"{PREFIX}/syncstates", need(read, list_states), methods=["GET"]),
    ]
