"""Shared pieces of the webhook tests: applied config, a signed GitHub delivery, the ingress
app wired to a test Temporal client, and a worker running the binding workflow with the real
delivery activity. (No tests in this module.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from activities.backfill_models import BackfillPageInput, BackfillPageResult
from activities.deliveries import DeliveryActivities, FaultHook
from ingress.app import create_app
from ingress.auth import TokenStore, parse_tokens
from ingress.runtime import Runtime
from ingress.signaler import WorkflowSignaler
from providers.webhooks import sign_github
from settings import Settings
from store.db import make_engine, session_scope
from store.models.aggregated import WebhookDelivery
from store.resources import apply_resource
from tests.helpers.paths import REPO_ROOT
from tests.helpers.temporal import new_worker
from workflows.binding_sync import BindingSyncWorkflow

ORG = "a5c"
NAMESPACE = "krate-org-a5c"
PROVIDER = "github-a5c"
SECRET = "It's a Secret to Everybody"
PREVIOUS_SECRET = "the old secret"
EXAMPLES = REPO_ROOT / "tests/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
TOKENS = {"viewer-token": "viewer", "operator-token": "operator", "admin-token": "admin"}


def examples() -> dict[str, list[dict[str, Any]]]:
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}


def provider_manifest(previous_valid_until: str | None = None) -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "secretRef": {"name": "github-webhook", "key": "secret"},
        "previousSecretRef": {"name": "github-webhook-old", "key": "secret"},
    }
    if previous_valid_until:
        webhook["previousSecretValidUntil"] = previous_valid_until
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalBackendProvider",
        "metadata": {"name": PROVIDER, "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerType": "github",
            "apiBaseUrl": "https://api.github.com",
            "authRef": {"secretRef": {"name": "github-app-a5c"}},
            "capabilities": {"issueTracking": True, "cicd": True, "gitForge": True},
            "webhook": webhook,
        },
    }


def binding_manifest(owner: str, repository: str, name: str | None = None) -> dict[str, Any]:
    slug = f"{owner}-{repository}".lower().replace("_", "-").replace(".", "-")
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalBackendBinding",
        # A fresh name per test: the dev server outlives tests, and so do their workflows.
        "metadata": {
            "name": name or f"gh-{slug}"[:50] + "-" + uuid.uuid4().hex[:8],
            "namespace": NAMESPACE,
        },
        "spec": {
            "organizationRef": ORG,
            "providerRef": PROVIDER,
            "targetRef": {"kind": "Repository", "name": repository.lower()},
            "externalRef": {"owner": owner, "repository": repository},
            "interfaces": {
                "issueTracking": {"enabled": True, "mode": "bidirectional"},
                "cicd": {"enabled": True, "mode": "external-owned"},
                "gitForge": {"enabled": True, "mode": "bidirectional"},
            },
        },
    }


def apply_all(database_url: str, manifests: list[dict[str, Any]]) -> None:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            for manifest in manifests:
                apply_resource(session, manifest)
    finally:
        engine.dispose()


def write_secrets(secrets_dir: Path) -> None:
    for name, value in (("github-webhook", SECRET), ("github-webhook-old", PREVIOUS_SECRET)):
        path = secrets_dir / NAMESPACE / name / "secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")


def signed(
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = sign_github(body, secret, event=event, delivery_id=delivery_id or str(uuid.uuid4()))
    headers["User-Agent"] = "GitHub-Hookshot/test"
    return body, headers


@dataclass
class Ingress:
    http: httpx.AsyncClient
    runtime: Runtime
    engine: Engine
    settings: Settings
    app: Any

    async def post(
        self, event: str, payload: dict[str, Any] | bytes, **kwargs: Any
    ) -> httpx.Response:
        body, headers = signed(event, payload, **kwargs)
        return await self.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=headers)

    def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        from activities.deliveries import find_delivery

        with session_scope(self.engine) as session:
            return find_delivery(session, ORG, PROVIDER, delivery_id)

    def phases(self) -> dict[str, str | None]:
        from sqlmodel import select

        with session_scope(self.engine) as session:
            return {r.delivery_id: r.phase for r in session.exec(select(WebhookDelivery))}


@asynccontextmanager
async def ingress(
    database_url: str,
    tmp_path: Path,
    *,
    client: Client | None,
    task_queue: str = "unused",
    temporal_address: str = "127.0.0.1:1",
    tokens: TokenStore | None = None,
    signaler: WorkflowSignaler | None = None,
    **runtime_options: Any,
) -> AsyncIterator[Ingress]:
    """The real ingress app over ASGI, its database the test one; `client` None makes a
    signaler that connects to `temporal_address` (a closed port: Temporal down).
    `runtime_options` tune the Runtime (cache TTL, commit linger, signal window...)."""
    secrets_dir = tmp_path / "secrets"
    write_secrets(secrets_dir)
    settings = Settings(
        database_url=database_url,
        secrets_dir=secrets_dir,
        task_queue=task_queue,
        temporal_address=temporal_address,
    )
    app = create_app(settings)
    engine = make_engine(database_url)
    rt = Runtime(
        settings=settings,
        engine=engine,
        signaler=signaler or WorkflowSignaler(settings, client=client),
        tokens=tokens
        or parse_tokens(
            {"tokens": [{"name": role, "token": t, "role": role} for t, role in TOKENS.items()]}
        ),
        start_sweeper=False,
        **runtime_options,
    )
    app.state.krate_runtime = rt
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as http:
        try:
            yield Ingress(http, rt, engine, settings, app)
        finally:
            await rt.close()


@activity.defn(name="backfill_page")
async def idle_backfill(input: BackfillPageInput) -> BackfillPageResult:
    """Backfill is not under test here: every scope is empty."""
    return BackfillPageResult(cursor=input.cursor, done=True)


@asynccontextmanager
async def sync_worker(
    client: Client, database_url: str, *, fault: FaultHook | None = None
) -> AsyncIterator[tuple[str, DeliveryActivities]]:
    """A worker with the binding workflow and the real delivery activity on its own queue."""
    engine = make_engine(database_url)
    deliveries = DeliveryActivities(engine, fault=fault)
    worker = new_worker(
        client,
        BindingSyncWorkflow,
        activities=[deliveries.process_deliveries, idle_backfill],
    )
    try:
        async with worker:
            yield worker.task_queue, deliveries
    finally:
        engine.dispose()


async def eventually(
    probe: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    within: float = 30.0,
    message: str = "condition never held",
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.1)


def repositories_in(payloads: Iterator[dict[str, Any]]) -> set[tuple[str, str]]:
    found = set()
    for payload in payloads:
        full = (payload.get("repository") or {}).get("full_name")
        if isinstance(full, str) and "/" in full:
            owner, name = full.split("/", 1)
            found.add((owner, name))
    return found
