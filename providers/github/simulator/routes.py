"""Every API route the simulator serves, in matching order."""

from __future__ import annotations

from providers.github.simulator import (
    routes_actions,
    routes_apps,
    routes_issues,
    routes_pulls,
    routes_repos,
)
from providers.github.simulator.routing import Route

API_ROUTES: list[Route] = [
    *routes_repos.ROUTES,
    *routes_issues.ROUTES,
    *routes_pulls.ROUTES,
    *routes_actions.ROUTES,
    *routes_apps.ROUTES,
]
