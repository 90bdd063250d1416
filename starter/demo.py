"""`krate-sync dev --demo`: a simulated GitHub with seeded data, bound and syncing.

The simulator runs as one more child of the dev stack and sends signed webhooks to the ingress.
Once the stack is ready, the demo writes the Secrets the provider references, applies a
provider, a sync policy and one binding per seeded repository (validated like `apply`), and
starts their sync workflows, so the Web UI shows live backfills straight away.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from resources.issues import errors, render_issues
from resources.loader import manifest_from_dict
from settings import Settings
from starter.devstack import ChildSpec, OnReady, StackInfo

ORG = "demo"
NAMESPACE = f"krate-org-{ORG}"
PROVIDER = "github-demo"
TOKEN_SECRET = "github-demo-token"
WEBHOOK_SECRET = "github-demo-webhook"
# Local demo credentials: the simulator accepts exactly these, nothing else does.
SIMULATOR_TOKEN = "sim-demo-token"
SIMULATOR_WEBHOOK_SECRET = "demo-webhook-secret"
SEED = {
    "--seed-owners": "krate-demo",
    "--seed-repos": "3",
    "--seed-issues": "400",
    "--seed-pulls": "120",
    "--seed-runs": "40",
}
SIMULATOR_READY_TIMEOUT = 60.0


def simulator_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.demo_simulator_port}"


def demo_extensions(settings: Settings) -> tuple[list[ChildSpec], list[OnReady]]:
    """The simulator child and the callback that binds it once the stack is ready."""
    ingress_host = (
        settings.ingress_host if settings.ingress_host not in ("0.0.0.0", "::") else "127.0.0.1"
    )
    webhook_url = f"http://{ingress_host}:{settings.ingress_port}/webhooks/{ORG}/{PROVIDER}"
    argv = [
        sys.executable,
        "-m",
        "providers.github.simulator",
        "--port",
        str(settings.demo_simulator_port),
        "--token",
        f"{SIMULATOR_TOKEN}=krate-bot",
        "--webhook-url",
        webhook_url,
        "--webhook-secret",
        SIMULATOR_WEBHOOK_SECRET,
    ]
    for flag, value in SEED.items():
        argv += [flag, value]
    child = ChildSpec(
        "simulator",
        argv,
        port=settings.demo_simulator_port,
        setting="KRATE_DEMO_SIMULATOR_PORT",
    )
    return [child], [bind_demo]


def write_secret(secrets_dir: Path, name: str, values: dict[str, str]) -> None:
    """A Secret in the directory layout activities and the ingress read: <ns>/<name>/<key>."""
    directory = secrets_dir / NAMESPACE / name
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        path = directory / key
        path.write_text(value)
        path.chmod(0o600)


def demo_manifests(base_url: str, repositories: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The provider, its sync policy and one binding per repository."""
    meta = {"namespace": NAMESPACE, "labels": {"krate.a5c.ai/org": ORG}}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "krate.a5c.ai/v1alpha1",
            "kind": "ExternalBackendProvider",
            "metadata": {"name": PROVIDER, **meta},
            "spec": {
                "organizationRef": ORG,
                "providerType": "github",
                "displayName": "Simulated GitHub (demo)",
                "baseUrl": base_url,
                "apiBaseUrl": base_url,
                "authRef": {"mode": "token", "secretRef": {"name": TOKEN_SECRET}},
                "capabilities": {"issueTracking": True, "cicd": True, "gitForge": True},
                "webhook": {
                    "enabled": True,
                    "secretRef": {"name": WEBHOOK_SECRET, "key": "secret"},
                },
            },
        },
        {
            "apiVersion": "krate.a5c.ai/v1alpha1",
            "kind": "ExternalBackendSyncPolicy",
            "metadata": {"name": f"{PROVIDER}-default", **meta},
            "spec": {
                "organizationRef": ORG,
                "providerRef": PROVIDER,
                "webhookFirst": True,
                "backfill": {"interval": "5m", "fullResyncInterval": "24h"},
                "writePolicy": {
                    "defaultMode": "reviewed-write",
                    "agentWriteRequiresApproval": True,
                },
                "conflictPolicy": {"defaultResolution": "manual"},
            },
        },
    ]
    for owner, repository in repositories:
        docs.append(
            {
                "apiVersion": "krate.a5c.ai/v1alpha1",
                "kind": "ExternalBackendBinding",
                "metadata": {"name": f"{PROVIDER}-{repository}", **meta},
                "spec": {
                    "organizationRef": ORG,
                    "providerRef": PROVIDER,
                    "targetRef": {"kind": "Repository", "name": repository},
                    "externalRef": {"owner": owner, "repository": repository},
                    "interfaces": {
                        "issueTracking": {"enabled": True, "mode": "bidirectional"},
                        "cicd": {"enabled": True, "mode": "external-owned"},
                        "gitForge": {"enabled": True, "mode": "bidirectional"},
                    },
                },
            }
        )
    return docs


async def seeded_repositories(base_url: str) -> list[tuple[str, str]]:
    """Wait for the simulator, then list the repositories it seeded (as GitHub would)."""
    deadline = time.monotonic() + SIMULATOR_READY_TIMEOUT
    headers = {
        "Authorization": f"Bearer {SIMULATOR_TOKEN}",
        "Accept": "application/vnd.github+json",
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
        while True:
            try:
                response = await http.get(
                    "/orgs/krate-demo/repos", params={"per_page": 100}, headers=headers
                )
                if response.status_code == 200:
                    return [(r["owner"]["login"], r["name"]) for r in response.json()]
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulated GitHub at {base_url} did not answer in time")
            await asyncio.sleep(0.25)


async def bind_demo(info: StackInfo) -> None:
    """Write the demo Secrets, apply the demo manifests and start their sync workflows."""
    from providers.registry import load_registry
    from resources.validation import validate
    from starter.reconcile import ensure_binding_workflow, stored_config_docs, stored_plans
    from store.db import make_engine, session_scope
    from store.resources import apply_resource

    settings = info.settings
    base_url = simulator_url(settings)
    repositories = await seeded_repositories(base_url)
    secrets_dir = settings.secrets_dir.resolve()
    write_secret(secrets_dir, TOKEN_SECRET, {"token": SIMULATOR_TOKEN})
    write_secret(secrets_dir, WEBHOOK_SECRET, {"secret": SIMULATOR_WEBHOOK_SECRET})

    manifests = [
        manifest_from_dict(doc, source="demo") for doc in demo_manifests(base_url, repositories)
    ]
    problems = errors(validate(manifests, load_registry(settings.registry_dirs)))
    if problems:
        raise RuntimeError("the demo manifests do not validate:\n" + render_issues(problems))
    assert settings.database_url is not None

    def store() -> list[Any]:
        engine = make_engine(settings.database_url or "")
        try:
            with session_scope(engine) as session:
                for manifest in manifests:
                    apply_resource(session, manifest.raw, actor="krate-sync dev --demo")
                return stored_plans(stored_config_docs(session))
        finally:
            engine.dispose()

    plans = await asyncio.to_thread(store)
    for plan in plans:
        if plan.config.binding.org == ORG:
            await ensure_binding_workflow(info.client, settings.task_queue, plan)
