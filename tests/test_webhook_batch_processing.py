"""`process_deliveries` on batches, on a real Postgres (called directly: no Temporal needed),
and the workflow's batched `new_deliveries` signal on the time-skipping server.

A batch is one transaction; a delivery at fault fails alone (recorded in that transaction); a
database error rolls the batch back and it is processed again one delivery per transaction;
two deliveries about one object in one batch are applied in order, version-guarded."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from activities.deliveries import DeliveryActivities, FaultHook
from activities.deliveries_models import (
    NewDeliveriesInput,
    NewDeliveryInput,
    ProcessDeliveriesInput,
)
from ingress.lookup import load_provider
from ingress.webhooks import prepare_verified
from ingress.writer import write_batch
from providers.webhooks.result import VerificationResult
from settings import libpq_url
from store.db import make_engine, session_scope
from store.models.aggregated import SyncEvent, WebhookDelivery
from store.models.projections import Issue
from store.resources import get_resources
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_webhook_helpers import (
    NAMESPACE,
    ORG,
    PROVIDER,
    apply_all,
    binding_manifest,
    eventually,
    examples,
    provider_manifest,
)
from tests.test_webhook_workflow import ScriptedDeliveries, _config, _start, empty_backfill
from workflows.binding_sync import BindingSyncWorkflow


def _issue(number: int, *, title: str | None = None, updated: str | None = None) -> bytes:
    import json

    payload = copy.deepcopy(next(p for p in examples()["issues"] if p.get("action") == "opened"))
    payload["issue"]["number"] = number
    payload["issue"]["id"] = 5_000_000_000 + number
    if title is not None:
        payload["issue"]["title"] = title
    if updated is not None:
        payload["issue"]["updated_at"] = updated
    return json.dumps(payload).encode()


class Store:
    """Deliveries stored as the ingress stores them, and the activity to process them."""

    def __init__(self, database_url: str) -> None:
        owner, name = _repository()
        apply_all(database_url, [provider_manifest(), binding_manifest(owner, name)])
        self.url = database_url
        self.engine: Engine = make_engine(database_url)
        with session_scope(self.engine) as session:
            provider = load_provider(session, ORG, PROVIDER)
            assert provider is not None
            self.provider = provider
            self.binding = get_resources(session, "ExternalBackendBinding", NAMESPACE)[0]

    def store(self, body: bytes) -> str:
        delivery_id = str(uuid.uuid4())
        result = VerificationResult(
            verified=True,
            provider_type="github",
            algorithm="hmac-sha256",
            delivery_id=delivery_id,
            event="issues",
            action="opened",
        )
        prepared = prepare_verified(
            self.provider,
            result,
            body,
            "application/json",
            datetime.now(UTC),
            lambda _name, _id, _owners: self.binding,
        )
        write_batch(self.engine, [prepared.pending])
        return delivery_id

    def process(self, ids: list[str], fault: FaultHook | None = None) -> Any:
        return DeliveryActivities(self.engine, fault=fault).process_deliveries(
            ProcessDeliveriesInput(
                org=ORG,
                namespace=NAMESPACE,
                provider=PROVIDER,
                provider_type="github",
                binding=str(self.binding["metadata"]["name"]),
                delivery_ids=ids,
            )
        )

    def rows(self, ids: list[str]) -> dict[str, WebhookDelivery]:
        with session_scope(self.engine) as session:
            found = session.exec(
                select(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))  # type: ignore[attr-defined]
            ).all()
            return {r.delivery_id: r for r in found}

    @contextmanager
    def commits(self) -> Iterator[list[int]]:
        """Counts the transactions committed on the engine meanwhile."""
        count = [0]

        def on_commit(_: Any) -> None:
            count[0] += 1

        event.listen(self.engine, "commit", on_commit)
        try:
            yield count
        finally:
            event.remove(self.engine, "commit", on_commit)


def _repository() -> tuple[str, str]:
    payload = next(p for p in examples()["issues"] if p.get("action") == "opened")
    owner, name = str(payload["repository"]["full_name"]).split("/", 1)
    return owner, name


@pytest.fixture
def store(clean_database: str) -> Iterator[Store]:
    made = Store(clean_database)
    try:
        yield made
    finally:
        made.engine.dispose()


def test_a_batch_is_projected_in_one_transaction_each_delivery_once(store: Store) -> None:
    ids = [store.store(_issue(n)) for n in range(20)]
    with store.commits() as commits:
        result = store.process([*ids, ids[0], "not-stored"])
    assert commits == [1]
    assert (result.processed, result.skipped, result.retry) == (20, 1, [])
    assert {r.phase for r in store.rows(ids).values()} == {"Processed"}
    with session_scope(store.engine) as session:
        assert len(session.exec(select(Issue)).all()) == 20
        assert len(session.exec(select(SyncEvent)).all()) == 20
    again = store.process(ids)  # a retried activity, a second signal: nothing happens twice
    assert (again.processed, again.skipped) == (0, 20)


def test_a_delivery_at_fault_fails_alone_and_dead_letters_after_its_attempts(
    store: Store,
) -> None:
    ids = [store.store(_issue(n)) for n in range(5)]
    bad = ids[2]

    def fault(row: WebhookDelivery) -> None:
        if row.delivery_id == bad:
            raise RuntimeError("projection store is read-only")

    with store.commits() as commits:
        result = store.process(ids, fault)
    assert commits == [1]  # the failure is recorded in the batch's own transaction
    assert (result.processed, result.retry) == (4, [bad])
    rows = store.rows(ids)
    assert rows[bad].phase == "Failed"
    assert rows[bad].attempts == 1
    assert {r.phase for d, r in rows.items() if d != bad} == {"Processed"}
    for _ in range(4):
        store.process([bad], fault)
    rows = store.rows([bad])
    assert rows[bad].phase == "DeadLettered"
    assert rows[bad].attempts == 5
    assert rows[bad].status_extra["error"]["message"] == "projection store is read-only"


@contextmanager
def _failing_event_insert(database_url: str, delivery_id: str) -> Iterator[None]:
    """The database refuses the sync event of one delivery (a data error, not an outage)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION krate_test_event_fault() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN IF NEW.source_delivery = '"
            + delivery_id
            + "' THEN RAISE EXCEPTION 'value out of range' USING ERRCODE = 'data_exception'; "
            "END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER krate_test_event_fault BEFORE INSERT ON sync_events "
            "FOR EACH ROW EXECUTE FUNCTION krate_test_event_fault()"
        )
    try:
        yield
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS krate_test_event_fault ON sync_events")
            conn.execute("DROP FUNCTION IF EXISTS krate_test_event_fault()")


