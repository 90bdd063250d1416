"""The simulator as an ASGI application.

Every API request passes, in this order: fault injection (drop, latency, 5xx), authentication,
the secondary and primary rate limits, the handler, then ETag / If-None-Match (a 304 is
refunded to the budget, as on GitHub) and the rate-limit headers. `POST /graphql` shares the
faults, authentication, secondary limit and request log, then charges query points to a
`graphql` budget of its own (graphql_api.py). `/_sim/...` is the control API: never faulted,
rate limited or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from providers.github.simulator import appjwt, graphql_api
from providers.github.simulator import serializers as ser
from providers.github.simulator.clock import Clock, system_clock
from providers.github.simulator.context import ApiError, Ctx, Result, run_handler
from providers.github.simulator.control import control_routes
from providers.github.simulator.etags import EtagCache
from providers.github.simulator.etags import Key as EtagKey
from providers.github.simulator.faults import ERROR_BODIES, FaultConfig, Faults
from providers.github.simulator.graphql_nodes import Ctx as GraphQLCtx
from providers.github.simulator.models import App, Installation
from providers.github.simulator.moved import by_id, redirect
from providers.github.simulator.ratelimit import PRIMARY_DOC, SECONDARY_DOC, Bucket, RateLimiter
from providers.github.simulator.routes import API_ROUTES
from providers.github.simulator.routing import Route
from providers.github.simulator.seed import SeedConfig, seed_state
from providers.github.simulator.state import Credential, Event, Repo, SimState
from providers.github.simulator.webhooks import WebhookConfig, WebhookDispatcher, build_payload

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sim"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CACHE_CONTROL = "private, max-age=60, s-maxage=60"
VERSIONS_DOC = "https://docs.github.com/rest/about-the-rest-api/api-versions"
TOKEN_LIFETIME = timedelta(hours=1)
GRAPHQL_PATH = "/graphql"


@dataclass
class AppConfig:
    """A GitHub App the simulator knows: JWTs signed by `key_pem` (the App's private key or
    its public half) are accepted for it; installations default to one per organization."""

    app_id: int
    key_pem: str
    slug: str = "krate-sync"
    name: str = "Krate Sync"
    client_id: str | None = None
    installations: dict[int, str] | None = None  # installation id -> account login


@dataclass
class SimulatorConfig:
    base_url: str | None = None  # None: taken from each request's Host
    tokens: dict[str, str] = field(default_factory=lambda: {"sim-token": "krate-bot"})
    apps: list[AppConfig] = field(default_factory=list)
    seed: SeedConfig | None = field(default_factory=SeedConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    rate_limit: int = 5000
    rate_limit_status: int = 403
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    request_log_size: int = 200_000
    clock: Clock = system_clock


class Simulator:
    """The GitHub REST simulator: an ASGI app (`await sim(scope, receive, send)`) that also
    exposes its parts (`state`, `faults`, `ratelimiter`, `webhooks`, `requests`) to tests."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        cfg = self.config
        self.state = SimState(cfg.clock)
        self.faults = Faults(cfg.faults)
        self.ratelimiter = RateLimiter(
            limit=cfg.rate_limit, status=cfg.rate_limit_status, clock=cfg.clock
        )
        self.webhooks = WebhookDispatcher(cfg.webhook, webhook_transport)
        self.requests: deque[dict[str, Any]] = deque(maxlen=cfg.request_log_size)
        self.etags = EtagCache()
        self.app_keys: dict[str, tuple[int, int]] = {}
        self.public_base = cfg.base_url or "http://localhost"
        self._request_ids = count(1)
        for token, login in cfg.tokens.items():
            self.add_token(token, login)
        if cfg.seed is not None:
            seed_state(self.state, cfg.seed)
        for app_cfg in cfg.apps:
            self.add_app(app_cfg)
        self.state.listeners.append(self._on_event)
        # One Starlette route per path, dispatching on the method itself: GitHub answers an
        # unsupported method with its JSON 404, not a 405.
        by_path: dict[str, dict[str, Route]] = {}
        for r in API_ROUTES:
            by_path.setdefault(r.path, {})[r.method] = r
        routes: list[BaseRoute] = [
            StarletteRoute(path, self._endpoint(methods), methods=ALL_METHODS)
            for path, methods in by_path.items()
        ]
        routes.append(StarletteRoute(GRAPHQL_PATH, self._graphql, methods=ALL_METHODS))
        self.router = Router(routes=[*control_routes(self), *routes], default=_not_found)

    # -- setup ------------------------------------------------------------------------------

    def add_token(self, token: str, login: str) -> Credential:
        credential = Credential(token=token, user=self.state.user(login))
        self.state.credentials[token] = credential
        return credential

    def add_app(self, app_cfg: AppConfig) -> App:
        n, e = appjwt.public_numbers(app_cfg.key_pem)
        app = App(
            id=app_cfg.app_id,
            slug=app_cfg.slug,
            name=app_cfg.name,
            owner=self.state.user("krate", "Organization"),
            client_id=app_cfg.client_id or f"Iv1.{app_cfg.app_id:016x}",
            public_key=(n, e),
            created_at=datetime(2024, 1, 1, tzinfo=self.config.clock().tzinfo),
            description="Keeps Krate in sync with GitHub.",
        )
        self.state.apps[app.id] = app
        self.app_keys[str(app.id)] = (n, e)
        self.app_keys[app.client_id] = (n, e)
        wanted = app_cfg.installations
        if wanted is None:
            owners = sorted({r.owner.login for r in self.state.repos.values()})
            wanted = {self.state.ids.next("installation"): login for login in owners}
        for inst_id, login in wanted.items():
            account = self.state.user(login, "Organization")
            self.state.installations[inst_id] = Installation(inst_id, account, app.id)
        return app

    def issue_installation_token(self, inst: Installation) -> Credential:
        token = "ghs_" + secrets.token_urlsafe(27)[:36]
        expires = self.config.clock() + TOKEN_LIFETIME
        credential = Credential(token=token, installation=inst, expires_at=expires)
        self.state.credentials[token] = credential
        return credential

    # -- webhooks ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if not self.webhooks.config.url:
            return
        payload = build_payload(event, self.state, self.public_base)
        self.webhooks.submit(event.name, event.action, payload)

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.webhooks.loop = asyncio.get_running_loop()
        path: str = scope["path"]
        if not path.startswith(CONTROL_PREFIX + "/"):
            decision = self.faults.decide()
            if decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)
            if decision.drop:
                self._log(scope, None, fault="drop")
                await self._drop(send)
                return
            if decision.status is not None:
                self._log(scope, decision.status, fault="error")
                body = json.dumps(ERROR_BODIES.get(decision.status, {"message": "Server Error"}))
                response = Response(
                    body, decision.status, media_type="application/json; charset=utf-8"
                )
                await response(scope, receive, send)
                return
            moved = redirect(self.state, scope, self.config.base_url)
            if moved is not None:
                self._log(scope, moved.status_code)
                await moved(scope, receive, send)
                return
            scope = by_id(self.state, scope) or scope
        await self.router(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.webhooks.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.webhooks.drain(wait_s=5)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _drop(self, send: Send) -> None:
        """Close the connection without answering.

        Under uvicorn, `send` is the bound method of the connection's request cycle, which
        holds the transport: abort it, then yield so uvicorn sees the disconnect and does not
        answer with a 500 of its own. In process (httpx.ASGITransport) there is no socket:
        raise the exact error httpx raises when a server hangs up without a response.
        """
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)

    def _log(
        self,
        scope: Scope,
        status: int | None,
        *,
        fault: str | None = None,
        not_modified: bool = False,
        bucket: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.requests.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
                "not_modified": not_modified,
                "fault": fault,
                "bucket": bucket,
                "at": self.config.clock().timestamp(),
                **(extra or {}),
            }
        )

    # -- the API pipeline -------------------------------------------------------------------

    def base_for(self, request: Request) -> str:
        if self.config.base_url:
            return self.config.base_url.rstrip("/")
        base = str(request.base_url).rstrip("/")
        self.public_base = base
        return base

    def _endpoint(self, methods: dict[str, Route]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            route = methods.get(method)
            if route is None:
                self._log(request.scope, 404)
                return self._render(404, ApiError(404, "Not Found").body(), {})
            return await self.handle(request, route)

        return endpoint

    def _rate_headers(self, bucket: Bucket | None, resource: str = "core") -> dict[str, str]:
        if bucket is None:
            return {}
        return {
            "x-ratelimit-limit": str(bucket.limit),
            "x-ratelimit-remaining": str(bucket.remaining),
            "x-ratelimit-reset": str(bucket.reset),
            "x-ratelimit-used": str(bucket.used),
            "x-ratelimit-resource": resource,
        }

    def _authenticate(self, request: Request, route: Route, ctx: Ctx) -> str:
        """Fill ctx.credential or ctx.app; return the rate-limit bucket key."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "token") or not token:
            raise ApiError(401, "Requires authentication")
        if route.auth == "jwt":
            now = int(self.config.clock().timestamp())
            try:
                claims = appjwt.verify(token, self.app_keys, now)
            except appjwt.JwtError as exc:
                raise ApiError(401, str(exc)) from None
            key = self.app_keys[claims.issuer]
            ctx.app = next(a for a in self.state.apps.values() if a.public_key == key)
            return f"app:{ctx.app.id}"
        credential = self.state.credentials.get(token)
        if credential is None or (
            credential.expires_at is not None and credential.expires_at <= self.config.clock()
        ):
            raise ApiError(401, "Bad credentials")
        ctx.credential = credential
        return credential.bucket

    def _secondary(self, bucket_key: str, request_id: str, resource: str = "core") -> None:
        """The secondary limit, shared by REST and GraphQL as on GitHub."""
        retry_after = self.ratelimiter.secondary_retry_after()
        if retry_after is not None:
            raise ApiError(
                self.ratelimiter.secondary.status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                "try again. If you reach out to GitHub Support for help, please include the "
                f"request ID {request_id}.",
                documentation_url=SECONDARY_DOC,
                headers={
                    "retry-after": str(retry_after),
                    **self._rate_headers(self.ratelimiter.bucket(bucket_key), resource),
                },
            )

    def _spend(self, route: Route, ctx: Ctx, bucket_key: str, request_id: str) -> Bucket:
        """Apply the secondary and primary limits; raise their GitHub-shaped errors."""
        self._secondary(bucket_key, request_id)
        if not route.counts:
            return self.ratelimiter.bucket(bucket_key)
        bucket, allowed = self.ratelimiter.take(bucket_key)
        if not allowed:
            raise ApiError(
                self.ratelimiter.status,
                f"API rate limit exceeded for {_who(ctx)}. If you reach out to GitHub Support "
                f"for help, please include the request ID {request_id}.",
                documentation_url=PRIMARY_DOC,
                headers=self._rate_headers(bucket),
            )
        return bucket

    def _render(self, status: int, body: Any, headers: dict[str, str]) -> Response:
        if body is None:
            return Response(None, status, headers=headers)
        content = json.dumps(body, separators=(",", ":")).encode()
        return Response(
            content, status, headers=headers, media_type="application/json; charset=utf-8"
        )

    async def handle(self, request: Request, route: Route) -> Response:
        version = request.headers.get("x-github-api-version", ser.DEFAULT_API_VERSION)
        if version not in ser.API_VERSIONS:
            self._log(request.scope, 400)
            body = {
                "message": f"API version {version} is not supported.",
                "documentation_url": VERSIONS_DOC,
            }
            return self._render(400, body, {})
        token = ser.api_version.set(version)
        try:
            return await self._handle(request, route, version)
        finally:
            ser.api_version.reset(token)

    async def _handle(self, request: Request, route: Route, version: str) -> Response:
        scope = request.scope
        ctx = Ctx(request=request, sim=self, base=self.base_for(request))
        headers = {
            "server": "github.com",
            "x-github-api-version-selected": version,
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": f"{next(self._request_ids):08X}:SIM",
            "vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        }
        bucket: Bucket | None = None
        bucket_key: str | None = None
        try:
            bucket_key = self._authenticate(request, route, ctx)
            bucket = self._spend(route, ctx, bucket_key, headers["x-github-request-id"])
        except ApiError as exc:
            result = Result(exc.status, exc.body(), exc.headers)
        else:
            cached = self._cached_etag(request, route, ctx, version)
            if cached is not None and _etag_matches(
                request.headers.get("if-none-match"), cached[0]
            ):
                headers.update(cached[1])
                return self._not_modified(request, route, headers, cached[0], bucket_key, bucket)
            result = await run_handler(route.handler, ctx)
        headers.update(self._rate_headers(bucket))
        headers.update(result.headers)
        if request.method != "GET" or result.status != 200:
            self._log(scope, result.status, bucket=bucket_key)
            return self._render(result.status, result.body, headers)
        content = json.dumps(result.body, separators=(",", ":")).encode()
        etag = 'W/"' + hashlib.sha256(content).hexdigest() + '"'
        repo_key = self._etag_key(request, route, ctx, version)
        if repo_key is not None:
            self.etags.put(repo_key[0], repo_key[1], etag, result.headers)
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return self._not_modified(request, route, headers, etag, bucket_key, bucket)
        headers["etag"] = etag
        headers["cache-control"] = CACHE_CONTROL
        self._log(scope, 200, bucket=bucket_key)
        return Response(content, 200, headers=headers, media_type="application/json; charset=utf-8")

    async def _graphql(self, request: Request) -> Response:
        """POST /graphql: auth, the shared secondary limit, query limits, points, execution."""
        scope = request.scope
        if request.method != "POST":
            self._log(scope, 404)
            return self._render(404, ApiError(404, "Not Found").body(), {})
        ctx = Ctx(request=request, sim=self, base=self.base_for(request))
        headers = {
            "server": "github.com",
            "x-github-media-type": "github.v4; format=json",
            "x-github-request-id": f"{next(self._request_ids):08X}:SIM",
        }
        try:
            user_key = self._authenticate(request, _GRAPHQL_ROUTE, ctx)
            key = f"graphql:{user_key}"
            self._secondary(key, headers["x-github-request-id"], "graphql")
        except ApiError as exc:
            self._log(scope, exc.status)
            body = exc.body()
            if exc.status == 401:
                body["documentation_url"] = graphql_api.DOCS
            return self._render(exc.status, body, {**headers, **exc.headers})
        prepared = graphql_api.prepare(await request.body())
        if isinstance(prepared, graphql_api.Refused):
            headers.update(self._rate_headers(self.ratelimiter.bucket(key), "graphql"))
            extra = {"operation": prepared.operation_name, "cost": 0}
            extra["errors"] = prepared.error_types  # type: ignore[assignment]
            self._log(scope, prepared.status, bucket=key, extra=extra)
            return self._render(prepared.status, prepared.body, headers)
        cost = prepared.analysis.cost
        bucket, allowed = self.ratelimiter.take(key, cost)
        headers.update(self._rate_headers(bucket, "graphql"))
        log: dict[str, Any] = {"operation": prepared.operation_name, "cost": cost}
        if not allowed:
            self._log(scope, 200, bucket=key, extra={**log, "errors": ["RATE_LIMIT"]})
            return self._render(200, graphql_api.rate_limited(_who(ctx)), headers)
        budget = graphql_api.Budget(
            limit=bucket.limit,
            remaining=bucket.remaining,
            used=bucket.used,
            reset_iso=datetime.fromtimestamp(bucket.reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        answer, types = graphql_api.run(
            prepared, GraphQLCtx(self.state, ctx.base, ctx.credential), budget
        )
        self._log(scope, 200, bucket=key, extra={**log, "errors": types})
        return self._render(200, answer, headers)

    def _not_modified(
        self,
        request: Request,
        route: Route,
        headers: dict[str, str],
        etag: str,
        bucket_key: str | None,
        bucket: Bucket | None,
    ) -> Response:
        # Authorized conditional requests answered 304 are free on GitHub.
        if route.counts and bucket_key is not None and bucket is not None:
            self.ratelimiter.refund(bucket_key)
        headers.update(self._rate_headers(bucket))
        headers["etag"] = etag
        headers["cache-control"] = CACHE_CONTROL
        self._log(request.scope, 304, not_modified=True, bucket=bucket_key)
        return Response(None, 304, headers=headers)

    def _etag_key(
        self, request: Request, route: Route, ctx: Ctx, version: str
    ) -> tuple[Repo, EtagKey] | None:
        """The repository a GET answer depends on, and the key of that answer."""
        params = request.path_params
        if request.method != "GET" or route.auth != "token" or "repo" not in params:
            return None
        repo = self.state.repos.get(f"{params['owner']}/{params['repo']}".lower())
        if repo is None:
            return None
        key = (request.url.path, request.scope.get("query_string", b""), version, ctx.base)
        return repo, key

    def _cached_etag(
        self, request: Request, route: Route, ctx: Ctx, version: str
    ) -> tuple[str, dict[str, str]] | None:
        if "if-none-match" not in request.headers:
            return None
        found = self._etag_key(request, route, ctx, version)
        if found is None:
            return None
        try:
            ctx.repo()  # the caller must still be allowed to see the repository
        except ApiError:
            return None
        return self.etags.get(*found)


async def _unrouted(ctx: Ctx) -> Result:
    raise AssertionError("POST /graphql has an endpoint of its own")


# GraphQL requests authenticate like REST routes (token or installation token).
_GRAPHQL_ROUTE = Route("POST", GRAPHQL_PATH, _unrouted)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Unknown paths answer like GitHub: a JSON 404, not Starlette's plain text."""
    body = json.dumps(ApiError(404, "Not Found").body()).encode()
    response = Response(body, 404, media_type="application/json; charset=utf-8")
    await response(scope, receive, send)


def _who(ctx: Ctx) -> str:
    credential = ctx.credential
    if credential is not None and credential.installation is not None:
        return f"installation ID {credential.installation.id}"
    if credential is not None and credential.user is not None:
        return f"user ID {credential.user.id}"
    return f"app ID {ctx.app.id}" if ctx.app else "this client"


def _etag_matches(header: str | None, etag: str) -> bool:
    """Weak comparison, as GitHub applies to If-None-Match."""
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def create_app(config: SimulatorConfig | None = None, **seed: Any) -> Simulator:
    """A simulator; keyword arguments override `SeedConfig` fields (repos=, issues=, ...)."""
    config = config or SimulatorConfig()
    if seed:
        base_seed = config.seed or SeedConfig()
        config.seed = SeedConfig(**{**base_seed.__dict__, **seed})
    return Simulator(config)
