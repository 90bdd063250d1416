"""The ingress ASGI application: webhook receiver, read API, actions API and health probes.

Each feature lives in its own module exposing `routes(settings) -> Sequence[BaseRoute]`; add the
module's `routes` to ROUTE_FACTORIES and `create_app` mounts it. Handlers find the settings on
`request.app.state.settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from ingress import health
from settings import Settings

RouteFactory = Callable[[Settings], Sequence[BaseRoute]]

ROUTE_FACTORIES: list[RouteFactory] = [
    health.routes,
]


def create_app(settings: Settings, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ingress app for `settings`; `extra_routes` are mounted after the built-in ones."""
    routes: list[BaseRoute] = []
    for factory in ROUTE_FACTORIES:
        routes.extend(factory(settings))
    routes.extend(extra_routes)
    app = Starlette(routes=routes)
    app.state.settings = settings
    return app
