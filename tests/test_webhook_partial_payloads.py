"""Webhook payloads that lack fields change only what they carry (GitHub's published examples,
real Postgres, the real delivery activity).

`issues` `pinned`/`unpinned` carry no `state`, `labels` or `locked`; the first published
`pull_request_review_comment` has no `line`. Without care the mapping's placeholders (state
"open", no labels, no line) would overwrite the stored values."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from activities.projection import Owner, project
from providers.github.mapping import MappingContext
from providers.github.webhooks import normalize
from store.models.projections import Comment, Issue
from store.partial import PartialRow
from tests.test_webhook_helpers import examples
from tests.webhook_store_helpers import DeliveryStore, delivery_store

REPO = "Codertocat/Hello-World"
NOW = datetime(2026, 5, 11, 12, tzinfo=UTC)

# What the survey of every published example of the projected events found: (event, action,
# index among that event's examples) -> the columns the payload lacks. Every other example
# carries every column it projects.
PARTIAL_EXAMPLES = {
    # The phase is computed from the state, so it is as unknown as the state.
    ("issues", "pinned", 19): {"state", "phase", "labels"},
    ("issues", "unpinned", 28): {"state", "phase", "labels"},
    ("pull_request_review_comment", "created", 0): {"line"},
}
SURVEYED = (
    "issues issue_comment pull_request pull_request_review pull_request_review_comment "
    "workflow_run workflow_job repository member deploy_key check_run check_suite status "
    "team_add team"
).split()


def test_the_survey_of_published_examples_finds_exactly_the_partial_payloads() -> None:
    found: dict[tuple[str, str, int], set[str]] = {}
    for event in SURVEYED:
        for index, payload in enumerate(examples()[event]):
            action = payload.get("action")
            result = normalize(event, action, payload, MappingContext(), received_at=NOW)
            for obj in result.objects:
                projected = project(obj, Owner(org="o", provider_ref="p"))
                if projected is not None and isinstance(projected[1], PartialRow):
                    if projected[1].absent:
                        found[(event, str(action), index)] = set(projected[1].absent)
    assert found == PARTIAL_EXAMPLES


@pytest.fixture
def store(clean_database: str) -> Iterator[DeliveryStore]:
    yield from delivery_store(clean_database, REPO)


def _example(event: str, action: str) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in examples()[event] if p.get("action") == action))


def _closed_bug(issue: dict[str, Any]) -> dict[str, Any]:
    """The same issue as a complete `closed` event an hour before the partial one."""
    payload = _example("issues", "pinned")
    payload["action"] = "closed"
    full = copy.deepcopy(issue)
    full.update(
        state="closed",
        locked=False,
        labels=[{"id": 1, "name": "bug", "color": "d73a4a", "default": True}],
        title="an older title",
        updated_at="2019-05-15T14:20:18Z",
        closed_at="2019-05-15T14:20:18Z",
    )
    payload["issue"] = full
    return payload


@pytest.mark.parametrize("action", ["pinned", "unpinned"])
def test_a_pin_keeps_the_stored_state_and_labels_and_applies_what_it_carries(
    store: DeliveryStore, action: str
) -> None:
    partial = _example("issues", action)
    assert "state" not in partial["issue"]
    assert "labels" not in partial["issue"]
    store.deliver("issues", _closed_bug(partial["issue"]))
    (before,) = store.rows(Issue, number=partial["issue"]["number"])
    assert (before["state"], before["phase"], before["labels"]) == ("closed", "Closed", ["bug"])

    store.deliver("issues", partial)
    (after,) = store.rows(Issue, number=partial["issue"]["number"])
    assert after["state"] == "closed"
    assert after["phase"] == "Closed"  # not the placeholder state's "Open"
    assert after["labels"] == ["bug"]
    # What the payload does carry is applied: it is newer.
    assert after["title"] == partial["issue"]["title"]
    assert after["external_updated_at"] == datetime(2019, 5, 15, 15, 20, 18, tzinfo=UTC)
    # The base of conflict detection keeps the stored state too, and takes the new title.
    assert after["base_snapshot"]["state"] == "closed"
    assert after["base_snapshot"]["labels"] == ["bug"]
    assert after["base_snapshot"]["title"] == partial["issue"]["title"]


def test_a_pin_of_an_unknown_issue_inserts_it_with_placeholders(store: DeliveryStore) -> None:
    partial = _example("issues", "pinned")
    result = store.deliver("issues", partial)
    assert result.processed == 1
    (row,) = store.rows(Issue, number=partial["issue"]["number"])
    # NOT NULL needs a value; the next full read of the issue replaces these by version.
    assert (row["state"], row["labels"]) == ("open", [])
    assert row["title"] == partial["issue"]["title"]


def test_a_review_comment_without_line_keeps_the_stored_line(store: DeliveryStore) -> None:
    partial = _example("pull_request_review_comment", "created")
    assert "line" not in partial["comment"]
    assert "original_line" not in partial["comment"]
    full = copy.deepcopy(partial)
    full["action"] = "edited"
    full["comment"].update(line=7, body="older body", updated_at="2019-05-15T14:00:00Z")
    store.deliver("pull_request_review_comment", full)
    store.deliver("pull_request_review_comment", partial)
    (row,) = store.rows(Comment, native_id=str(partial["comment"]["id"]))
    assert row["line"] == 7
    assert row["body"] == partial["comment"]["body"]
