"""The receiver's group commit and config cache on a real Postgres (Temporal down: acks never
depend on it). Batches are made certain by a long linger: every request posted together joins
the writer's one batch."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import func, select

from ingress.lookup import ProviderInfo
from ingress.webhooks import DeliveryFacts, _manifest, row_values
from ingress.writer import delivery_values
from providers.webhooks.result import VerificationResult
from resources.phases import DeliveryPhase
from settings import libpq_url
from store.db import session_scope
from store.models.aggregated import WebhookDelivery, WebhookPayload
from tests.test_webhook_helpers import (
    NAMESPACE,
    PREVIOUS_SECRET,
    SECRET,
    Ingress,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
)

LINGER = 0.2  # long enough that requests gathered together share one batch


def _issue(number: int) -> dict[str, Any]:
    payload = copy.deepcopy(next(p for p in examples()["issues"] if p.get("action") == "opened"))
    payload["issue"]["number"] = number
    payload["issue"]["id"] = 7_000_000_000 + number
    return payload


def _repo() -> tuple[str, str]:
    owner, name = str(_issue(1)["repository"]["full_name"]).split("/", 1)
    return owner, name


def _count(app: Ingress, model: type[WebhookDelivery] | type[WebhookPayload]) -> int:
    with session_scope(app.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    apply_all(clean_database, [provider_manifest(), binding_manifest(*_repo())])
    async with ingress(clean_database, tmp_path, client=None, commit_linger=LINGER) as running:
        yield running


async def test_concurrent_deliveries_with_duplicates_store_one_row_each(app: Ingress) -> None:
    ids = [str(uuid.uuid4()) for _ in range(12)]
    copies = [1, 2, 3] * 4  # each id posted once, twice or three times, all at once
    posts = [
        app.post("issues", _issue(index), delivery_id=delivery_id)
        for index, (delivery_id, n) in enumerate(zip(ids, copies, strict=True))
        for _ in range(n)
    ]
    batches_before = app.runtime.writer.batches
    responses = await asyncio.gather(*posts)
    # Everything posted together went through the writer in one transaction.
    assert app.runtime.writer.batches - batches_before == 1
    by_id: dict[str, list[int]] = {}
    for response in responses:
        assert response.status_code in (200, 202), response.text
        body = response.json()
        by_id.setdefault(body["delivery"], []).append(response.status_code)
        if response.status_code == 200:
            assert body["duplicate"] is True
            assert body["phase"] == "Queued"
    assert len(by_id) == len(ids)
    for statuses in by_id.values():
        assert statuses.count(202) == 1  # exactly one copy stored it
    assert _count(app, WebhookDelivery) == len(ids)
    assert _count(app, WebhookPayload) == len(ids)  # one payload per distinct body
    # A redelivery later (a batch of its own) is a duplicate too, and changes nothing.
    again = await app.post("issues", _issue(0), delivery_id=ids[0])
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert _count(app, WebhookDelivery) == len(ids)


@contextmanager
def _trigger(database_url: str, body: str) -> Iterator[None]:
    """A BEFORE INSERT trigger on webhook_deliveries running `body` (PL/pgSQL), dropped after."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION krate_test_fault() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER krate_test_fault BEFORE INSERT ON webhook_deliveries "
            "FOR EACH ROW EXECUTE FUNCTION krate_test_fault()"
        )
    try:
        yield
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS krate_test_fault ON webhook_deliveries")
            conn.execute("DROP FUNCTION IF EXISTS krate_test_fault()")