def test_a_database_error_rolls_the_batch_back_and_isolates_the_delivery(
    store: Store,
) -> None:
    ids = [store.store(_issue(n)) for n in range(6)]
    bad = ids[3]
    with _failing_event_insert(store.url, bad), store.commits() as commits:
        result = store.process(ids)
    # The batch was rolled back (no commit), then each delivery went alone: five committed,
    # the bad one rolled back and its failure was counted in a transaction of its own.
    assert commits[0] == len(ids)
    assert (result.processed, result.retry) == (5, [bad])
    rows = store.rows(ids)
    assert rows[bad].phase == "Failed"
    assert rows[bad].attempts == 1
    assert {r.phase for d, r in rows.items() if d != bad} == {"Processed"}
    assert {r.attempts for d, r in rows.items() if d != bad} == {1}
    with session_scope(store.engine) as session:
        issues = session.exec(select(Issue)).all()
        assert len(issues) == 5  # the rolled-back batch left nothing behind
        assert len(session.exec(select(SyncEvent)).all()) == 5


@pytest.mark.parametrize("newer_first", [True, False], ids=["newer-first", "older-first"])
def test_one_object_twice_in_a_batch_is_applied_in_delivery_order(
    store: Store, newer_first: bool
) -> None:
    newer = _issue(7, title="the newer title", updated="2031-01-01T00:00:00Z")
    older = _issue(7, title="an older title", updated="2030-01-01T00:00:00Z")
    first, second = (newer, older) if newer_first else (older, newer)
    ids = [store.store(first), store.store(second)]
    result = store.process(ids)
    assert result.processed == 2
    with session_scope(store.engine) as session:
        issue = session.exec(select(Issue)).one()
        assert issue.title == "the newer title"
        phases = {
            e.source_delivery: e.status_extra["phase"] for e in session.exec(select(SyncEvent))
        }
    if newer_first:  # the older event came after the newer one: it changed nothing
        assert phases == {ids[0]: "Applied", ids[1]: "Superseded"}
    else:  # each was newer than what was stored when it was applied
        assert phases == {ids[0]: "Applied", ids[1]: "Applied"}


async def test_new_deliveries_signal_queues_each_id_once_beside_the_old_signal(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedDeliveries()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[scripted.process_deliveries, empty_backfill, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, worker.task_queue, _config())
        await handle.signal(
            BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["a", "b", "a"])
        )
        await handle.signal(BindingSyncWorkflow.new_delivery, NewDeliveryInput(delivery_id="c"))
        await handle.signal(
            BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["b", "d"])
        )
        await eventually(lambda: sorted(scripted.done) == ["a", "b", "c", "d"])
        assert len(scripted.done) == len(set(scripted.done))
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.deliveries_processed == 4
        assert status.pending_deliveries == 0
        await handle.terminate()
