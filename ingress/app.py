"""The ingress ASGI application: webhook receiver, read API, actions API and health probes.

Each feature lives in its own module exposing `routes(settings) -> Sequence[BaseRoute]`; add the
module's `routes` to ROUTE_FACTORIES and `create_app` mounts it. Handlers find the settings on
`request.app.state.settings`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from ingress import api, health, webhooks  # webhooks + read API: issue 4
from ingress.audit_api import routes as audit_routes  # issue 9 (the audit trail)
from ingress.conflicts_api import routes as conflict_routes  # issue 5 (conflicts)
from ingress.edits_api import routes as edit_routes  # issue 5 (local edits)
from ingress.intents_api import routes as intent_routes  # issue 5 (write intents)
from ingress.status_api import routes as status_routes  # issue 9 (status, object links)
from ingress.sync_api import routes as sync_routes  # issue 9 (pause, resume, resync)
from settings import Settings

RouteFactory = Callable[[Settings], Sequence[BaseRoute]]

ROUTE_FACTORIES: list[RouteFactory] = [
    health.routes,
    webhooks.routes,
    api.routes,
    intent_routes,  # issue 5 (write intents)
    conflict_routes,  # issue 5 (conflicts)
    edit_routes,  # issue 5 (local edits)
    audit_routes,  # issue 9 (the audit trail)
    status_routes,  # issue 9 (status, object links)
    sync_routes,  # issue 9 (pause, resume, resync of providers and bindings)
]


def create_app(settings: Settings, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ingress app for `settings`; `extra_routes` are mounted after the built-in ones."""
    routes: list[BaseRoute] = []
    for factory in ROUTE_FACTORIES:
        routes.extend(factory(settings))
    routes.extend(extra_routes)
    app = Starlette(routes=routes, lifespan=_lifespan)
    app.state.settings = settings
    return app


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Under a server: start the sweeper with the app (Queued deliveries get signalled even
    when no request comes in), and release the database and Temporal connections at the end."""
    from ingress.runtime import runtime

    settings: Settings = app.state.settings
    if settings.database_url:
        runtime(app).ensure_sweeper()
    yield
    existing = getattr(app.state, "krate_runtime", None)
    if existing is not None:
        await existing.close()
