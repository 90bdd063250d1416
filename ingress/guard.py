"""Authentication for the action APIs (write intents, conflicts): one guard, one error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ingress.auth import ApiToken, Permission, bearer
from ingress.runtime import Runtime, runtime

# Roles that may act (create, approve, resolve), beyond reading.
ACTOR_ROLES = frozenset({"operator", "admin"})

Handler = Callable[[Request, Runtime, ApiToken, str], Awaitable[Response]]


def problem(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def guarded(
    handler: Handler, *, action: str | None, log: logging.Logger
) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate; reading needs any role of the org, `action` (what a write does, for the
    refusal message) operator or admin. A database failure answers 503."""

    async def endpoint(request: Request) -> Response:
        rt = runtime(request.app)
        presented = bearer(request)
        token = rt.tokens.authenticate(presented) if presented else None
        if token is None:
            return problem(401, "a valid bearer token is required")
        org = request.path_params["org"]
        if not token.allows(Permission.READ, org):
            return problem(403, f"token {token.name!r} may not read org {org!r}")
        if action is not None and token.role not in ACTOR_ROLES:
            return problem(403, f"token {token.name!r} ({token.role}) may not {action}")
        try:
            return await handler(request, rt, token, org)
        except SQLAlchemyError as failure:
            log.warning("%s: database unavailable: %s", request.url.path, failure)
            return problem(503, "database unavailable; retry later")

    return endpoint
