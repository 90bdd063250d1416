"""Deliveries end to end on the Temporal dev server and a real Postgres: ingress -> signal-with-
start -> BindingSyncWorkflow -> process_deliveries -> projections, events, delivery phases."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from ingress.sweeper import sweep_once
from store.db import session_scope
from store.models.aggregated import SyncEvent, WebhookDelivery
from store.models.aggregated import WebhookDelivery as Delivery
from store.models.projections import Issue
from tests.test_webhook_helpers import (
    ORG,
    apply_all,
    binding_manifest,
    eventually,
    examples,
    ingress,
    provider_manifest,
    repositories_in,
    sync_worker,
)

EVENTS = (
    "issues issue_comment label pull_request pull_request_review pull_request_review_comment "
    "push create delete workflow_run workflow_job check_run check_suite status repository "
    "member deploy_key branch_protection_rule team_add team"
).split()


def _finished(app_engine: Any, ids: list[str]) -> bool:
    with session_scope(app_engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.delivery_id.in_(ids))).all()  # type: ignore[attr-defined]
        return len(rows) == len(ids) and all(
            r.phase in ("Processed", "Ignored", "DeadLettered") for r in rows
        )


async def test_every_example_payload_is_projected_or_ignored_with_reason(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    catalogue = examples()
    payloads = [(event, p) for event in EVENTS for p in catalogue[event]]
    repos = repositories_in(iter(p for _, p in payloads))
    apply_all(
        clean_database,
        [provider_manifest(), *(binding_manifest(owner, name) for owner, name in repos)],
    )
    async with (
        sync_worker(dev_server_env.client, clean_database) as (queue, _),
        ingress(clean_database, tmp_path, client=dev_server_env.client, task_queue=queue) as app,
    ):
        ids: list[str] = []
        for event, payload in payloads:
            delivery_id = str(uuid.uuid4())
            response = await app.post(event, payload, delivery_id=delivery_id)
            # A team event about the organisation alone names no repository: no binding can
            # take it, and the ingress says so at once (200, Ignored, with the reason).
            expected_status = 202 if payload.get("repository") else 200
            assert response.status_code == expected_status, (event, response.text)
            ids.append(delivery_id)
        await eventually(lambda: _finished(app.engine, ids), within=120)
        with session_scope(app.engine) as session:
            rows = session.exec(select(WebhookDelivery)).all()
            by_event: dict[str, set[str]] = {}
            for row in rows:
                assert row.phase in ("Processed", "Ignored"), (
                    row.event_type,
                    row.action,
                    row.status_extra,
                )
                if row.phase == "Ignored":
                    assert row.status_extra["reason"]
                else:
                    assert row.spec_extra["processing"]["eventRefs"]
                # Ignored at the ingress (no repository, so no binding): never processed.
                assert row.attempts == (1 if row.binding_ref is not None else 0)
                by_event.setdefault(row.event_type, set()).add(row.phase or "")
            events = session.exec(select(SyncEvent)).all()
    assert len(rows) == len(payloads)
    # The projected kinds really were projected; `create` is ignored by design (its push
    # projects the ref, and so are the check examples GitHub Actions reported, see
    # test_webhook_checks.py), and the published member examples predate
    # `changes.permission.to`, so they say no permission.
    for event in EVENTS:
        if event == "member":
            continue
        expected = {"Ignored"} if event == "create" else None
        if expected:
            assert by_event[event] == expected, event
        else:
            assert "Processed" in by_event[event], event
    assert {e.resource_kind for e in events} >= {
        "Issue",
        "Comment",
        "PullRequest",
        "Review",
        "GitRef",
        "Pipeline",
        "Job",
        "Repository",
        "DeployKey",
        "BranchProtection",
        "Label",
    }


async def test_older_event_after_newer_changes_nothing(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    newer = copy.deepcopy(opened)
    newer["action"] = "edited"
    newer["issue"]["title"] = "the newer title"
    newer["issue"]["updated_at"] = "2031-01-01T00:00:00Z"
    older = copy.deepcopy(opened)
    older["issue"]["title"] = "an older title"
    older["issue"]["updated_at"] = "2030-01-01T00:00:00Z"
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    async with (
        sync_worker(dev_server_env.client, clean_database) as (queue, _),
        ingress(clean_database, tmp_path, client=dev_server_env.client, task_queue=queue) as app,
    ):
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        assert (await app.post("issues", newer, delivery_id=first)).status_code == 202
        await eventually(lambda: _finished(app.engine, [first]))
        assert (await app.post("issues", older, delivery_id=second)).status_code == 202
        await eventually(lambda: _finished(app.engine, [second]))
        with session_scope(app.engine) as session:
            issue = session.exec(select(Issue)).one()
            assert issue.title == "the newer title"
            stale = session.exec(select(SyncEvent).where(SyncEvent.source_delivery == second)).one()
            assert stale.status_extra["phase"] == "Superseded"


async def test_temporal_down_at_receipt_then_the_sweeper_delivers(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    async with sync_worker(dev_server_env.client, clean_database) as (queue, _):
        delivery_id = str(uuid.uuid4())
        async with ingress(clean_database, tmp_path, client=None, task_queue=queue) as down:
            response = await down.post("issues", opened, delivery_id=delivery_id)
            assert response.status_code == 202
            row = down.delivery(delivery_id)
            assert row is not None
            assert row.phase == "Queued"
            assert "signaledAt" not in row.status_extra
        # Temporal is back: the sweeper (on its own, as `python -m ingress.sweeper` runs it).
        async with ingress(
            clean_database, tmp_path, client=dev_server_env.client, task_queue=queue
        ) as up:
            # No grace: the row is known never to have been signalled.
            assert await sweep_once(up.engine, up.runtime.signaler, grace=timedelta(0)) == 1
            await eventually(lambda: _finished(up.engine, [delivery_id]))
            row = up.delivery(delivery_id)
            assert row is not None
            assert row.phase == "Processed"
            assert await sweep_once(up.engine, up.runtime.signaler, grace=timedelta(0)) == 0


async def test_dead_letter_replayed_after_fault_is_fixed_and_twice_is_once(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    broken = {"on": True}

    def fault(row: Any) -> None:
        if broken["on"]:
            raise RuntimeError("projection store is read-only")

    async with (
        sync_worker(dev_server_env.client, clean_database, fault=fault) as (queue, _),
        ingress(clean_database, tmp_path, client=dev_server_env.client, task_queue=queue) as app,
    ):
        delivery_id = str(uuid.uuid4())
        assert (await app.post("issues", opened, delivery_id=delivery_id)).status_code == 202
        await eventually(lambda: _finished(app.engine, [delivery_id]), within=90)
        row = app.delivery(delivery_id)
        assert row is not None
        assert row.phase == "DeadLettered"
        assert row.attempts == 5
        assert row.status_extra["error"] == {
            "type": "RuntimeError",
            "message": "projection store is read-only",
        }
        headers = {"Authorization": "Bearer operator-token"}
        broken["on"] = False
        url = f"/api/v1/orgs/{ORG}/deliveries/{row.name}/replay"
        first, second = (
            await app.http.post(url, headers=headers),
            await app.http.post(url, headers=headers),
        )
        assert first.status_code == 202
        assert first.json()["replayed"] is True
        assert second.status_code == 200
        assert second.json()["replayed"] is False
        await eventually(lambda: _finished(app.engine, [delivery_id]))
        row = app.delivery(delivery_id)
        assert row is not None
        assert row.phase == "Processed"
        assert row.attempts == 6  # attempts kept across the replay
        third = await app.http.post(url, headers=headers)
        assert third.json()["replayed"] is False
        with session_scope(app.engine) as session:
            assert len(session.exec(select(Issue)).all()) == 1
            events = session.exec(
                select(SyncEvent).where(SyncEvent.source_delivery == delivery_id)
            ).all()
            assert len(events) == 1
