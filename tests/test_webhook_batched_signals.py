"""Batched signals end to end on the Temporal dev server and a real Postgres: ids stored
together reach the binding's workflow in few `new_deliveries` signals, every delivery is
projected exactly once, and deliveries whose signal never left (the ingress stopped between
the commit and the signal) are recovered by the sweeper."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import func, select
from temporalio.testing import WorkflowEnvironment

from ingress.signaler import WorkflowSignaler
from ingress.sweeper import GRACE, RESIGNAL_AFTER, due_deliveries, sweep_once
from settings import Settings
from store.db import make_engine, session_scope
from store.models.aggregated import SyncEvent, WebhookDelivery
from store.models.projections import Issue
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    apply_all,
    binding_manifest,
    eventually,
    examples,
    ingress,
    provider_manifest,
    sync_worker,
)
from workflows.binding_sync import BindingSyncConfig


def _issue(number: int) -> dict[str, Any]:
    payload = copy.deepcopy(next(p for p in examples()["issues"] if p.get("action") == "opened"))
    payload["issue"]["number"] = number
    payload["issue"]["id"] = 6_000_000_000 + number
    return payload


def _repo() -> tuple[str, str]:
    owner, name = str(_issue(1)["repository"]["full_name"]).split("/", 1)
    return owner, name


def _phases(engine: Any, ids: list[str]) -> dict[str, str | None]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))  # type: ignore[attr-defined]
        ).all()
        return {r.delivery_id: r.phase for r in rows}


def _all_processed(engine: Any, ids: list[str]) -> bool:
    phases = _phases(engine, ids)
    return len(phases) == len(ids) and set(phases.values()) == {"Processed"}


def _assert_projected_once(engine: Any, ids: list[str]) -> None:
    with session_scope(engine) as session:
        rows = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))  # type: ignore[attr-defined]
        ).all()
        assert {r.attempts for r in rows} == {1}  # processed once, never retried
        for row in rows:
            events = session.exec(
                select(func.count())
                .select_from(SyncEvent)
                .where(SyncEvent.source_delivery == row.delivery_id)
            ).one()
            assert events == 1, row.delivery_id
        assert session.exec(select(func.count()).select_from(Issue)).one() == len(ids)


async def test_batched_signals_reach_the_workflow_and_each_delivery_is_projected_once(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    apply_all(clean_database, [provider_manifest(), binding_manifest(*_repo())])
    async with (
        sync_worker(dev_server_env.client, clean_database) as (queue, _),
        ingress(
            clean_database,
            tmp_path,
            client=dev_server_env.client,
            task_queue=queue,
            signal_window=0.2,  # wide enough that the burst below is one signal
        ) as app,
    ):
        ids = [str(uuid.uuid4()) for _ in range(30)]
        posts = [app.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids)]
        posts += [app.post("issues", _issue(0), delivery_id=ids[0]) for _ in range(3)]
        responses = await asyncio.gather(*posts)
        assert sorted(r.status_code for r in responses) == [200] * 3 + [202] * len(ids)
        await eventually(lambda: _all_processed(app.engine, ids), within=90)
        signals = app.runtime.signals
        assert signals.signalled_ids == len(ids)  # duplicates are never signalled
        assert signals.signals < len(ids) / 5  # batched: a few signals carried them all
        _assert_projected_once(app.engine, ids)
        # Signalling wrote nothing back to the rows; only the sweeper marks what it signals.
        with session_scope(app.engine) as session:
            rows = session.exec(
                select(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))  # type: ignore[attr-defined]
            ).all()
        assert not [r for r in rows if "signaledAt" in r.status_extra]


NO_GRACE = timedelta(0)


async def test_the_sweeper_waits_out_its_grace_then_marks_what_it_signalled(
    clean_database: str, tmp_path: Path
) -> None:
    """Rows the ingress stored (and may have signalled) are left alone for GRACE; after that
    the sweeper signals them once and leaves them for RESIGNAL_AFTER."""
    from ingress.webhooks import mark_signaled

    apply_all(clean_database, [provider_manifest(), binding_manifest(*_repo())])
    hanging = HangingSignaler(Settings(task_queue="nowhere"))
    async with ingress(
        clean_database, tmp_path, client=None, signaler=hanging, drain_timeout=0.1
    ) as app:
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for i, delivery_id in enumerate(ids):
            assert (await app.post("issues", _issue(i), delivery_id=delivery_id)).status_code == 202
        now = datetime.now(UTC)

        def due(at: datetime) -> set[str]:
            return {d for *_, d in due_deliveries(app.engine, now=at)} & set(ids)

        assert due(now + GRACE - timedelta(seconds=1)) == set()
        assert due(now + GRACE + timedelta(seconds=1)) == set(ids)
        await asyncio.to_thread(mark_signaled, app.engine, ORG, PROVIDER, ids[:2])
        later = datetime.now(UTC) + GRACE + timedelta(seconds=1)
        assert due(later) == {ids[2]}
        assert due(later + RESIGNAL_AFTER) == set(ids)


class HangingSignaler(WorkflowSignaler):
    """Temporal never answers: the process is stopped with its signal still in the air."""

    async def signal_deliveries(self, config: BindingSyncConfig, delivery_ids: list[str]) -> None:
        await asyncio.Event().wait()


async def test_a_stop_between_commit_and_signal_is_recovered_by_the_sweeper(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    apply_all(clean_database, [provider_manifest(), binding_manifest(*_repo())])
    async with sync_worker(dev_server_env.client, clean_database) as (queue, _):
        ids = [str(uuid.uuid4()) for _ in range(4)]
        hanging = HangingSignaler(Settings(task_queue=queue))
        async with ingress(
            clean_database,
            tmp_path,
            client=None,
            task_queue=queue,
            signaler=hanging,
            drain_timeout=0.3,
        ) as down:
            responses = await asyncio.gather(
                *(down.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids))
            )
            # Acknowledged: the rows are durable, whatever becomes of the signal.
            assert [r.status_code for r in responses] == [202] * len(ids)
            await asyncio.sleep(0.1)  # the batch's signal is now in flight, and hangs
        # The ingress is gone; its signal never reached Temporal.
        engine = make_engine(clean_database)
        try:
            with session_scope(engine) as session:
                rows = session.exec(
                    select(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))  # type: ignore[attr-defined]
                ).all()
        finally:
            engine.dispose()
        assert {r.phase for r in rows} == {"Queued"}
        assert not [r for r in rows if "signaledAt" in r.status_extra]
        async with ingress(
            clean_database, tmp_path, client=dev_server_env.client, task_queue=queue
        ) as up:
            # Without a grace: these rows are known never to have been signalled.
            assert await sweep_once(up.engine, up.runtime.signaler, grace=NO_GRACE) == len(ids)
            await eventually(lambda: _all_processed(up.engine, ids), within=60)
            _assert_projected_once(up.engine, ids)
            assert await sweep_once(up.engine, up.runtime.signaler, grace=NO_GRACE) == 0
