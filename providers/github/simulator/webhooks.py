"""Webhook deliveries: GitHub-shaped payloads POSTed in the background, signed, retried.

A mutation must never wait for its webhook (GitHub answers the API call first and delivers
later), so `WebhookDispatcher.submit` only schedules a task on the server's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from providers.github.simulator import serializers as ser
from providers.github.simulator.clock import iso
from providers.github.simulator.ids import node_id
from providers.github.simulator.state import Event, SimState

log = logging.getLogger(__name__)

USER_AGENT = "GitHub-Hookshot/krate-sim"
HOOK_ID = 400_000_001
# A hook's `config.content_type`, as GitHub spells it: "json", or "form" (payload=<JSON>,
# which GitHub's REST API picks when a hook is created without one).
CONTENT_TYPES = ("json", "form")


@dataclass
class WebhookConfig:
    url: str | None = None
    secret: str | None = None
    max_attempts: int = 4
    backoff_s: float = 0.5  # doubled after each failed attempt
    timeout_s: float = 5.0
    content_type: str = "json"

    def __post_init__(self) -> None:
        if self.content_type not in CONTENT_TYPES:
            raise ValueError(f"content_type must be one of {CONTENT_TYPES}")


@dataclass
class Delivery:
    id: str
    event: str
    action: str
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    payload: dict[str, Any] = field(default_factory=dict, repr=False)


def organization(login: str, ident: int, base: str) -> ser.Json:
    api = f"{base}/orgs/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("org", ident),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{base}/avatars/u/{ident}?v=4",
        "description": None,
    }


def build_payload(event: Event, state: SimState, base: str) -> dict[str, Any]:
    """The body GitHub would send for `event`; webhooks do not follow the API version of the
    request that caused them."""
    token = ser.api_version.set(ser.DEFAULT_API_VERSION)
    try:
        return _payload(event, state, base)
    finally:
        ser.api_version.reset(token)


def _payload(event: Event, state: SimState, base: str) -> dict[str, Any]:
    repo = event.repo
    payload: dict[str, Any] = {"action": event.action}
    if event.name == "pull_request" and event.issue is not None:
        payload["number"] = event.issue.number
        payload["pull_request"] = ser.pull_request(event.issue, repo, base)
    elif event.issue is not None:
        payload["issue"] = ser.issue(event.issue, repo, base)
    if event.comment is not None:
        payload["comment"] = ser.issue_comment(event.comment, repo, base, event.issue)
    if event.run is not None:
        run = ser.workflow_run(event.run, repo, base)
        payload["workflow_run"] = run
        payload["workflow"] = {
            "id": event.run.workflow_id,
            "node_id": node_id("workflow", event.run.workflow_id),
            "name": event.run.name,
            "path": event.run.path,
            "state": "active",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "url": run["workflow_url"],
            "html_url": f"{base}/{repo.full_name}/blob/{repo.default_branch}/{event.run.path}",
            "badge_url": f"{base}/{repo.full_name}/workflows/{event.run.name}/badge.svg",
        }
    if event.label is not None:
        payload["label"] = ser.label(event.label, repo, base)
    if event.assignee is not None:
        payload["assignee"] = ser.user(event.assignee, base)
    if event.changes is not None:
        payload["changes"] = event.changes
    payload["repository"] = ser.repository(repo, base, permissions=False)
    if repo.owner.type == "Organization":
        payload["organization"] = organization(repo.owner.login, repo.owner.id, base)
    payload["sender"] = ser.user(event.sender, base)
    installation = state.installation_for(repo)
    if installation is not None:
        payload["installation"] = {
            "id": installation.id,
            "node_id": node_id("installation", installation.id),
        }
    return payload


def encode_body(payload: dict[str, Any], content_type: str) -> tuple[bytes, str]:
    """The body and Content-Type GitHub sends for a hook of `content_type`; the signature is
    computed over these bytes, so for "form" over the form encoding."""
    document = json.dumps(payload, separators=(",", ":"))
    if content_type == "form":
        return urlencode({"payload": document}).encode(), "application/x-www-form-urlencoded"
    return document.encode(), "application/json"


def signature(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


class WebhookDispatcher:
    def __init__(
        self,
        config: WebhookConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or WebhookConfig()
        self.transport = transport
        self.deliveries: deque[Delivery] = deque(maxlen=10_000)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def configure(self, **changes: Any) -> WebhookConfig:
        self.config = WebhookConfig(**{**asdict(self.config), **changes})
        return self.config

    def submit(self, event: str, action: str, payload: dict[str, Any]) -> Delivery | None:
        """Schedule a delivery; returns None when no webhook URL is configured."""
        if not self.config.url:
            return None
        delivery = Delivery(str(uuid.uuid4()), event, action, payload=payload)
        self.deliveries.append(delivery)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._spawn(delivery)
        elif self.loop is not None and self.loop.is_running():
            # A mutation made from another thread (a test driving the in-process state).
            self.loop.call_soon_threadsafe(self._spawn, delivery)
        else:
            delivery.error = "no running event loop"
            log.warning("webhook %s %s not delivered: no event loop", event, delivery.id)
        return delivery

    def _spawn(self, delivery: Delivery) -> None:
        """Start the delivery on the running loop; keep a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, wait_s: float = 30.0) -> None:
        """Wait until every scheduled delivery has finished (delivered or given up)."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=wait_s)

    def pending(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    async def _deliver(self, delivery: Delivery) -> None:
        cfg = self.config
        if not cfg.url:
            return
        body, media_type = encode_body(delivery.payload, cfg.content_type)
        headers = {
            "Content-Type": media_type,
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.id,
            "X-GitHub-Hook-ID": str(HOOK_ID),
        }
        installation = delivery.payload.get("installation")
        if isinstance(installation, dict):
            headers["X-GitHub-Hook-Installation-Target-Type"] = "integration"
            headers["X-GitHub-Hook-Installation-Target-ID"] = str(installation["id"])
        if cfg.secret:
            headers["X-Hub-Signature"] = signature(cfg.secret, body, "sha1")
            headers["X-Hub-Signature-256"] = signature(cfg.secret, body)
        delay = cfg.backoff_s
        async with httpx.AsyncClient(transport=self.transport, timeout=cfg.timeout_s) as client:
            for attempt in range(1, cfg.max_attempts + 1):
                delivery.attempts = attempt
                try:
                    response = await client.post(cfg.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    delivery.error = f"{type(exc).__name__}: {exc}"
                    delivery.status = None
                else:
                    delivery.status = response.status_code
                    if response.is_success:
                        delivery.delivered, delivery.error = True, None
                        return
                    delivery.error = f"HTTP {response.status_code}"
                log.warning(
                    "webhook %s attempt %d/%d failed: %s",
                    delivery.id,
                    attempt,
                    cfg.max_attempts,
                    delivery.error,
                )
                if attempt < cfg.max_attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        log.error("webhook %s (%s) given up: %s", delivery.id, delivery.event, delivery.error)
