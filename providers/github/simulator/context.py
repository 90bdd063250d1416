"""What an API handler gets (the request, the caller, the world) and what it returns."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request

from providers.github.simulator.clock import parse_iso
from providers.github.simulator.models import App, User
from providers.github.simulator.pagination import link_header, parse_page, slice_page
from providers.github.simulator.state import Credential, Invalid, NotFound, Repo, SimState

if TYPE_CHECKING:
    from providers.github.simulator.app import Simulator
    from providers.github.simulator.routing import Handler

T = TypeVar("T")
DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An error answer in GitHub's shape: {"message", "documentation_url", "status", ...}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            data["errors"] = self.errors
        data["documentation_url"] = self.documentation_url
        data["status"] = str(self.status)
        return data


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


@dataclass
class Result:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    request: Request
    sim: Simulator
    base: str
    credential: Credential | None = None
    app: App | None = None
    _json: Any = None

    @property
    def state(self) -> SimState:
        return self.sim.state

    @property
    def actor(self) -> User:
        """Who a write is attributed to: the token's user, or the App's bot for installations."""
        if self.credential is not None and self.credential.user is not None:
            return self.credential.user
        if self.credential is not None and self.credential.installation is not None:
            app = self.state.apps.get(self.credential.installation.app_id)
            slug = app.slug if app else "app"
            return self.state.user(f"{slug}[bot]", "Bot")
        return self.state.user("ghost")

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def int_param(self, name: str) -> int:
        try:
            return int(self.request.path_params[name])
        except (TypeError, ValueError):
            raise not_found() from None

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def since(self, name: str = "since") -> Any:
        raw = self.query(name)
        if raw is None:
            return None
        parsed = parse_iso(raw)
        if parsed is None:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Search", "field": name, "code": "invalid"}],
            )
        return parsed

    def repo(self) -> Repo:
        """The repository named in the path, if the caller may see it (404 otherwise, as
        GitHub hides what a token cannot reach)."""
        found = self.state.repos.get(f"{self.param('owner')}/{self.param('repo')}".lower())
        if found is None:
            raise not_found()
        inst = self.credential.installation if self.credential else None
        if inst is not None and found not in self.state.installation_repos(inst):
            raise not_found()
        return found

    async def json(self) -> dict[str, Any]:
        if self._json is None:
            raw = await self.request.body()
            try:
                self._json = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ApiError(400, "Problems parsing JSON") from None
        if not isinstance(self._json, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self._json

    async def json_any(self) -> Any:
        raw = await self.request.body()
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None

    def paginate(
        self,
        items: Sequence[T],
        render: Callable[[T], Any],
        wrap: Callable[[list[Any], int], Any] | None = None,
    ) -> Result:
        """One page of `items`, rendered, with GitHub's Link header; `wrap` builds wrapper
        objects such as {"total_count", "workflow_runs"}."""
        page = parse_page(self.request.query_params)
        rendered = [render(item) for item in slice_page(items, page)]
        url = f"{self.base}{self.request.url.path}"
        link = link_header(url, self.request.query_params.multi_items(), page, len(items))
        headers = {"link": link} if link else {}
        body = wrap(rendered, len(items)) if wrap else rendered
        return Result(200, body, headers)


async def run_handler(handler: Handler, ctx: Ctx) -> Result:
    """Run an API handler, turning the state's exceptions into GitHub's error answers."""
    try:
        return await handler(ctx)
    except ApiError as exc:
        return Result(exc.status, exc.body(), exc.headers)
    except NotFound:
        return Result(404, not_found().body())
    except Invalid as exc:
        return Result(422, ApiError(422, exc.message, errors=exc.errors or None).body())
