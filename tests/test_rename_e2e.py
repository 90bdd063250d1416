"""End to end: a repository renamed at the provider while its binding syncs.

The GitHub simulator over a socket renames the repository (PATCH /repos/{o}/{r}) and sends its
signed `repository.renamed` webhook over HTTP to a receiver; the test hands each delivery, byte
for byte, to the real ingress, which signals the binding's workflow on the Temporal dev server,
whose real activities write a real Postgres. The binding's externalRef keeps the old name
throughout: the delivery reaches the binding by the repository's id, every row moves to the new
name, and the next backfill pass reads the new name (no redirect), writes no duplicate and
leaves the projection exactly the simulator's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select
from sqlmodel import col
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import build_activities
from activities.backfill_models import BindingRef
from providers.github.simulator import RunningSimulator, SeedConfig, SimulatorConfig
from providers.github.simulator.app import Simulator
from providers.github.simulator.server import start_in_thread
from providers.github.simulator.webhooks import WebhookConfig
from settings import Settings
from store.db import make_engine, session_scope
from store.models.aggregated import WebhookDelivery
from store.models.projections import PROJECTION_TABLES, Issue, Repository
from store.resources import get_resources
from tests.helpers.temporal import new_worker
from tests.test_backfill_e2e import _assert_exact
from tests.test_backfill_support import write_token_secret
from tests.test_webhook_helpers import (
    NAMESPACE,
    ORG,
    PROVIDER,
    SECRET,
    apply_all,
    binding_manifest,
    eventually,
    ingress,
    provider_manifest,
)
from workflows.binding_sync import (
    INTERFACE_KINDS,
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncStatus,
    BindingSyncWorkflow,
    InterfaceConfig,
)

SEED = SeedConfig(
    seed=7,
    owners=["krate-rename"],
    repos=1,
    issues=25,
    pulls=8,
    comments=1,
    reviews=1,
    review_comments=0,
    runs=3,
    jobs=2,
    until=datetime(2026, 11, 1, tzinfo=UTC),
)
NEW_NAME = "renamed-repo"


class Receiver:
    """Webhook deliveries as the simulator POSTs them over a socket: (headers, body)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((dict(self.headers.items()), body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def simulator(receiver: Receiver) -> Iterator[RunningSimulator]:
    hook = WebhookConfig(url=receiver.url, secret=SECRET, backoff_s=0.05)
    running = start_in_thread(Simulator(SimulatorConfig(seed=SEED, webhook=hook)))
    try:
        yield running
    finally:
        running.stop()


async def _wait_for_pass(handle: WorkflowHandle[Any, Any], passes: int) -> BindingSyncStatus:
    deadline = time.monotonic() + 180
    while True:
        status = await handle.query(BindingSyncWorkflow.status)
        if status.passes >= passes and status.phase in ("Ready", "Degraded"):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"pass {passes} not done: {status.model_dump_json()}")
        await asyncio.sleep(0.3)


def _repositories_named(database_url: str) -> dict[str, int]:
    """Rows per repository name over every repository-scoped projection."""
    engine = make_engine(database_url)
    counts: dict[str, int] = {}
    try:
        with session_scope(engine) as session:
            for model in PROJECTION_TABLES:
                table = model.__table__  # type: ignore[attr-defined]
                assert isinstance(table, Table)
                if "repository" not in table.c:
                    continue
                grouped = select(table.c.repository, func.count()).group_by(table.c.repository)
                for name, count in session.execute(grouped):
                    counts[str(name)] = counts.get(str(name), 0) + int(count)
    finally:
        engine.dispose()
    return counts


async def test_a_rename_at_the_provider_is_followed_by_webhooks_and_backfill(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    simulator: RunningSimulator,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    sim = simulator.sim
    repo = next(iter(sim.state.repos.values()))
    owner, old_name = repo.owner.login, repo.name
    old, new = f"{owner}/{old_name}", f"{owner}/{NEW_NAME}"
    binding_name = f"gh-rename-{uuid.uuid4().hex[:8]}"
    provider = provider_manifest()
    provider["spec"]["apiBaseUrl"] = simulator.base_url
    apply_all(clean_database, [provider, binding_manifest(owner, old_name, name=binding_name)])
    secrets = tmp_path / "secrets"
    write_token_secret(secrets)
    binding = BindingRef(
        org=ORG,
        namespace=NAMESPACE,
        binding=binding_name,
        provider=PROVIDER,
        provider_type="github",
        api_base_url=simulator.base_url,
        auth_secret="github-token",
        auth_secret_namespace="krate",
    )
    config = BindingSyncConfig(
        binding=binding,
        interfaces=[InterfaceConfig(name=name) for name in INTERFACE_KINDS],
        repositories=[(owner, old_name)],  # the externalRef's name, before and after
        backfill_interval=timedelta(hours=1),
        per_page=100,
    )
    client = dev_server_env.client
    activities = build_activities(Settings(database_url=clean_database, secrets_dir=secrets))
    control = httpx.AsyncClient(base_url=simulator.base_url, timeout=30)
    async with (
        new_worker(client, BindingSyncWorkflow, activities=activities) as worker,
        ingress(clean_database, tmp_path, client=client, task_queue=worker.task_queue) as app,
    ):
        handle = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/{ORG}/{binding_name}",
            task_queue=worker.task_queue,
        )
        first = await _wait_for_pass(handle, 1)
        assert not first.scope_errors
        before = _repositories_named(clean_database)
        assert set(before) == {old}

        async def relay() -> list[str]:
            """Hand every delivery the simulator sent so far to the ingress, as sent."""
            ids = []
            while receiver.deliveries:
                headers, body = receiver.deliveries.pop(0)
                keep = {
                    k: v for k, v in headers.items() if k.lower().startswith(("x-", "content-"))
                }
                keep.pop("Content-Length", None)
                answer = await app.http.post(
                    f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=keep
                )
                assert answer.status_code == 202, answer.text  # Queued for the binding
                ids.append(keep["X-GitHub-Delivery"])
            return ids

        def processed(ids: list[str]) -> bool:
            return all(
                (row := app.delivery(i)) is not None and row.phase == "Processed" for i in ids
            )

        # ---- the rename, at the provider
        renamed = await control.patch(f"/_sim/api/repos/{old}", json={"name": NEW_NAME})
        assert renamed.status_code == 200, renamed.text
        await eventually(lambda: bool(receiver.deliveries), message="no repository.renamed")
        ids = await relay()
        await eventually(lambda: processed(ids), within=60, message="rename not processed")
        row = app.delivery(ids[0])
        assert row is not None
        assert (row.event_type, row.action, row.binding_ref) == (
            "repository",
            "renamed",
            binding_name,
        )
        assert _repositories_named(clean_database) == {new: before[old]}  # every row moved

        # ---- a change under the new name, which no externalRef names
        number = min(n for n, i in repo.issues.items() if i.pull is None)
        edited = await control.patch(
            f"/_sim/api/repos/{new}/issues/{number}", json={"title": "after"}
        )
        assert edited.status_code == 200, edited.text
        await eventually(lambda: bool(receiver.deliveries), message="no issues.edited")
        ids = await relay()
        await eventually(lambda: processed(ids), within=60, message="edit not processed")
        engine = make_engine(clean_database)
        try:
            with session_scope(engine) as session:
                titles = session.execute(
                    select(col(Issue.repository), col(Issue.title)).where(
                        col(Issue.number) == number
                    )
                ).all()
                repository = session.execute(
                    select(col(Repository.full_name), col(Repository.native_id))
                ).all()
        finally:
            engine.dispose()
        assert [tuple(t) for t in titles] == [(new, "after")]
        assert [tuple(r) for r in repository] == [(new, str(repo.id))]

        # ---- the next backfill pass reads the new name and duplicates nothing
        assert (await control.delete("/_sim/requests")).is_success
        await handle.signal(BindingSyncWorkflow.sync_now)
        second = await _wait_for_pass(handle, 2)
        assert not second.scope_errors
        log = (await control.get("/_sim/requests")).json()["requests"]
        assert log
        assert not [r for r in log if r["status"] in (301, 307)]  # resolved, not redirected
        assert not [r for r in log if r["path"].startswith(f"/repos/{old}/")]
        assert {(c.repository_id, c.repository_name) for c in second.cursors} == {
            (str(repo.id), new)
        }
        assert _repositories_named(clean_database) == {new: before[old]}
        _assert_exact(sim, clean_database)

        # The binding's status shows the repository's id and current name.
        engine = make_engine(clean_database)
        try:
            with session_scope(engine) as session:
                stored = get_resources(session, "ExternalBackendBinding", NAMESPACE, binding_name)
        finally:
            engine.dispose()
        await handle.terminate("test over")
    await control.aclose()
    assert stored[0]["status"].get("externalRepository") == {"id": str(repo.id), "fullName": new}
    assert stored[0]["spec"]["externalRef"] == {"owner": owner, "repository": old_name}
    engine = make_engine(clean_database)
    try:
        with session_scope(engine) as session:
            count = session.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one()
    finally:
        engine.dispose()
    assert count == 2  # the rename and the edit, nothing else


async def test_graphql_follows_renames_like_github() -> None:
    """GitHub's `repository(owner:, name:)` resolves a former name unless `followRenames` is
    false (the default is true in its schema); the simulator does the same."""
    sim = Simulator(SimulatorConfig(seed=dataclasses.replace(SEED, issues=2, pulls=0, runs=0)))
    repo = next(iter(sim.state.repos.values()))
    old = repo.full_name
    query = "query($o: String!, $n: String!, $f: Boolean!) { repository(owner: $o, name: $n, followRenames: $f) { nameWithOwner databaseId } }"
    transport = httpx.ASGITransport(app=sim)
    headers = {"Authorization": "Bearer sim-token"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim.test", headers=headers
    ) as http:
        assert (await http.patch(f"/_sim/api/repos/{old}", json={"name": NEW_NAME})).is_success
        owner, name = old.split("/")

        async def ask(follow: bool) -> dict[str, Any]:
            variables = {"o": owner, "n": name, "f": follow}
            answer = await http.post("/graphql", json={"query": query, "variables": variables})
            assert answer.status_code == 200, answer.text
            document: dict[str, Any] = answer.json()
            return document

        followed = await ask(True)
        assert followed["data"]["repository"] == {
            "nameWithOwner": f"{owner}/{NEW_NAME}",
            "databaseId": repo.id,
        }
        refused = await ask(False)
        assert refused["data"]["repository"] is None
        assert refused["errors"][0]["type"] == "NOT_FOUND"
