"""Renamed repositories, as GitHub serves them: `/repositories/{id}/...` reaches a repository
by id whatever its name, and a former name answers with a redirect there (301 for GET and
HEAD, 307 for every other method, so the client repeats the same request)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from providers.github.simulator.state import SimState

REDIRECT_DOC = (
    "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"
)


def by_id(state: SimState, scope: Scope) -> Scope | None:
    """The scope of `/repositories/{id}/rest` rewritten to `/repos/{owner}/{name}/rest`, or None
    when the path is not of that form or names no repository."""
    path: str = scope["path"]
    if not path.startswith("/repositories/"):
        return None
    ident, _, rest = path[len("/repositories/") :].partition("/")
    repo = state.repos_by_id.get(int(ident)) if ident.isdigit() else None
    if repo is None:
        return None
    new_path = f"/repos/{repo.full_name}" + (f"/{rest}" if rest else "")
    rewritten: dict[str, Any] = {**scope, "path": new_path, "raw_path": new_path.encode()}
    return rewritten


def redirect(state: SimState, scope: Scope, base: str | None) -> Response | None:
    """The redirect for a request naming a former full name, or None."""
    path: str = scope["path"]
    if not path.startswith("/repos/"):
        return None
    owner, _, tail = path[len("/repos/") :].partition("/")
    name, _, rest = tail.partition("/")
    key = f"{owner}/{name}".lower()
    ident = state.moved.get(key)
    if ident is None or key in state.repos:
        return None
    root = (base or str(Request(scope).base_url)).rstrip("/")
    location = f"{root}/repositories/{ident}" + (f"/{rest}" if rest else "")
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        location += f"?{query}"
    status = 301 if scope["method"] in ("GET", "HEAD") else 307
    body = {
        "message": "Moved Permanently",
        "url": location,
        "documentation_url": REDIRECT_DOC,
    }
    return JSONResponse(body, status_code=status, headers={"location": location})
