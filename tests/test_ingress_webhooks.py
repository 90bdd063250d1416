"""The webhook receiver on a real Postgres: verification, store-first, duplicates, bad input.

Temporal is down in these tests (the signaler points at a closed port) unless a test says
otherwise: acknowledging must never depend on it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from store.db import session_scope
from store.models.aggregated import WebhookDelivery, WebhookPayload
from tests.test_webhook_helpers import (
    ORG,
    PREVIOUS_SECRET,
    PROVIDER,
    Ingress,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
    signed,
)


def _issue_payload() -> dict[str, object]:
    return next(p for p in examples()["issues"] if p.get("action") == "opened")


def _repo(payload: dict[str, object]) -> tuple[str, str]:
    full = payload["repository"]["full_name"]  # type: ignore[index]
    owner, name = str(full).split("/", 1)
    return owner, name


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    owner, name = _repo(_issue_payload())
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    async with ingress(clean_database, tmp_path, client=None) as running:
        yield running


def _count(app: Ingress, model: type[WebhookDelivery] | type[WebhookPayload]) -> int:
    with session_scope(app.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


async def test_valid_delivery_is_stored_with_every_spec_field_and_queued(app: Ingress) -> None:
    delivery_id = str(uuid.uuid4())
    response = await app.post("issues", _issue_payload(), delivery_id=delivery_id)
    # Temporal is down: still accepted, because the row is durable; the sweeper signals later.
    assert response.status_code == 202, response.text
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "Queued"
    assert "signaledAt" not in row.status_extra  # the signal did not get through
    assert row.attempts == 0
    assert row.event_type == "issues"
    assert row.action == "opened"
    assert row.signature_algorithm == "hmac-sha256"
    assert row.signature_verified is True
    assert row.binding_ref is not None
    assert row.source_owner
    assert row.source_repository
    assert row.interface_hints == ["issueTracking"]
    assert row.payload_digest is not None
    assert row.payload_digest.startswith("sha256:")
    assert row.received_at is not None


async def test_duplicate_delivery_id_answers_200_and_changes_nothing(app: Ingress) -> None:
    delivery_id = str(uuid.uuid4())
    first = await app.post("issues", _issue_payload(), delivery_id=delivery_id)
    assert first.status_code == 202
    again = await app.post("issues", _issue_payload(), delivery_id=delivery_id)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert _count(app, WebhookDelivery) == 1
    assert _count(app, WebhookPayload) == 1


async def test_concurrent_duplicates_store_one_row(app: Ingress) -> None:
    delivery_id = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(app.post("issues", _issue_payload(), delivery_id=delivery_id) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [202]
    assert _count(app, WebhookDelivery) == 1


async def test_bad_signature_is_401_recorded_rejected_and_never_processed(app: Ingress) -> None:
    delivery_id = str(uuid.uuid4())
    response = await app.post(
        "issues", _issue_payload(), delivery_id=delivery_id, secret="wrong secret"
    )
    assert response.status_code == 401
    with session_scope(app.engine) as session:
        rows = list(session.exec(select(WebhookDelivery)))
    assert len(rows) == 1
    rejected = rows[0]
    assert rejected.phase == "Rejected"
    assert rejected.signature_verified is False
    assert rejected.payload_digest is None  # unauthenticated bodies are not kept
    assert rejected.spec_extra["claimedDeliveryId"] == delivery_id
    assert rejected.status_extra["error"]["type"] == "signature_mismatch"
    # The forged attempt does not block the genuine delivery with the same id.
    genuine = await app.post("issues", _issue_payload(), delivery_id=delivery_id)
    assert genuine.status_code == 202
    assert _count(app, WebhookPayload) == 1


async def test_previous_secret_accepted_within_rotation_window(
    clean_database: str, tmp_path: Path
) -> None:
    owner, name = _repo(_issue_payload())
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    apply_all(
        clean_database,
        [
            provider_manifest(previous_valid_until=until),
            binding_manifest(owner, name),
        ],
    )
    async with ingress(clean_database, tmp_path, client=None) as app:
        ok = await app.post("issues", _issue_payload(), secret=PREVIOUS_SECRET)
        assert ok.status_code == 202, ok.text


async def test_previous_secret_refused_after_rotation_window(
    clean_database: str, tmp_path: Path
) -> None:
    owner, name = _repo(_issue_payload())
    until = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    apply_all(
        clean_database,
        [
            provider_manifest(previous_valid_until=until),
            binding_manifest(owner, name),
        ],
    )
    async with ingress(clean_database, tmp_path, client=None) as app:
        late = await app.post("issues", _issue_payload(), secret=PREVIOUS_SECRET)
        assert late.status_code == 401
        assert "rotation window" in late.json()["error"]


async def test_previous_secret_without_deadline_is_not_accepted(app: Ingress) -> None:
    response = await app.post("issues", _issue_payload(), secret=PREVIOUS_SECRET)
    assert response.status_code == 401


async def test_missing_signature_or_event_header_is_400(app: Ingress) -> None:
    body, headers = signed("issues", _issue_payload())
    unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=unsigned)
    assert response.status_code == 400
    no_event = {k: v for k, v in headers.items() if k != "X-GitHub-Event"}
    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=no_event)
    assert response.status_code == 400
    assert _count(app, WebhookDelivery) == 0


async def test_wrong_content_type_is_415(app: Ingress) -> None:
    body, headers = signed("issues", _issue_payload())
    headers["Content-Type"] = "text/plain"  # (form bodies: tests/test_ingress_form_webhooks.py)
    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=headers)
    assert response.status_code == 415
    assert _count(app, WebhookDelivery) == 0


async def test_oversize_declared_length_is_413_before_reading(app: Ingress) -> None:
    body, headers = signed("issues", _issue_payload())
    headers["Content-Length"] = str(26 * 1024 * 1024)
    read: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        read.append(1)
        yield body

    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=stream(), headers=headers)
    assert response.status_code == 413
    assert read == []  # not one chunk was pulled


async def test_oversize_streamed_body_is_413_without_reading_everything(app: Ingress) -> None:
    _, headers = signed("issues", b"{}")
    chunk = b" " * (1024 * 1024)
    pulled: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        for index in range(60):  # 60 MiB offered, no Content-Length
            pulled.append(index)
            yield chunk

    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=stream(), headers=headers)
    assert response.status_code == 413
    assert len(pulled) <= 27  # refused just past 25 MiB, the rest never read
    assert _count(app, WebhookDelivery) == 0


async def test_signed_body_that_is_not_json_is_stored_and_dead_lettered(app: Ingress) -> None:
    delivery_id = str(uuid.uuid4())
    response = await app.post("issues", b'{"action": "opened", broken', delivery_id=delivery_id)
    assert response.status_code == 200
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "DeadLettered"
    assert row.payload_digest is not None
    assert row.status_extra["error"]["type"] == "PayloadNotJson"
    assert "not JSON" in row.spec_extra["processing"]["lastError"]


async def test_delivery_for_an_unbound_repository_is_ignored_with_reason(app: Ingress) -> None:
    payload = json.loads(json.dumps(_issue_payload()))
    payload["repository"]["full_name"] = "someone/else"
    delivery_id = str(uuid.uuid4())
    response = await app.post("issues", payload, delivery_id=delivery_id)
    assert response.status_code == 200
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "Ignored"
    assert "someone/else" in row.status_extra["reason"]


async def test_unknown_provider_is_404(app: Ingress) -> None:
    body, headers = signed("issues", _issue_payload())
    response = await app.http.post(f"/webhooks/{ORG}/nope", content=body, headers=headers)
    assert response.status_code == 404


async def test_provider_without_webhook_block_is_404_with_the_fix(
    clean_database: str, tmp_path: Path
) -> None:
    # Valid (a provider may be used for backfill only), so delivering to it is not our fault.
    backfill_only = provider_manifest()
    del backfill_only["spec"]["webhook"]
    owner, name = _repo(_issue_payload())
    apply_all(clean_database, [backfill_only, binding_manifest(owner, name)])
    async with ingress(clean_database, tmp_path, client=None) as app:
        response = await app.post("issues", _issue_payload())
        assert response.status_code == 404
        assert "has no webhook configured" in response.json()["error"]
        assert "spec.webhook" in response.json()["error"]
        assert _count(app, WebhookDelivery) == 0


async def test_database_down_answers_503_not_4xx(clean_database: str, tmp_path: Path) -> None:
    owner, name = _repo(_issue_payload())
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    dead = "postgresql://postgres@127.0.0.1:1/test"
    async with ingress(dead, tmp_path, client=None) as app:
        response = await app.post("issues", _issue_payload())
        assert response.status_code == 503
        assert response.headers["retry-after"]
