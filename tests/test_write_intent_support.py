"""Shared pieces of the write-intent tests: a simulated GitHub over a socket, a provider, binding
and sync policy stored in Postgres pointing at it, the token Secret on disk, and readers of the
simulator's comments and request log (over HTTP, as a person would check GitHub)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle

from activities.provider_factory import ProviderFactory
from activities.writes import WriteActivities
from activities.writes_models import IntentStatus, marker
from providers.github.simulator import SeedConfig, SimulatorConfig
from providers.github.simulator.app import Simulator
from providers.github.simulator.faults import FaultConfig
from store.db import session_scope
from store.resources import apply_resource
from workflows.write_intent import WriteIntentWorkflow

ORG = "acme"
NAMESPACE = f"krate-org-{ORG}"
PROVIDER = "github-acme"
BINDING = "github-acme-repo"
SECRET = "github-token"
OWNER = "acme-gh"
SEED = SeedConfig(
    seed=11,
    owners=[OWNER],
    repos=1,
    issues=4,
    pulls=2,
    comments=1,
    reviews=0,
    review_comments=0,
    runs=2,
    jobs=1,
    until=datetime(2026, 11, 1, tzinfo=UTC),
)
# A credential value nobody else uses: the history scan looks for exactly this.
TOKEN = f"krate-intent-secret-{uuid.uuid4().hex}"


def simulator(latency_ms: float = 0.0) -> Simulator:
    return Simulator(
        SimulatorConfig(
            seed=SEED,
            tokens={TOKEN: "krate-bot"},
            faults=FaultConfig(latency_ms=latency_ms),
        )
    )


def write_secret(secrets_dir: Path) -> None:
    path = secrets_dir / NAMESPACE / SECRET
    path.mkdir(parents=True, exist_ok=True)
    (path / "token").write_text(TOKEN + "\n")


def repository_name(base_url: str) -> str:
    answer = httpx.get(f"{base_url}/_sim/api/orgs/{OWNER}/repos", timeout=10)
    answer.raise_for_status()
    return str(answer.json()[0]["name"])


def first_issue(base_url: str, repo: str) -> int:
    answer = httpx.get(
        f"{base_url}/_sim/api/repos/{OWNER}/{repo}/issues",
        params={"state": "all", "per_page": 100},
        timeout=10,
    )
    answer.raise_for_status()
    return min(int(i["number"]) for i in answer.json() if "pull_request" not in i)


def apply_config(
    engine: Engine,
    base_url: str,
    repo: str,
    *,
    write_mode: str = "reviewed-write",
    issue_mode: str = "bidirectional",
    cicd_mode: str = "external-owned",
    forge_mode: str = "mirrored",
) -> None:
    """Provider, binding and sync policy for the simulator, as `krate-sync apply` stores them."""
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "krate.a5c.ai/v1alpha1",
            "kind": "ExternalBackendProvider",
            "metadata": {"name": PROVIDER, "namespace": NAMESPACE},
            "spec": {
                "organizationRef": ORG,
                "providerType": "github",
                "apiBaseUrl": base_url,
                "authRef": {"mode": "token", "secretRef": {"name": SECRET}},
                "capabilities": {"issueTracking": True, "cicd": True, "gitForge": True},
                "webhook": {"enabled": False},
            },
        },
        {
            "apiVersion": "krate.a5c.ai/v1alpha1",
            "kind": "ExternalBackendBinding",
            "metadata": {"name": BINDING, "namespace": NAMESPACE},
            "spec": {
                "organizationRef": ORG,
                "providerRef": PROVIDER,
                "targetRef": {"kind": "Repository", "name": repo},
                "externalRef": {"owner": OWNER, "repository": repo},
                "interfaces": {
                    "issueTracking": {"enabled": True, "mode": issue_mode},
                    "cicd": {"enabled": True, "mode": cicd_mode},
                    "gitForge": {"enabled": True, "mode": forge_mode},
                },
            },
        },
        {
            "apiVersion": "krate.a5c.ai/v1alpha1",
            "kind": "ExternalBackendSyncPolicy",
            "metadata": {"name": f"{PROVIDER}-policy", "namespace": NAMESPACE},
            "spec": {
                "organizationRef": ORG,
                "providerRef": PROVIDER,
                "writePolicy": {"defaultMode": write_mode, "agentWriteRequiresApproval": True},
            },
        },
    ]
    with session_scope(engine) as session:
        for document in documents:
            apply_resource(session, document)


def activities(engine: Engine, secrets_dir: Path) -> list[Callable[..., Any]]:
    acts = WriteActivities(lambda: engine, ProviderFactory(secrets_dir))
    return [
        acts.prepare_write,
        acts.execute_write,
        acts.confirm_write,
        acts.record_intent,
        acts.write_rate_limit,
    ]


def comments_with_marker(base_url: str, repo: str, issue: int, key: str) -> int:
    """Comments on the issue carrying the intent's marker, every page read."""
    found = 0
    url: str | None = f"{base_url}/_sim/api/repos/{OWNER}/{repo}/issues/{issue}/comments"
    params: dict[str, Any] | None = {"per_page": 100}
    while url:
        answer = httpx.get(url, params=params, timeout=10)
        answer.raise_for_status()
        found += sum(1 for c in answer.json() if marker(key) in (c.get("body") or ""))
        url = answer.links.get("next", {}).get("url")
        params = None
    return found


def requests_log(base_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base_url}/_sim/requests", timeout=10)
    answer.raise_for_status()
    body = answer.json()
    return list(body["requests"] if isinstance(body, dict) else body)


def handle_of(
    client: Client, workflow_id: str
) -> WorkflowHandle[WriteIntentWorkflow, IntentStatus]:
    return client.get_workflow_handle_for(WriteIntentWorkflow.run, workflow_id)


def control(base_url: str, path: str, body: dict[str, Any]) -> None:
    """PUT to the simulator's control API (`/_sim/faults`, `/_sim/ratelimit`)."""
    httpx.put(f"{base_url}/_sim/{path}", json=body, timeout=10).raise_for_status()
