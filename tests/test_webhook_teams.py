"""`team_add` and `team` deliveries (GitHub's published examples) through the real delivery
activity into Postgres: a team's access to a repository is a RepositoryPermission row of
principal kind "team", removed access is a tombstone."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from store.models.projections import RepositoryPermission
from tests.test_webhook_helpers import examples
from tests.webhook_store_helpers import DeliveryStore, delivery_store

REPO = "Octocoders/Hello-World"


@pytest.fixture
def store(clean_database: str) -> Iterator[DeliveryStore]:
    yield from delivery_store(clean_database, REPO)


def _team(event: str, action: str | None) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in examples()[event] if p.get("action") == action))


@pytest.mark.parametrize("index", range(len(examples()["team_add"])))
def test_team_add_projects_the_teams_role(store: DeliveryStore, index: int) -> None:
    payload = copy.deepcopy(examples()["team_add"][index])
    assert store.deliver("team_add", payload).processed == 1
    (row,) = store.rows(RepositoryPermission, principal_kind="team")
    assert row["principal"] == payload["team"]["slug"]
    assert row["permission"] == "read"  # GitHub's legacy "pull"
    assert row["repository"] == REPO


def test_added_then_removed_from_repository(store: DeliveryStore) -> None:
    added = _team("team", "added_to_repository")
    store.deliver("team", added)
    (row,) = store.rows(RepositoryPermission, principal_kind="team")
    assert (row["principal"], row["permission"], row["deleted_at"]) == ("github", "read", None)
    store.deliver("team", _team("team", "removed_from_repository"))
    (gone,) = store.rows(RepositoryPermission, principal_kind="team")
    assert gone["deleted_at"] is not None


def test_the_repositorys_flags_give_the_role(store: DeliveryStore) -> None:
    added = _team("team", "added_to_repository")
    added["repository"]["permissions"] = {"pull": True, "push": True, "admin": False}
    store.deliver("team", added)
    (row,) = store.rows(RepositoryPermission, principal_kind="team")
    assert row["permission"] == "write"


@pytest.mark.parametrize("action", ["created", "deleted", "edited"])
def test_team_events_without_a_repository_are_ignored(store: DeliveryStore, action: str) -> None:
    result = store.deliver("team", _team("team", action))
    assert result.processed == 0
    assert store.rows(RepositoryPermission) == []