async def test_database_error_in_a_batch_fails_every_request_and_stores_nothing(
    app: Ingress, clean_database: str
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(6)]
    # The disk filling up while the batch is written: the database refuses the whole statement.
    with _trigger(
        clean_database,
        "IF NEW.delivery_id = '" + ids[-1] + "' THEN "
        "RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END IF;",
    ):
        batches_before = app.runtime.writer.batches
        responses = await asyncio.gather(
            *(app.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids))
        )
        assert app.runtime.writer.batches - batches_before == 1
    assert [r.status_code for r in responses] == [503] * len(ids)
    assert all(r.headers["retry-after"] for r in responses)
    # Not one row or payload of the batch was stored: the payloads went with the rows.
    assert _count(app, WebhookDelivery) == 0
    assert _count(app, WebhookPayload) == 0
    # The provider redelivers once the database is back: now they are stored.
    retried = await asyncio.gather(
        *(app.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids))
    )
    assert [r.status_code for r in retried] == [202] * len(ids)
    assert _count(app, WebhookDelivery) == len(ids)


async def test_a_row_of_its_own_fault_fails_only_its_request(
    app: Ingress, clean_database: str
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    poison = ids[2]
    with _trigger(
        clean_database,
        "IF NEW.delivery_id = '" + poison + "' THEN "
        "RAISE EXCEPTION 'bad row' USING ERRCODE = 'data_exception'; END IF;",
    ):
        responses = await asyncio.gather(
            *(app.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids))
        )
    statuses = {d: r.status_code for d, r in zip(ids, responses, strict=True)}
    assert statuses.pop(poison) == 503  # our trouble: never a 4xx
    assert set(statuses.values()) == {202}
    with session_scope(app.engine) as session:
        stored = set(session.exec(select(WebhookDelivery.delivery_id)).all())
    assert stored == set(ids) - {poison}


def _write_secret(app: Ingress, name: str, value: str) -> None:
    path = app.settings.secrets_dir / NAMESPACE / name / "secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")


async def test_secret_rotation_is_seen_within_the_cache_ttl(
    clean_database: str, tmp_path: Path
) -> None:
    ttl = 0.3
    apply_all(clean_database, [provider_manifest(), binding_manifest(*_repo())])
    async with ingress(clean_database, tmp_path, client=None, config_ttl=ttl) as app:
        cache = app.runtime.configs
        for i in range(5):
            assert (await app.post("issues", _issue(i))).status_code == 202
        assert cache.loads == 1  # one read of the config for five deliveries

        # Rotation: a new current secret, the old one kept as previous for an hour.
        new_secret = "the new secret"
        _write_secret(app, "github-webhook-old", SECRET)
        _write_secret(app, "github-webhook", new_secret)
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        apply_all(clean_database, [provider_manifest(previous_valid_until=until)])
        await asyncio.sleep(ttl + 0.1)
        assert (await app.post("issues", _issue(10), secret=new_secret)).status_code == 202
        assert cache.loads == 2  # the generation changed: reloaded
        assert (await app.post("issues", _issue(11), secret=SECRET)).status_code == 202
        wrong = await app.post("issues", _issue(12), secret=PREVIOUS_SECRET)
        assert wrong.status_code == 401

        # The rotation window is closed early: the old secret stops working within the TTL.
        closed = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        apply_all(clean_database, [provider_manifest(previous_valid_until=closed)])
        await asyncio.sleep(ttl + 0.1)
        late = await app.post("issues", _issue(13), secret=SECRET)
        assert late.status_code == 401
        assert "rotation window" in late.json()["error"]

        # A Secret rewritten in place (no manifest change) is seen too: the file is checked.
        newest = "the newest secret"
        _write_secret(app, "github-webhook", newest)
        await asyncio.sleep(ttl + 0.1)
        assert (await app.post("issues", _issue(14), secret=newest)).status_code == 202
        assert (await app.post("issues", _issue(15), secret=new_secret)).status_code == 401


