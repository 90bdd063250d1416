"""The GitHub simulator's mutations, delivered as signed webhooks to the ingress, end up in
Postgres through the binding workflow (dev server, real Postgres, the simulator's own signing)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from providers.github.simulator.app import Simulator, SimulatorConfig
from providers.github.simulator.seed import SeedConfig
from providers.github.simulator.webhooks import WebhookConfig
from store.db import session_scope
from store.models.aggregated import WebhookDelivery
from store.models.projections import Comment, Issue
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    SECRET,
    apply_all,
    binding_manifest,
    eventually,
    ingress,
    provider_manifest,
    sync_worker,
)


# "form" is what GitHub's REST API gives a hook created without a content_type.
@pytest.mark.parametrize("content_type", ["json", "form"])
async def test_simulator_mutations_arrive_as_signed_webhooks_and_are_projected(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path, content_type: str
) -> None:
    owner = f"sim-{uuid.uuid4().hex[:6]}"
    seed = SeedConfig(owners=[owner], repos=1, issues=3, pulls=1, runs=0, comments=0)
    apply_all(clean_database, [provider_manifest()])
    async with (
        sync_worker(dev_server_env.client, clean_database) as (queue, _),
        ingress(clean_database, tmp_path, client=dev_server_env.client, task_queue=queue) as app,
    ):
        sim = Simulator(
            SimulatorConfig(
                seed=seed,
                webhook=WebhookConfig(
                    url=f"http://ingress/webhooks/{ORG}/{PROVIDER}",
                    secret=SECRET,
                    content_type=content_type,
                ),
            ),
            webhook_transport=httpx.ASGITransport(app=app.app),
        )
        repo = next(iter(sim.state.repos.values()))
        full_name = f"{repo.owner.login}/{repo.name}"
        # The binding names the repository the simulator seeded.
        apply_all(clean_database, [binding_manifest(*full_name.split("/"))])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim), base_url="http://sim.test"
        ) as control:
            listed = await control.get(f"/_sim/api/repos/{full_name}/issues?state=all")
            number = next(i["number"] for i in listed.json() if "pull_request" not in i)
            edited = await control.patch(
                f"/_sim/api/repos/{full_name}/issues/{number}",
                json={"title": "renamed in the simulator"},
            )
            assert edited.status_code == 200, edited.text
            commented = await control.post(
                f"/_sim/api/repos/{full_name}/issues/{number}/comments",
                json={"body": "hello krate"},
            )
            assert commented.status_code == 201, commented.text
            assert (await control.post("/_sim/webhook/drain")).status_code == 204
            deliveries = (await control.get("/_sim/webhook/deliveries")).json()

        def projected() -> bool:
            with session_scope(app.engine) as session:
                issue = session.exec(select(Issue).where(Issue.number == number)).first()
                comment = session.exec(select(Comment)).first()
                return (
                    issue is not None
                    and issue.title == "renamed in the simulator"
                    and comment is not None
                    and comment.body == "hello krate"
                )

        await eventually(projected, within=60)
        with session_scope(app.engine) as session:
            rows = session.exec(select(WebhookDelivery)).all()
        assert {r.event_type for r in rows} >= {"issues", "issue_comment"}
        assert all(r.signature_verified for r in rows)
        received = {r.status_extra.get("receivedContentType") for r in rows}
        assert received == (
            {"application/x-www-form-urlencoded"} if content_type == "form" else {None}
        )
        assert all(r.phase == "Processed" for r in rows), [(r.event_type, r.phase) for r in rows]
        assert len(rows) == len([d for d in deliveries.get("deliveries", deliveries) if d])
