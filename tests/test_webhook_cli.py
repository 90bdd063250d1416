"""`krate-sync webhooks replay ID`, `krate-sync webhooks list` and `get deliveries --phase`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from activities.deliveries import find_delivery, set_processing
from resources.phases import DeliveryPhase
from store.db import session_scope
from tests.helpers.cli import run_cli
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
)


async def _dead_letter(database_url: str, tmp_path: Path) -> str:
    """A delivery received for a bound repository, then dead-lettered by (simulated) faults."""
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    apply_all(database_url, [provider_manifest(), binding_manifest(owner, name)])
    delivery_id = str(uuid.uuid4())
    async with ingress(database_url, tmp_path, client=None) as app:
        assert (await app.post("issues", opened, delivery_id=delivery_id)).status_code == 202
        with session_scope(app.engine) as session:
            row = find_delivery(session, ORG, PROVIDER, delivery_id, lock=True)
            assert row is not None
            set_processing(
                row,
                DeliveryPhase.DEAD_LETTERED,
                attempts=5,
                error={"type": "RuntimeError", "message": "boom"},
            )
            session.add(row)
    return delivery_id


def test_replay_requeues_a_dead_letter_once_and_get_filters_by_phase(
    clean_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Synchronous: the command line runs its own event loop, as it does for a user.
    delivery_id = asyncio.run(_dead_letter(clean_database, tmp_path))
    env = {
        "KRATE_DATABASE_URL": clean_database,
        "KRATE_TEMPORAL_ADDRESS": "127.0.0.1:1",  # Temporal down: the sweeper takes over
    }
    listed = run_cli(
        monkeypatch,
        "get",
        "deliveries",
        "--org",
        ORG,
        "--phase",
        "DeadLettered",
        "-o",
        "name",
        env=env,
    )
    assert listed.code == 0, listed.stderr
    assert len(listed.stdout.strip().splitlines()) == 1

    first = run_cli(monkeypatch, "webhooks", "replay", delivery_id, "--org", ORG, env=env)
    assert first.code == 0, first.stderr
    assert "re-queued (was DeadLettered, 5 attempts so far)" in first.stdout
    assert "sweeper" in first.stdout
    second = run_cli(monkeypatch, "webhooks", "replay", delivery_id, "--org", ORG, env=env)
    assert second.code == 0
    assert "delivery is Queued" in second.stdout

    queued = run_cli(
        monkeypatch, "webhooks", "list", "--org", ORG, "--phase", "Queued", "-o", "json", env=env
    )
    assert delivery_id in queued.stdout
    missing = run_cli(monkeypatch, "webhooks", "replay", "nope", "--org", ORG, env=env)
    assert missing.code == 1
