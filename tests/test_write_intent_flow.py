"""Write intents end to end: the real Temporal dev server, Postgres, the GitHub simulator over a
socket, and `krate-sync intents` (plus the real `temporal` command line for Updates)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.writes_models import SOURCE_AGENT, DecisionInput, IntentStatus
from ingress.app import create_app
from ingress.auth import parse_tokens
from ingress.runtime import Runtime
from ingress.signaler import WorkflowSignaler
from providers.github.simulator import RunningSimulator
from providers.github.simulator.server import start_in_thread
from settings import Settings
from starter import binaries
from starter.intents import (
    CreatedWriteIntent,
    IntentRejected,
    WriteIntentRequest,
    create_write_intent,
    intent_for_local_edit,
    start_write_intent,
    submit_write_intent,
)
from store.audit import list_audit
from store.db import make_engine, session_scope
from store.models.aggregated import SyncState, WriteIntent
from tests.helpers.cli import run_cli
from tests.helpers.temporal import new_worker
from tests.test_write_intent_replay import HISTORY, replay_write_intent
from tests.test_write_intent_support import (
    BINDING,
    NAMESPACE,
    ORG,
    OWNER,
    PROVIDER,
    TOKEN,
    activities,
    apply_config,
    comments_with_marker,
    control,
    first_issue,
    handle_of,
    repository_name,
    requests_log,
    simulator,
    write_secret,
)
from workflows.write_intent import WriteIntentWorkflow


class Stack:
    def __init__(
        self,
        env: WorkflowEnvironment,
        engine: Engine,
        sim: RunningSimulator,
        repo: str,
        issue: int,
        worker: Worker,
        cli_env: dict[str, str],
    ) -> None:
        self.env = env
        self.client: Client = env.client
        self.engine = engine
        self.sim = sim
        self.base_url = sim.base_url
        self.repo = repo
        self.issue = issue
        self.worker = worker
        self.cli_env = cli_env

    def create(
        self, *, actor: str = "agent:bot", agent: bool = True, body: str = "hello"
    ) -> CreatedWriteIntent:
        with session_scope(self.engine) as session:
            return create_write_intent(
                session,
                WriteIntentRequest(
                    org=ORG,
                    binding=BINDING,
                    operation="createComment",
                    parameters={"issue": self.issue, "body": body},
                    actor=actor,
                    source_kind=SOURCE_AGENT if agent else "UserAction",
                ),
            )

    async def start(self, created: CreatedWriteIntent) -> None:
        await start_write_intent(self.client, self.worker.task_queue, created)

    async def wait_phase(self, workflow_id: str, phase: str, within: float = 60) -> IntentStatus:
        handle = handle_of(self.client, workflow_id)
        deadline = time.monotonic() + within
        while True:
            status = await handle.query(WriteIntentWorkflow.status)
            if status.phase == phase:
                return status
            assert time.monotonic() < deadline, f"still {status.phase}, not {phase}"
            await asyncio.sleep(0.1)

    def row(self, name: str) -> WriteIntent:
        with session_scope(self.engine) as session:
            found = session.exec(select(WriteIntent).where(WriteIntent.name == name)).one()
            session.expunge(found)
            return found

    def audit_actions(self, name: str) -> list[str]:
        with session_scope(self.engine) as session:
            entries = list_audit(session, subject_kind="ExternalWriteIntent", subject_name=name)
            return [e.action for e in reversed(entries)]

    async def cli(self, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
        return await asyncio.to_thread(run_cli, monkeypatch, *args, env=self.cli_env)


@pytest.fixture
def running_simulator() -> Iterator[RunningSimulator]:
    running = start_in_thread(simulator())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def stack(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    running_simulator: RunningSimulator,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    engine = make_engine(clean_database)
    write_secret(tmp_path)
    repo = repository_name(running_simulator.base_url)
    apply_config(engine, running_simulator.base_url, repo)
    issue = first_issue(running_simulator.base_url, repo)
    worker = new_worker(
        dev_server_env.client, WriteIntentWorkflow, activities=activities(engine, tmp_path)
    )
    cli_env = {
        "KRATE_DATABASE_URL": clean_database,
        "KRATE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "KRATE_TEMPORAL_NAMESPACE": dev_server_env.client.namespace,
        "KRATE_TASK_QUEUE": worker.task_queue,
        "KRATE_SECRETS_DIR": str(tmp_path),
    }
    async with worker:
        yield Stack(dev_server_env, engine, running_simulator, repo, issue, worker, cli_env)
    engine.dispose()


async def test_cli_approval_flow_refuses_self_approval_and_writes_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await stack.cli(
        monkeypatch,
        "intents", "create", "--binding", BINDING, "--operation", "createComment",
        "--issue", str(stack.issue), "--body", "LGTM from the agent",
        "--actor", "agent:bot", "--agent", "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    manifest = json.loads(created.stdout)
    name = manifest["metadata"]["name"]
    spec = manifest["spec"]
    assert spec["requestDigest"].startswith("sha256:")
    assert spec["idempotencyKey"].startswith(f"{ORG}:issue-{stack.issue}:create-comment:")
    assert spec["source"] == {"kind": "AgentAction", "actor": "agent:bot"}
    assert spec["approvalPolicy"]["required"] is True
    assert spec["nativeTarget"] == {
        "owner": OWNER,
        "repository": stack.repo,
        "issueNumber": stack.issue,
    }
    workflow_id = f"write/{ORG}/{name}"
    await stack.wait_phase(workflow_id, "AwaitingApproval")

    own = await stack.cli(monkeypatch, "intents", "approve", name, "--actor", "agent:bot")
    assert own.code == 1
    assert "may not approve" in own.stderr
    assert (
        comments_with_marker(stack.base_url, stack.repo, stack.issue, spec["idempotencyKey"]) == 0
    )

    listed = await stack.cli(monkeypatch, "intents", "list", "--phase", "AwaitingApproval")
    assert name in listed.stdout

    approved = await stack.cli(
        monkeypatch, "intents", "approve", name, "--actor", "user:alice", "--reason", "fine"
    )
    assert approved.code == 0, approved.stderr
    result = await handle_of(stack.client, workflow_id).result()
    assert result.phase == "Succeeded"
    assert result.decided_by == "user:alice"
    assert result.response is not None
    assert result.response.native_url
    assert (
        comments_with_marker(stack.base_url, stack.repo, stack.issue, spec["idempotencyKey"]) == 1
    )

    shown = await stack.cli(monkeypatch, "intents", "show", name, "-o", "json")
    doc = json.loads(shown.stdout)
    assert doc["status"]["phase"] == "Succeeded"
    assert doc["status"]["approval"]["decidedBy"] == "user:alice"
    assert doc["status"]["response"]["nativeUrl"] == result.response.native_url
    assert "workflowInput" not in doc["status"]
    assert stack.audit_actions(name) == [
        "intent.created",
        "intent.pending",
        "intent.awaiting-approval",
        "intent.approved",
        "intent.executing",
        "intent.written",
        "intent.succeeded",
    ]
    again = await stack.cli(monkeypatch, "intents", "approve", name, "--actor", "user:carol")
    assert again.code == 1
    assert "unknown or finished" in again.stderr
    history = await handle_of(stack.client, workflow_id).fetch_history()
    await replay_write_intent(history)  # the code that ran it replays it deterministically
    if os.environ.get("KRATE_RECORD_HISTORIES"):  # refresh the committed history
        HISTORY.write_text(history.to_json())


async def test_approval_through_temporal_workflow_update(stack: Stack) -> None:
    created = await submit_write_intent(
        stack.engine,
        stack.client,
        stack.worker.task_queue,
        WriteIntentRequest(
            org=ORG,
            binding=BINDING,
            operation="createComment",
            parameters={"issue": stack.issue, "body": "approved from the temporal CLI"},
            actor="agent:bot",
            source_kind=SOURCE_AGENT,
        ),
    )
    await stack.wait_phase(created.workflow_id, "AwaitingApproval")
    address = stack.client.service_client.config.target_host

    def update(actor: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(binaries.temporal_cli()), "workflow", "update", "execute",
                "--address", address, "--namespace", stack.client.namespace,
                "--workflow-id", created.workflow_id,
                "--name", "approve", "--input", json.dumps({"actor": actor}),
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    refused = await asyncio.to_thread(update, "agent:bot")
    assert refused.returncode != 0
    assert "may not approve" in refused.stdout + refused.stderr
    accepted = await asyncio.to_thread(update, "user:bob")
    assert accepted.returncode == 0, accepted.stderr
    result = await handle_of(stack.client, created.workflow_id).result()
    assert result.phase == "Succeeded"
    assert result.decided_by == "user:bob"
    key = created.input.idempotency_key
    assert comments_with_marker(stack.base_url, stack.repo, stack.issue, key) == 1
    attributes = (await handle_of(stack.client, created.workflow_id).describe()).search_attributes
    assert attributes["KratePhase"] == ["Succeeded"]
    assert attributes["KrateOrg"] == [ORG]
    assert attributes["KrateProvider"] == [PROVIDER]
    assert attributes["KrateBinding"] == [BINDING]
    assert attributes["KrateInterface"] == ["issueTracking"]


async def test_reject_and_cancel_write_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected, cancelled = stack.create(body="no"), stack.create(body="never mind")
    for created in (rejected, cancelled):
        await stack.start(created)
        await stack.wait_phase(created.workflow_id, "AwaitingApproval")
    own = await stack.cli(monkeypatch, "intents", "reject", rejected.name, "--actor", "agent:bot")
    assert own.code == 1
    answer = await stack.cli(
        monkeypatch, "intents", "reject", rejected.name, "--actor", "user:alice",
        "--reason", "off topic",
    )  # fmt: skip
    assert answer.code == 0, answer.stderr
    answer = await stack.cli(
        monkeypatch, "intents", "cancel", cancelled.name, "--actor", "agent:bot"
    )
    assert answer.code == 0, answer.stderr
    assert (await handle_of(stack.client, rejected.workflow_id).result()).phase == "Rejected"
    assert (await handle_of(stack.client, cancelled.workflow_id).result()).phase == "Cancelled"
    for created in (rejected, cancelled):
        key = created.input.idempotency_key
        assert comments_with_marker(stack.base_url, stack.repo, stack.issue, key) == 0
    assert stack.row(rejected.name).phase == "Rejected"
    assert stack.row(cancelled.name).phase == "Cancelled"
    assert stack.audit_actions(rejected.name)[-1] == "intent.rejected"
    assert stack.audit_actions(cancelled.name)[-1] == "intent.cancelled"
    late = await stack.cli(monkeypatch, "intents", "cancel", cancelled.name, "--actor", "x:y")
    assert late.code == 1


async def test_intent_waits_while_the_binding_is_rate_limited(stack: Stack) -> None:
    until = datetime.now(UTC) + timedelta(seconds=4)
    with session_scope(stack.engine) as session:
        session.add(
            SyncState(
                namespace=NAMESPACE,
                name=f"{BINDING}-issuetracking-issue",
                org=ORG,
                provider_ref=PROVIDER,
                binding_ref=BINDING,
                interface="issueTracking",
                resource_kind="Issue",
                phase="RateLimited",
                status_extra={"rateLimitedUntil": until.isoformat()},
            )
        )
    created = stack.create(actor="user:alice", agent=False)
    await stack.start(created)
    handle = handle_of(stack.client, created.workflow_id)
    await stack.wait_phase(created.workflow_id, "AwaitingApproval")
    await handle.execute_update(WriteIntentWorkflow.approve, DecisionInput(actor="user:bob"))
    status = await stack.wait_phase(created.workflow_id, "Approved")
    deadline = time.monotonic() + 10
    while status.queued_until is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = await handle.query(WriteIntentWorkflow.status)
    assert status.queued_until is not None
    # The row follows once the step's record activity has run (the query can be ahead of it).
    deadline = time.monotonic() + 10
    while stack.row(created.name).status_extra.get("queuedUntil") is None:
        assert time.monotonic() < deadline, "queuedUntil never reached the intent's row"
        await asyncio.sleep(0.1)
    posts = [r for r in requests_log(stack.base_url) if r["method"] == "POST"]
    assert posts == []
    result = await handle.result()
    assert result.phase == "Succeeded"
    assert datetime.now(UTC) >= until
    assert "intent.queued" in stack.audit_actions(created.name)
    key = created.input.idempotency_key
    assert comments_with_marker(stack.base_url, stack.repo, stack.issue, key) == 1


async def test_provider_rate_limit_queues_the_write_until_the_reset(stack: Stack) -> None:
    created = stack.create(actor="user:alice", agent=False)
    control(stack.base_url, "ratelimit", {"remaining": 0, "reset_in": 3})
    await stack.start(created)
    handle = handle_of(stack.client, created.workflow_id)
    await stack.wait_phase(created.workflow_id, "AwaitingApproval")
    await handle.execute_update(WriteIntentWorkflow.approve, DecisionInput(actor="user:bob"))
    result = await handle.result()
    assert result.phase == "Succeeded"
    actions = stack.audit_actions(created.name)
    assert "intent.rate-limited" in actions
    assert actions.index("intent.rate-limited") < actions.index("intent.succeeded")
    key = created.input.idempotency_key
    assert comments_with_marker(stack.base_url, stack.repo, stack.issue, key) == 1


async def test_failed_write_is_retried_on_request(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = stack.create(actor="user:alice", agent=False)
    control(stack.base_url, "faults", {"error_ratio": 1.0, "error_statuses": [404]})
    await stack.start(created)
    handle = handle_of(stack.client, created.workflow_id)
    await stack.wait_phase(created.workflow_id, "AwaitingApproval")
    await handle.execute_update(WriteIntentWorkflow.approve, DecisionInput(actor="user:bob"))
    failed = await stack.wait_phase(created.workflow_id, "Failed")
    assert failed.message
    assert stack.row(created.name).phase == "Failed"
    control(stack.base_url, "faults", {"error_ratio": 0.0})
    retried = await stack.cli(monkeypatch, "intents", "retry", created.name, "--actor", "user:bob")
    assert retried.code == 0, retried.stderr
    result = await handle.result()
    assert result.phase == "Succeeded"
    assert result.attempts == 2
    assert "intent.retry" in stack.audit_actions(created.name)
    key = created.input.idempotency_key
    assert comments_with_marker(stack.base_url, stack.repo, stack.issue, key) == 1


def test_invalid_intents_are_rejected_with_clear_errors(
    clean_database: str, running_simulator: RunningSimulator
) -> None:
    engine = make_engine(clean_database)
    repo = repository_name(running_simulator.base_url)
    apply_config(engine, running_simulator.base_url, repo)

    def create(operation: str, parameters: dict[str, Any]) -> str:
        with session_scope(engine) as session, pytest.raises(IntentRejected) as raised:
            create_write_intent(
                session,
                WriteIntentRequest(
                    org=ORG,
                    binding=BINDING,
                    operation=operation,
                    parameters=parameters,
                    actor="user:alice",
                ),
            )
        return str(raised.value)

    leaked = "ghp_" + "a1B2c3D4" * 5
    assert "Secret values" in create("createComment", {"issue": 1, "body": f"token {leaked}"})
    assert leaked not in create("createComment", {"issue": 1, "body": f"token {leaked}"})
    assert "Secret values" in create("createComment", {"issue": 1, "body": "x", "token": "abc"})
    assert "deleteRepository" in create("deleteRepository", {})
    assert "external-owned" in create("rerunWorkflowRun", {"run_id": 5})
    assert "read-only (mirrored)" in create(
        "createPullRequest", {"title": "t", "head": "a", "base": "main"}
    )
    assert "issue" in create("createComment", {"body": "no issue number"})
    with session_scope(engine) as session, pytest.raises(IntentRejected, match="mirrored object"):
        intent_for_local_edit(
            session,
            org=ORG,
            binding=BINDING,
            kind="Issue",
            number=1,
            changes={"title": "x"},
            actor="user:alice",
            mirrored=True,
        )
    with session_scope(engine) as session, pytest.raises(IntentRejected, match="mirrored"):
        intent_for_local_edit(
            session,
            org=ORG,
            binding=BINDING,
            kind="PullRequest",
            number=2,
            changes={"title": "x"},
            actor="user:alice",
        )
    with session_scope(engine) as session:
        edit = intent_for_local_edit(
            session,
            org=ORG,
            binding=BINDING,
            kind="Issue",
            number=1,
            changes={"title": "renamed in Krate"},
            actor="user:alice",
        )
    assert edit.input.operation == "updateIssue"
    assert edit.manifest["spec"]["source"]["kind"] == "LocalEdit"
    apply_config(engine, running_simulator.base_url, repo, write_mode="read-only")
    assert "read-only" in create("createComment", {"issue": 1, "body": "x"})
    engine.dispose()


async def test_api_creates_and_approves_with_token_roles(stack: Stack) -> None:
    settings = Settings(
        database_url=stack.cli_env["KRATE_DATABASE_URL"], task_queue=stack.worker.task_queue
    )
    app = create_app(settings)
    tokens = {"agent-t": "operator", "alice-t": "operator", "viewer-t": "viewer"}
    app.state.krate_runtime = Runtime(
        settings=settings,
        engine=stack.engine,
        signaler=WorkflowSignaler(settings, client=stack.client),
        tokens=parse_tokens(
            {"tokens": [{"name": t, "token": t, "role": r} for t, r in tokens.items()]}
        ),
        start_sweeper=False,
    )
    api = f"/api/v1/orgs/{ORG}/intents"
    body = {
        "binding": BINDING,
        "operation": "createComment",
        "parameters": {"issue": stack.issue, "body": "via the API"},
        "agent": True,
    }

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as http:
        assert (await http.post(api, json=body)).status_code == 401
        assert (await http.post(api, json=body, headers=auth("viewer-t"))).status_code == 403
        secret = {**body, "parameters": {"issue": stack.issue, "body": "x", "password": "p"}}
        refused = await http.post(api, json=secret, headers=auth("agent-t"))
        assert refused.status_code == 400
        assert "Secret values" in refused.json()["error"]
        created = await http.post(api, json=body, headers=auth("agent-t"))
        assert created.status_code == 201, created.text
        name = created.json()["metadata"]["name"]
        assert created.json()["spec"]["source"] == {"kind": "AgentAction", "actor": "api:agent-t"}
        workflow_id = f"write/{ORG}/{name}"
        await stack.wait_phase(workflow_id, "AwaitingApproval")
        own = await http.post(f"{api}/{name}/approve", json={}, headers=auth("agent-t"))
        assert own.status_code == 409
        assert "may not approve" in own.json()["error"]
        viewer = await http.post(f"{api}/{name}/approve", json={}, headers=auth("viewer-t"))
        assert viewer.status_code == 403
        approved = await http.post(
            f"{api}/{name}/approve", json={"reason": "ok"}, headers=auth("alice-t")
        )
        assert approved.status_code == 200, approved.text
        assert (await handle_of(stack.client, workflow_id).result()).phase == "Succeeded"
        shown = await http.get(f"{api}/{name}", headers=auth("viewer-t"))
        assert shown.json()["status"]["phase"] == "Succeeded"
        assert shown.json()["status"]["response"]["nativeUrl"]
        listed = await http.get(api, headers=auth("viewer-t"))
        assert name in [i["metadata"]["name"] for i in listed.json()["items"]]
        missing = await http.post(f"{api}/nope/approve", json={}, headers=auth("alice-t"))
        assert missing.status_code == 404


async def test_no_secret_value_in_any_workflow_history(dev_server_env: WorkflowEnvironment) -> None:
    """Runs after the flows above (same dev server): every history in the namespace."""
    client = dev_server_env.client
    scanned = 0
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        text = history.to_json()
        assert TOKEN not in text, f"{execution.id} carries the Secret value"
        scanned += 1
    assert scanned > 0
