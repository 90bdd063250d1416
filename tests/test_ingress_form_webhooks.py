"""Form-encoded GitHub hooks (`content_type: form`, the REST API's default) through the real
ASGI app on a real Postgres: the signature is checked over the form body as sent, the JSON of
its `payload` field is what gets stored and processed, and a form body without usable JSON is
dead-lettered like malformed JSON, never a 5xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from ingress.webhooks import FORM_TYPE
from providers.webhooks import sign_github
from store.db import session_scope
from store.models.aggregated import WebhookPayload
from store.payloads import payload_digest
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    SECRET,
    Ingress,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
)

BOUND = ("Codertocat/Hello-World", "Octocoders/Hello-World")


def _example(event: str, action: str | None = None) -> dict[str, Any]:
    return next(p for p in examples()[event] if action is None or p.get("action") == action)


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    bindings = [binding_manifest(*full.split("/")) for full in BOUND]
    apply_all(clean_database, [provider_manifest(), *bindings])
    async with ingress(clean_database, tmp_path, client=None) as running:
        yield running


async def _post_form(
    app: Ingress,
    event: str,
    body: bytes,
    *,
    delivery_id: str,
    signed_over: bytes | None = None,
    provider: str = PROVIDER,
) -> httpx.Response:
    headers = sign_github(
        body if signed_over is None else signed_over, SECRET, event=event, delivery_id=delivery_id
    )
    headers["Content-Type"] = FORM_TYPE
    return await app.http.post(f"/webhooks/{ORG}/{provider}", content=body, headers=headers)


def _stored(app: Ingress, digest: str) -> WebhookPayload | None:
    with session_scope(app.engine) as session:
        return session.get(WebhookPayload, digest)


@pytest.mark.parametrize(
    ("event", "action", "status"),
    [("issues", "opened", 202), ("pull_request", "opened", 202), ("ping", None, 202)],
)
async def test_form_encoded_example_is_verified_stored_as_json_and_queued(
    app: Ingress, event: str, action: str | None, status: int
) -> None:
    payload = _example(event, action)
    document = json.dumps(payload).encode()
    form = urlencode({"payload": document}).encode()
    delivery_id = str(uuid.uuid4())
    response = await _post_form(app, event, form, delivery_id=delivery_id)
    assert response.status_code == status, response.text
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "Queued"
    assert row.status_extra["receivedContentType"] == FORM_TYPE
    assert row.action == payload.get("action")
    assert row.source_repository == payload["repository"]["name"]
    # The JSON inside the form, byte for byte, under the digest of those bytes: processing
    # and replay read it like any JSON delivery.
    assert row.payload_digest == payload_digest(document)
    stored = _stored(app, row.payload_digest)
    assert stored is not None
    assert bytes(stored.body) == document
    assert stored.content_type == "application/json"


async def test_form_and_json_copies_of_one_event_share_one_payload(app: Ingress) -> None:
    document = json.dumps(_example("issues", "opened")).encode()
    form_id, json_id = str(uuid.uuid4()), str(uuid.uuid4())
    form = ("payload=" + quote(document.decode(), safe="")).encode()  # %20 rather than +
    assert (await _post_form(app, "issues", form, delivery_id=form_id)).status_code == 202
    assert (await app.post("issues", document, delivery_id=json_id)).status_code == 202
    form_row, json_row = app.delivery(form_id), app.delivery(json_id)
    assert form_row is not None
    assert json_row is not None
    assert form_row.payload_digest == json_row.payload_digest == payload_digest(document)


async def test_signature_must_cover_the_form_body_not_the_json_inside(app: Ingress) -> None:
    document = json.dumps(_example("issues", "opened")).encode()
    form = urlencode({"payload": document}).encode()
    response = await _post_form(
        app, "issues", form, delivery_id=str(uuid.uuid4()), signed_over=document
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"payload_missing=1", "no 'payload' field"),
        (urlencode({"other": "{}"}).encode(), "no 'payload' field"),
        (b"payload=%7B%7D&payload=%7B%7D", "2 'payload' fields"),
        (urlencode({"payload": '{"action": broken'}).encode(), "not JSON"),
        (urlencode({"payload": "[1, 2]"}).encode(), "not an object"),
        (b"%%%", "cannot be decoded"),
        (b"", "no 'payload' field"),
    ],
)
async def test_form_body_without_usable_json_is_dead_lettered_not_5xx(
    app: Ingress, body: bytes, message: str
) -> None:
    delivery_id = str(uuid.uuid4())
    response = await _post_form(app, "issues", body, delivery_id=delivery_id)
    assert response.status_code == 200, response.text
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "DeadLettered"
    assert row.status_extra["error"]["type"] == "PayloadNotJson"
    assert message in row.status_extra["error"]["message"]
    # What came is kept as it came, for whoever looks at the dead letter.
    assert row.payload_digest == payload_digest(body)
    stored = _stored(app, row.payload_digest)
    assert stored is not None
    assert bytes(stored.body) == body
    assert stored.content_type == FORM_TYPE


async def test_other_content_types_are_still_415(app: Ingress) -> None:
    body = json.dumps(_example("issues", "opened")).encode()
    headers = sign_github(body, SECRET, event="issues", delivery_id=str(uuid.uuid4()))
    headers["Content-Type"] = "text/plain"
    response = await app.http.post(f"/webhooks/{ORG}/{PROVIDER}", content=body, headers=headers)
    assert response.status_code == 415
    assert FORM_TYPE in response.json()["error"]


async def test_form_is_415_for_a_type_whose_registry_entry_has_no_form_field(
    clean_database: str, tmp_path: Path
) -> None:
    # Gitea signs the payload before form encoding: its registry entry names no formField.
    gitea = provider_manifest()
    gitea["metadata"]["name"] = "gitea-a5c"
    gitea["spec"]["providerType"] = "gitea"
    gitea["spec"]["capabilities"] = {"issueTracking": True}
    apply_all(clean_database, [gitea])
    async with ingress(clean_database, tmp_path, client=None) as app:
        form = urlencode({"payload": "{}"}).encode()
        response = await _post_form(app, "issues", form, delivery_id="x", provider="gitea-a5c")
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
