"""Authentication and authorization of the API routes: one guard, one error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ingress.auth import ApiToken, Permission, bearer
from ingress.runtime import Runtime, runtime

Handler = Callable[[Request, Runtime, ApiToken, str], Awaitable[Response]]


def problem(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def guarded(
    handler: Handler,
    *,
    permission: Permission = Permission.READ,
    action: str | None = None,
    log: logging.Logger,
) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate the bearer token and check `permission` for the path's org (`action` words
    the refusal, e.g. "resolve conflicts"). A database failure answers 503."""

    async def endpoint(request: Request) -> Response:
        rt = runtime(request.app)
        rt.ensure_sweeper()
        presented = bearer(request)
        token = rt.tokens.authenticate(presented) if presented else None
        if token is None:
            return problem(401, "a valid bearer token is required")
        org = request.path_params["org"]
        if not token.allows(Permission.READ, org):
            return problem(403, f"token {token.name!r} may not read org {org!r}")
        if not token.allows(permission, org):
            what = action or permission.value
            return problem(403, f"token {token.name!r} ({token.role}) may not {what}")
        try:
            return await handler(request, rt, token, org)
        except SQLAlchemyError as failure:
            log.warning("%s: database unavailable: %s", request.url.path, failure)
            return problem(503, "database unavailable; retry later")

    return endpoint
