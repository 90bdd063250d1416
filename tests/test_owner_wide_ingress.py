"""Owner-wide bindings at the front door: a delivery for any repository of the owner reaches
the binding, one for another owner does not, and GitHub's published `installation_repositories`
and `repository` payloads add and remove the owner's repositories.

The real receiver (ASGI, real Postgres, Temporal down: deliveries stay Queued), then the
activities the binding's workflow runs on them (`process_deliveries`, `note_repository_events`).
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
from temporalio.testing import ActivityEnvironment

from activities.backfill_models import BindingRef
from activities.deliveries import DeliveryActivities
from activities.deliveries_models import ProcessDeliveriesInput
from activities.owner_repositories import OwnerRepositoryActivities
from activities.owner_repositories_models import RepositoryEventsInput
from activities.provider_factory import ProviderFactory
from store.db import session_scope
from store.models import OwnerRepository
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

BINDING = "gh-codertocat"
OWNER = "Codertocat"  # the account of the published installation_repositories examples
TTL = 0.05


def _example(event: str, action: str) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in examples()[event] if p.get("action") == action))


def _owner_wide_binding() -> dict[str, Any]:
    manifest = binding_manifest(OWNER, "unused", name=BINDING)
    manifest["spec"]["externalRef"] = {"owner": OWNER}
    manifest["spec"]["targetRef"] = {"kind": "Organization", "name": "codertocat"}
    return manifest


@pytest.fixture
async def app(clean_database: str, tmp_path: Path) -> AsyncIterator[Ingress]:
    apply_all(clean_database, [provider_manifest(), _owner_wide_binding()])
    async with ingress(clean_database, tmp_path, client=None, config_ttl=TTL) as running:
        yield running


def _binding_ref() -> BindingRef:
    return BindingRef(
        org=ORG, namespace=NAMESPACE, binding=BINDING, provider=PROVIDER, provider_type="github"
    )


async def _deliver(app: Ingress, event: str, payload: dict[str, Any]) -> tuple[str, str | None]:
    """Post one delivery; when queued, process it as the binding's workflow would. Its final
    phase and binding."""
    delivery_id = str(uuid.uuid4())
    await asyncio.sleep(TTL * 2)
    response = await app.post(event, payload, delivery_id=delivery_id)
    assert response.status_code in (200, 202), response.text
    row = app.delivery(delivery_id)
    assert row is not None
    if row.phase == "Queued":
        DeliveryActivities(app.engine).process_deliveries(
            ProcessDeliveriesInput(
                org=ORG,
                namespace=NAMESPACE,
                provider=PROVIDER,
                provider_type="github",
                binding=str(row.binding_ref),
                delivery_ids=[delivery_id],
            )
        )
        owners = OwnerRepositoryActivities(
            lambda: app.engine, ProviderFactory(Path("/nonexistent"))
        )
        await ActivityEnvironment().run(
            owners.note_repository_events,
            RepositoryEventsInput(binding=_binding_ref(), owner=OWNER, delivery_ids=[delivery_id]),
        )
        row = app.delivery(delivery_id)
        assert row is not None
    return str(row.phase), row.binding_ref


def _members(app: Ingress) -> dict[str, tuple[str, bool, str | None]]:
    with session_scope(app.engine) as session:
        rows = session.exec(select(OwnerRepository).order_by(col(OwnerRepository.id))).all()
        return {r.native_id: (r.full_name, r.present, r.removed_reason) for r in rows}


async def test_installation_repositories_added_and_removed_reach_the_owner_wide_binding(
    app: Ingress,
) -> None:
    added = _example("installation_repositories", "added")
    assert added["installation"]["account"]["login"] == OWNER
    space = added["repositories_added"][0]
    phase, binding = await _deliver(app, "installation_repositories", added)
    assert binding == BINDING
    assert phase == "Ignored"  # nothing to project; the membership is what counts
    assert _members(app) == {str(space["id"]): ("Codertocat/Space", True, None)}

    # The published `removed` example is octocat's installation: addressed to Codertocat's.
    removed = _example("installation_repositories", "removed")
    removed["installation"]["account"] = copy.deepcopy(added["installation"]["account"])
    removed["repositories_removed"] = [copy.deepcopy(space)]
    _, binding = await _deliver(app, "installation_repositories", removed)
    assert binding == BINDING
    assert _members(app) == {
        str(space["id"]): ("Codertocat/Space", False, "removed from the GitHub App installation")
    }


async def test_the_installation_of_another_account_is_ignored(app: Ingress) -> None:
    removed = _example("installation_repositories", "removed")  # octocat's installation
    phase, binding = await _deliver(app, "installation_repositories", removed)
    assert (phase, binding) == ("Ignored", None)
    assert _members(app) == {}


async def test_repository_created_in_the_owner_joins_and_elsewhere_is_ignored(
    app: Ingress,
) -> None:
    created = _example("repository", "created")
    assert created["repository"]["owner"]["login"] == "Octocoders"
    phase, binding = await _deliver(app, "repository", created)
    assert (phase, binding) == ("Ignored", None)  # another owner: not this binding's

    mine = copy.deepcopy(created)
    mine["repository"]["owner"]["login"] = OWNER
    mine["repository"]["full_name"] = f"{OWNER}/Hello-World"
    phase, binding = await _deliver(app, "repository", mine)
    assert (phase, binding) == ("Processed", BINDING)
    native_id = str(mine["repository"]["id"])
    assert _members(app) == {native_id: (f"{OWNER}/Hello-World", True, None)}

    # Transferred away (the published example moves it from octocat to Octocoders: here from
    # Codertocat): the former owner's binding learns that it left.
    transferred = _example("repository", "transferred")
    transferred["repository"]["id"] = mine["repository"]["id"]
    transferred["changes"]["owner"]["from"]["user"]["login"] = OWNER
    _, binding = await _deliver(app, "repository", transferred)
    assert binding == BINDING
    assert _members(app) == {
        native_id: ("Octocoders/Hello-World", False, "transferred to Octocoders")
    }
