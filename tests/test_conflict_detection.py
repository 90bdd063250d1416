"""Three-way conflict detection: the pure comparison, and the merge the sync runs before upserts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from store import conflicts
from store.audit import list_audit
from store.conflicts import (
    ConflictError,
    ConflictStart,
    merge_incoming,
    record_local_edit,
    three_way,
)
from store.db import make_engine, session_scope
from store.models import Issue, SyncConflict
from store.upsert import UpsertOutcome, upsert, upsert_many

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
REPO = "a5c-ai/krate"
IDENTITY = {"org": "a5c", "provider_ref": "github-a5c", "repository": REPO, "number": 42}


# -- pure --------------------------------------------------------------------------------------


def test_both_changed_differently_is_a_conflict() -> None:
    result = three_way({"title": "base"}, {"title": "krate"}, {"title": "github"})
    assert [(c.path, c.base, c.local, c.external) for c in result.conflicts] == [
        ("title", "base", "krate", "github")
    ]
    assert result.pending == {}
    assert result.settled == []


def test_both_changed_to_the_same_value_is_settled() -> None:
    result = three_way({"title": "base"}, {"title": "same"}, {"title": "same"})
    assert result.conflicts == []
    assert result.settled == ["title"]


def test_only_krate_changed_stays_pending() -> None:
    result = three_way({"title": "base"}, {"title": "krate"}, {"title": "base"})
    assert result.conflicts == []
    assert result.pending == {"title": "krate"}


def test_fields_krate_did_not_touch_are_not_compared() -> None:
    # The provider changed the body only: no local change there, so the body simply applies.
    result = three_way({"title": "t", "body": "b"}, {"title": "krate"}, {"title": "t", "body": "x"})
    assert result.conflicts == []
    assert result.pending == {"title": "krate"}


def test_labels_compare_as_sets() -> None:
    result = three_way({"labels": ["a"]}, {"labels": ["b", "a"]}, {"labels": ["a", "b"]})
    assert result.settled == ["labels"]
    result = three_way({"labels": ["a"]}, {"labels": ["a", "b"]}, {"labels": ["a", "c"]})
    assert [c.path for c in result.conflicts] == ["labels"]


def test_a_local_value_equal_to_the_base_is_no_change() -> None:
    result = three_way({"state": "open"}, {"state": "open"}, {"state": "closed"})
    assert result.conflicts == []
    assert result.settled == ["state"]


# -- with the store ----------------------------------------------------------------------------


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    conflicts.set_conflict_starter(None)
    yield engine
    conflicts.set_conflict_starter(None)
    engine.dispose()


def external_issue(minutes: int, **fields: Any) -> dict[str, Any]:
    """A projected issue as the sync produces it: columns plus the provider snapshot."""
    values: dict[str, Any] = {
        "title": "original",
        "body": "text",
        "state": "open",
        "labels": ["bug"],
        **fields,
    }
    return {
        "org": "a5c",
        "provider_ref": "github-a5c",
        "binding_ref": "github-krate",
        "interface": "issueTracking",
        "native_kind": "issue",
        "native_id": "I42",
        "url": "https://github.com/a5c-ai/krate/issues/42",
        "etag": f'W/"v{minutes}"',
        "repository": REPO,
        "number": 42,
        "external_updated_at": T0 + timedelta(minutes=minutes),
        "base_snapshot": {"repository": REPO, "number": 42, **values},
        **values,
    }


def sync(engine: Engine, row: dict[str, Any]) -> UpsertOutcome:
    with session_scope(engine) as session:
        return upsert_many(session, Issue, merge_incoming(session, Issue, [row]))[0]


def stored(engine: Engine) -> Issue:
    with session_scope(engine) as session:
        row = session.exec(select(Issue)).one()
        session.expunge(row)
        return row


def edit(engine: Engine, **changes: Any) -> conflicts.LocalEdit:
    with session_scope(engine) as session:
        return record_local_edit(session, Issue, IDENTITY, changes, actor="user:ana")


def open_conflicts(engine: Engine) -> list[SyncConflict]:
    with session_scope(engine) as session:
        rows = list(session.exec(select(SyncConflict)).all())
        for r in rows:
            session.expunge(r)
        return rows


def test_a_local_edit_bumps_the_generation_and_stays_pending(engine: Engine) -> None:
    sync(engine, external_issue(0))
    result = edit(engine, title="krate title")
    assert result.local_generation == 1
    row = stored(engine)
    assert row.title == "krate title"
    assert row.local_changes == {"title": "krate title"}
    assert row.base_snapshot is not None
    assert row.base_snapshot["title"] == "original"
    # Editing back to the provider's value leaves nothing to write.
    assert edit(engine, title="original").pending == {}
    with session_scope(engine) as session:
        actions = [e.action for e in list_audit(session, subject_kind="Issue")]
    assert actions == ["local-edit", "local-edit"]


def test_local_edits_are_refused_for_unknown_fields_and_objects(engine: Engine) -> None:
    sync(engine, external_issue(0))
    with pytest.raises(ConflictError, match="not editable"):
        edit(engine, number=7)
    with session_scope(engine) as session, pytest.raises(ConflictError, match="no Issue"):
        record_local_edit(session, Issue, {**IDENTITY, "number": 1}, {"title": "x"}, actor="a")


def test_both_sides_changed_raises_a_conflict_and_keeps_the_local_value(engine: Engine) -> None:
    starts: list[ConflictStart] = []
    conflicts.set_conflict_starter(starts.extend)
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    assert sync(engine, external_issue(5, title="github title", body="new body")) == "updated"

    row = stored(engine)
    assert row.title == "krate title"  # not overwritten silently
    assert row.body == "new body"  # the provider's other change merged
    assert row.local_changes == {"title": "krate title"}
    assert row.base_snapshot is not None
    assert row.base_snapshot["title"] == "original"  # the agreed base is kept
    assert row.base_snapshot["body"] == "new body"
    [conflict] = open_conflicts(engine)
    assert row.conflict_ref == conflict.name
    assert conflict.phase == "Open"
    assert conflict.resource_kind == "Issue"
    assert conflict.native_url == "https://github.com/a5c-ai/krate/issues/42"
    assert conflict.local_generation == 1
    assert conflict.recommendation == "manual"
    assert conflict.fields == [
        {
            "path": "title",
            "baseValue": "original",
            "localValue": "krate title",
            "externalValue": "github title",
        }
    ]
    assert conflict.spec_extra["externalVersion"]["etag"] == 'W/"v5"'
    assert conflict.spec_extra["targetIdentity"] == IDENTITY
    # Its workflow is started only after the transaction committed.
    assert starts == [
        ConflictStart(
            org="a5c",
            namespace="krate-org-a5c",
            name=conflict.name,
            provider_ref="github-a5c",
            binding_ref="github-krate",
            interface="issueTracking",
        )
    ]
    with session_scope(engine) as session:
        assert [e.action for e in list_audit(session, subject_name=conflict.name)] == [
            "conflict-raised"
        ]


def test_both_sides_changed_to_the_same_value_settles_the_edit(engine: Engine) -> None:
    sync(engine, external_issue(0))
    edit(engine, title="agreed")
    sync(engine, external_issue(5, title="agreed"))
    row = stored(engine)
    assert row.title == "agreed"
    assert row.local_changes == {}
    assert row.conflict_ref is None
    assert open_conflicts(engine) == []


def test_only_the_provider_changed_merges(engine: Engine) -> None:
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    sync(engine, external_issue(5, state="closed", labels=["bug", "p1"]))
    row = stored(engine)
    assert (row.title, row.state, row.labels) == ("krate title", "closed", ["bug", "p1"])
    assert row.local_changes == {"title": "krate title"}  # still to be written
    assert open_conflicts(engine) == []


def test_a_stale_external_row_is_not_compared(engine: Engine) -> None:
    sync(engine, external_issue(5))
    edit(engine, title="krate title")
    assert sync(engine, external_issue(1, title="older github title")) == "stale"
    assert stored(engine).title == "krate title"
    assert open_conflicts(engine) == []


def test_a_rolled_back_conflict_starts_nothing(engine: Engine) -> None:
    starts: list[ConflictStart] = []
    conflicts.set_conflict_starter(starts.extend)
    sync(engine, external_issue(0))
    edit(engine, title="krate title")

    def failing_page() -> None:
        with session_scope(engine) as session:
            row = merge_incoming(session, Issue, [external_issue(5, title="g")])[0]
            upsert(session, Issue, row)
            raise RuntimeError("the page failed")

    with pytest.raises(RuntimeError):
        failing_page()
    assert starts == []
    assert open_conflicts(engine) == []
    assert stored(engine).conflict_ref is None


def test_a_second_external_change_updates_the_open_conflict(engine: Engine) -> None:
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    sync(engine, external_issue(5, title="github title"))
    sync(engine, external_issue(9, title="github title 2"))
    [conflict] = open_conflicts(engine)
    assert conflict.fields[0]["externalValue"] == "github title 2"
    assert conflict.fields[0]["baseValue"] == "original"
    assert stored(engine).title == "krate title"


def test_edits_of_a_field_in_conflict_are_refused(engine: Engine) -> None:
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    sync(engine, external_issue(5, title="github title"))
    with pytest.raises(ConflictError, match="resolve it first"):
        edit(engine, title="again")
    edit(engine, body="other field is fine")


def test_the_provider_coming_round_closes_the_open_conflict(engine: Engine) -> None:
    starts: list[ConflictStart] = []
    conflicts.set_conflict_starter(starts.extend)
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    sync(engine, external_issue(5, title="github title"))
    [conflict] = open_conflicts(engine)
    # Someone at the provider adopts Krate's title: nothing is in conflict any more.
    sync(engine, external_issue(9, title="krate title"))
    row = stored(engine)
    assert (row.title, row.conflict_ref, row.local_changes) == ("krate title", None, {})
    [closed] = open_conflicts(engine)
    assert closed.phase == "Superseded"
    assert "no field in conflict" in closed.status_extra["reason"]
    # Its running workflow is told to reload (and so finishes).
    assert starts[-1] == ConflictStart("a5c", "krate-org-a5c", conflict.name, action="refresh")
    with session_scope(engine) as session:
        actions = [e.action for e in reversed(list_audit(session, subject_name=conflict.name))]
    assert actions == ["conflict-raised", "conflict-superseded"]


def test_a_backfill_page_goes_through_the_merge(engine: Engine) -> None:
    from typing import cast

    from activities.backfill import BackfillActivities
    from activities.provider_factory import ProviderFactory

    page = BackfillActivities(lambda: engine, cast(ProviderFactory, None))
    page._write([(Issue, external_issue(0))], False)
    edit(engine, title="krate title")
    counts, _ = page._write([(Issue, external_issue(5, title="github title"))], False)
    assert counts[UpsertOutcome.UPDATED] == 1
    row = stored(engine)
    assert row.title == "krate title"
    assert row.conflict_ref is not None
    [conflict] = open_conflicts(engine)
    assert conflict.fields[0]["externalValue"] == "github title"
