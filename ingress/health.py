"""Probes: /healthz says the process serves requests, /readyz that it can do its work.

Readiness means the database answers and is migrated to the code's head revision: before that,
deliveries could not be stored, so a load balancer (or `krate-sync dev`) must not send any.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from settings import Settings


def database_problem(url: str | None) -> dict[str, str] | None:
    """Why the database at `url` is not usable, as a JSON-ready dict; None when it is."""
    if not url:
        return {
            "reason": "database not configured",
            "hint": "set KRATE_DATABASE_URL (or run `krate-sync dev`, which starts one)",
        }
    # Imported here so the app (and /healthz) works even when the store cannot be imported.
    from store.db import DatabaseUnreachable, ping
    from store.migrate import current, head

    try:
        ping(url)
    except DatabaseUnreachable as err:
        return {"reason": f"database unreachable: {err.reason}", "hint": err.hint}
    at, latest = current(url), head()
    if at != latest:
        return {
            "reason": f"database not migrated (at {at or 'no revision'}, code needs {latest})",
            "hint": "run `krate-sync migrate`",
        }
    return None


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    try:
        # psycopg and Alembic block; keep the event loop free for other requests.
        problem = await run_in_threadpool(database_problem, settings.database_url)
    except Exception as err:  # an unexpected failure is still "not ready", with its cause
        problem = {"reason": f"readiness check failed: {type(err).__name__}: {err}"}
    if problem is not None:
        return JSONResponse({"status": "not ready", **problem}, status_code=503)
    return JSONResponse({"status": "ready"})


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
