"""The read API: bearer tokens with roles, filters, raw payloads gated by role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    Ingress,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
)

API = f"/api/v1/orgs/{ORG}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    async with ingress(clean_database, tmp_path, client=None) as running:
        yield running


async def test_requests_without_a_valid_token_are_401(app: Ingress) -> None:
    assert (await app.http.get(f"{API}/deliveries")).status_code == 401
    bad = await app.http.get(f"{API}/deliveries", headers=_auth("guess"))
    assert bad.status_code == 401


async def test_read_only_token_lists_but_gets_403_on_raw_payload(app: Ingress) -> None:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    delivery_id = str(uuid.uuid4())
    assert (await app.post("issues", opened, delivery_id=delivery_id)).status_code == 202
    await app.post("issues", b"not json")

    listed = await app.http.get(
        f"{API}/deliveries", params={"phase": "Queued"}, headers=_auth("viewer-token")
    )
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["spec"]["deliveryId"] for i in items] == [delivery_id]
    dead = await app.http.get(
        f"{API}/deliveries",
        params={"phase": "DeadLettered", "provider": PROVIDER},
        headers=_auth("viewer-token"),
    )
    assert len(dead.json()["items"]) == 1

    one = await app.http.get(f"{API}/deliveries/{delivery_id}", headers=_auth("viewer-token"))
    assert one.status_code == 200
    assert one.json()["spec"]["processing"]["phase"] == "Queued"

    payload_url = f"{API}/deliveries/{delivery_id}/payload"
    assert (await app.http.get(payload_url, headers=_auth("viewer-token"))).status_code == 403
    raw = await app.http.get(payload_url, headers=_auth("operator-token"))
    assert raw.status_code == 200
    assert raw.json()["action"] == "opened"

    replay = await app.http.post(
        f"{API}/deliveries/{delivery_id}/replay", headers=_auth("viewer-token")
    )
    assert replay.status_code == 403


async def test_events_projections_and_states_answer(app: Ingress) -> None:
    for path in ("events", "syncstates", "bindings/x/projections/issues"):
        response = await app.http.get(f"{API}/{path}", headers=_auth("viewer-token"))
        assert response.status_code == 200, path
        assert response.json()["items"] == []
    unknown = await app.http.get(
        f"{API}/bindings/x/projections/nope", headers=_auth("viewer-token")
    )
    assert unknown.status_code == 404