async def test_previous_secret_deadline_is_exact_while_the_view_is_cached(
    clean_database: str, tmp_path: Path
) -> None:
    until = datetime.now(UTC) + timedelta(seconds=1.5)
    apply_all(
        clean_database,
        [
            provider_manifest(previous_valid_until=until.isoformat()),
            binding_manifest(*_repo()),
        ],
    )
    async with ingress(clean_database, tmp_path, client=None, config_ttl=300) as app:
        assert (await app.post("issues", _issue(1), secret=PREVIOUS_SECRET)).status_code == 202
        await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
        late = await app.post("issues", _issue(2), secret=PREVIOUS_SECRET)
        assert late.status_code == 401  # the deadline is checked per delivery, not cached
        assert app.runtime.configs.loads == 1


async def test_new_binding_is_taken_within_the_ttl(clean_database: str, tmp_path: Path) -> None:
    ttl = 0.3
    apply_all(clean_database, [provider_manifest()])
    async with ingress(clean_database, tmp_path, client=None, config_ttl=ttl) as app:
        first = await app.post("issues", _issue(1))
        assert first.status_code == 200
        assert first.json()["phase"] == "Ignored"  # no binding yet
        apply_all(clean_database, [binding_manifest(*_repo())])
        await asyncio.sleep(ttl + 0.1)
        second = await app.post("issues", _issue(2))
        assert second.status_code == 202
        assert second.json()["phase"] == "Queued"


def test_direct_row_values_equal_the_manifest_conversion() -> None:
    provider = ProviderInfo(
        org="a5c",
        namespace=NAMESPACE,
        name="github-a5c",
        provider_type="github",
        manifest={},
    )
    result = VerificationResult(verified=True, provider_type="github", algorithm="hmac-sha256")
    cases: list[dict[str, Any]] = [
        {
            "binding": "gh-b",
            "repository": "o/r",
            "phase": DeliveryPhase.QUEUED,
            "status": {},
            "digest": "sha256:1",
            "action": "opened",
            "event": "issues",
        },
        {
            "binding": None,
            "repository": None,
            "phase": DeliveryPhase.DEAD_LETTERED,
            "status": {"error": {"type": "PayloadNotJson", "message": "body is not JSON"}},
            "digest": "sha256:2",
            "action": None,
            "event": "push",
        },
        {
            "binding": None,
            "repository": "o/other",
            "phase": DeliveryPhase.IGNORED,
            "status": {"reason": "no binding"},
            "digest": "sha256:3",
            "action": None,
            "event": "workflow_run",
        },
    ]
    for case in cases:
        arguments = {
            "name": "github-a5c-d",
            "delivery_id": "d",
            "received_at": datetime.now(UTC),
            "result": result,
            **case,
        }
        facts = DeliveryFacts(**arguments)
        direct = row_values(provider, facts)
        assert direct == delivery_values(_manifest(provider, facts)), case
        assert json.dumps(direct, default=str)  # every value is storable


async def test_mark_signaled_touches_queued_rows_only_and_never_waits_for_a_lock(
    app: Ingress, clean_database: str
) -> None:
    from ingress.webhooks import mark_signaled
    from tests.test_webhook_helpers import ORG, PROVIDER

    ids = [str(uuid.uuid4()) for _ in range(3)]
    responses = await asyncio.gather(
        *(app.post("issues", _issue(i), delivery_id=d) for i, d in enumerate(ids))
    )
    assert [r.status_code for r in responses] == [202] * 3
    queued, finished, locked = ids
    with psycopg.connect(libpq_url(clean_database), autocommit=True) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET phase = 'Processed' WHERE delivery_id = %s", (finished,)
        )
    # Another transaction (the activity processing it) holds the third row's lock.
    with psycopg.connect(libpq_url(clean_database)) as holder:
        holder.execute(
            "SELECT 1 FROM webhook_deliveries WHERE delivery_id = %s FOR UPDATE", (locked,)
        )
        await asyncio.wait_for(asyncio.to_thread(mark_signaled, app.engine, ORG, PROVIDER, ids), 5)
        holder.rollback()
    marked = {d: "signaledAt" in row.status_extra for d in ids if (row := app.delivery(d))}
    assert marked == {queued: True, finished: False, locked: False}
