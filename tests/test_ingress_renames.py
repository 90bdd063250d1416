"""Deliveries reach their binding by the repository's stable id, through a rename and a transfer.

The real receiver (ASGI, real Postgres, Temporal down: deliveries stay Queued) and the real
`process_deliveries` activity, with GitHub's published `repository.renamed`,
`repository.transferred` and `issues` payloads. The binding's externalRef keeps the name the
repository had when it was applied.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from activities.deliveries import DeliveryActivities
from activities.deliveries_models import ProcessDeliveriesInput
from store.db import session_scope
from store.models import Issue, Repository
from tests.test_webhook_helpers import (
    NAMESPACE,
    ORG,
    PROVIDER,
    Ingress,
    apply_all,
    binding_manifest,
    examples,
    ingress,
    provider_manifest,
)

BINDING = "gh-hello-world"
TTL = 0.05  # the config cache's revalidation period in these tests


def _example(event: str, action: str) -> dict[str, Any]:
    found = next(p for p in examples()[event] if p.get("action") == action)
    return copy.deepcopy(found)


RENAMED = _example("repository", "renamed")
TRANSFERRED = _example("repository", "transferred")
REPO_ID = RENAMED["repository"]["id"]
OLD = RENAMED["repository"]["full_name"]  # "Octocoders/Hello-World"


def _renamed_to(name: str, updated_at: str) -> dict[str, Any]:
    payload = copy.deepcopy(RENAMED)
    repo = payload["repository"]
    payload["changes"] = {"repository": {"name": {"from": repo["name"]}}}
    repo["name"] = name
    repo["full_name"] = f"{repo['owner']['login']}/{name}"
    repo["updated_at"] = updated_at
    return payload


def _transferred_to(owner: str, name: str, updated_at: str) -> dict[str, Any]:
    payload = copy.deepcopy(TRANSFERRED)
    repo = payload["repository"]
    repo["owner"]["login"] = owner
    repo["name"] = name
    repo["full_name"] = f"{owner}/{name}"
    repo["updated_at"] = updated_at
    return payload


def _issue(repository: dict[str, Any], action: str, title: str, updated_at: str) -> dict[str, Any]:
    payload = _example("issues", action)
    payload["repository"] = copy.deepcopy(repository)
    payload["issue"]["title"] = title
    payload["issue"]["updated_at"] = updated_at
    return payload


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    owner, name = OLD.split("/")
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name, name=BINDING)])
    async with ingress(clean_database, tmp_path, client=None, config_ttl=TTL) as running:
        yield running


async def _deliver(app: Ingress, event: str, payload: dict[str, Any]) -> str:
    """Post one delivery and process it as the binding's workflow would; its final phase."""
    delivery_id = str(uuid.uuid4())
    await asyncio.sleep(TTL * 2)  # past the cache's revalidation: what the store knows counts
    response = await app.post(event, payload, delivery_id=delivery_id)
    assert response.status_code in (200, 202), response.text
    row = app.delivery(delivery_id)
    assert row is not None
    if row.phase == "Queued":
        assert row.binding_ref == BINDING
        DeliveryActivities(app.engine).process_deliveries(
            ProcessDeliveriesInput(
                org=ORG,
                namespace=NAMESPACE,
                provider=PROVIDER,
                provider_type="github",
                binding=BINDING,
                delivery_ids=[delivery_id],
            )
        )
        row = app.delivery(delivery_id)
        assert row is not None
    return str(row.phase)


def _issues(app: Ingress) -> list[tuple[str, int, str]]:
    with session_scope(app.engine) as session:
        found = session.exec(select(Issue).order_by(col(Issue.id))).all()
        return [(i.repository, i.number, i.title) for i in found]


def _repository_name(app: Ingress) -> str:
    with session_scope(app.engine) as session:
        return (
            session.exec(select(Repository).where(Repository.native_id == str(REPO_ID)))
            .one()
            .full_name
        )


async def test_deliveries_follow_the_repository_id_through_rename_and_transfer(
    app: Ingress,
) -> None:
    # Before any sync no id is known: the name in the binding's externalRef takes it.
    assert await _deliver(app, "repository", RENAMED) == "Processed"
    original = copy.deepcopy(RENAMED["repository"])
    assert (
        await _deliver(app, "issues", _issue(original, "opened", "first", "2019-05-15T15:20:50Z"))
        == "Processed"
    )
    assert _issues(app) == [(OLD, 1, "first")]

    renamed = _renamed_to("Hello-Universe", "2019-05-15T15:21:00Z")
    new = renamed["repository"]["full_name"]
    assert await _deliver(app, "repository", renamed) == "Processed"
    assert _repository_name(app) == new
    assert _issues(app) == [(new, 1, "first")]

    # Under the new name, which no externalRef names, and under the old one: the id decides.
    later = _issue(renamed["repository"], "edited", "after the rename", "2019-05-15T15:22:00Z")
    assert await _deliver(app, "issues", later) == "Processed"
    late = _issue(original, "edited", "sent before the rename", "2019-05-15T15:20:55Z")
    assert await _deliver(app, "issues", late) == "Processed"
    assert _issues(app) == [(new, 1, "after the rename")]  # one row, the newest version

    # The rename delivered again changes nothing.
    assert await _deliver(app, "repository", renamed) == "Processed"
    assert _issues(app) == [(new, 1, "after the rename")]

    transferred = _transferred_to("octo-org", "Hello-Universe", "2019-05-15T15:23:00Z")
    assert await _deliver(app, "repository", transferred) == "Processed"
    assert _repository_name(app) == "octo-org/Hello-Universe"
    assert _issues(app) == [("octo-org/Hello-Universe", 1, "after the rename")]
    moved = _issue(
        transferred["repository"], "edited", "after the transfer", "2019-05-15T15:24:00Z"
    )
    assert await _deliver(app, "issues", moved) == "Processed"
    assert _issues(app) == [("octo-org/Hello-Universe", 1, "after the transfer")]


async def test_a_new_repository_that_took_the_old_name_is_not_the_bound_one(app: Ingress) -> None:
    assert await _deliver(app, "repository", RENAMED) == "Processed"  # the id is now known
    assert (
        await _deliver(app, "repository", _renamed_to("Hello-Universe", "2019-05-15T15:21:00Z"))
        == "Processed"
    )
    stranger = copy.deepcopy(RENAMED["repository"])  # same name as the externalRef, other id
    stranger["id"] = 4242
    delivery_id = str(uuid.uuid4())
    await asyncio.sleep(TTL * 2)
    payload = _issue(stranger, "opened", "not ours", "2019-05-15T15:25:00Z")
    response = await app.post("issues", payload, delivery_id=delivery_id)
    assert response.status_code == 200
    row = app.delivery(delivery_id)
    assert row is not None
    assert row.phase == "Ignored"
    assert "id 4242" in str(row.status_extra.get("reason"))
    assert _issues(app) == []
