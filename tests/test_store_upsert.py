"""Version-guarded upserts: newest provider version wins, whatever order events arrive in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from store.db import make_engine, session_scope
from store.models import PROJECTION_TABLES, GitRef, Issue, Projection, PullRequest
from store.upsert import (
    UpsertOutcome,
    count_outcomes,
    database_now,
    mark_deleted,
    mark_unseen_deleted,
    upsert,
    upsert_many,
)
from tests.helpers.rows import minimal_row

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
REPO = "a5c-ai/krate"


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    yield engine
    engine.dispose()


def issue(number: int = 42, *, minutes: int | None = 0, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "org": "a5c",
        "provider_ref": "github-a5c",
        "binding_ref": "github-krate",
        "interface": "issueTracking",
        "native_kind": "issue",
        "native_id": f"I{number}",
        "repository": REPO,
        "number": number,
        "title": f"title at {minutes}",
        "state": "open",
        "external_updated_at": None if minutes is None else T0 + timedelta(minutes=minutes),
    }
    row.update(fields)
    return row


def stored_issue(engine: Engine, number: int = 42) -> Issue:
    with session_scope(engine) as session:
        return session.exec(select(Issue).where(Issue.number == number)).one()


def test_newer_wins_older_is_stale_same_is_unchanged_a_tie_is_marked(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert upsert(session, Issue, issue(minutes=5)) is UpsertOutcome.INSERTED
        assert upsert(session, Issue, issue(minutes=10)) is UpsertOutcome.UPDATED
        assert upsert(session, Issue, issue(minutes=1, title="old")) is UpsertOutcome.STALE
        assert upsert(session, Issue, issue(minutes=10)) is UpsertOutcome.UNCHANGED
    assert stored_issue(engine).refresh_wanted_at is None
    with session_scope(engine) as session:
        tie = issue(minutes=10, title="same second, other text")
        assert upsert(session, Issue, tie) is UpsertOutcome.TIED
    row = stored_issue(engine)
    # Neither side can say which is newer: the stored row stays, marked for a fresh read.
    assert row.title == "title at 10"
    assert row.external_updated_at == T0 + timedelta(minutes=10)
    assert row.refresh_wanted_at is not None
    with session_scope(engine) as session:
        assert upsert(session, Issue, issue(minutes=11)) is UpsertOutcome.UPDATED
    # A newer version settles it: the mark goes.
    assert stored_issue(engine).refresh_wanted_at is None


def test_a_row_without_a_version_accepts_any_and_never_beats_a_version(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert upsert(session, Issue, issue(minutes=None, title="unversioned")) == "inserted"
        assert upsert(session, Issue, issue(minutes=0)) is UpsertOutcome.UPDATED
        unversioned = issue(minutes=None, title="late, no version")
        assert upsert(session, Issue, unversioned) is UpsertOutcome.STALE
    assert stored_issue(engine).title == "title at 0"


def test_versions_as_iso_strings_are_understood(engine: Engine) -> None:
    with session_scope(engine) as session:
        upsert(session, Issue, issue(external_updated_at="2026-05-11T12:00:00Z"))
        later = issue(title="later", external_updated_at="2026-05-11T12:00:01+00:00")
        assert upsert(session, Issue, later) is UpsertOutcome.UPDATED


@pytest.mark.parametrize("seed", range(5))
def test_any_arrival_order_converges_to_the_newest(engine: Engine, seed: int) -> None:
    events = [issue(minutes=m, state="closed" if m % 2 else "open") for m in range(12)]
    random.Random(seed).shuffle(events)
    with session_scope(engine) as session:
        outcomes = [upsert(session, Issue, e) for e in events]
    row = stored_issue(engine)
    assert (row.title, row.state) == ("title at 11", "closed")
    counts = count_outcomes(outcomes)
    assert counts[UpsertOutcome.INSERTED] == 1
    assert counts[UpsertOutcome.UPDATED] + counts[UpsertOutcome.STALE] == 11
    # Each update is a version newer than everything before it in the shuffled order.
    newer_than_all_before = sum(
        1
        for i, e in enumerate(events)
        if i and e["external_updated_at"] > max(x["external_updated_at"] for x in events[:i])
    )
    assert counts[UpsertOutcome.UPDATED] == newer_than_all_before


@pytest.mark.parametrize("seed", range(3))
def test_shuffled_pages_converge_too(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    events = [issue(n, minutes=m) for n in range(1, 6) for m in range(6)]
    rng.shuffle(events)
    with session_scope(engine) as session:
        for start in range(0, len(events), 7):
            upsert_many(session, Issue, events[start : start + 7])
    with session_scope(engine) as session:
        rows = session.exec(select(Issue).order_by(col(Issue.number))).all()
        assert [(r.number, r.title) for r in rows] == [(n, "title at 5") for n in range(1, 6)]


def test_a_page_is_one_statement_with_outcomes_in_input_order(engine: Engine) -> None:
    page = [issue(n, minutes=1) for n in range(1, 101)]
    with session_scope(engine) as session:
        upsert(session, Issue, issue(7, minutes=3))
        upsert(session, Issue, issue(8, minutes=1))
        upsert(session, Issue, issue(9, minutes=0))

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", count)
    with session_scope(engine) as session:
        outcomes = upsert_many(session, Issue, page)
    event.remove(engine, "before_cursor_execute", count)

    assert len(statements) == 1
    assert outcomes[6:9] == [UpsertOutcome.STALE, UpsertOutcome.UNCHANGED, UpsertOutcome.UPDATED]
    assert count_outcomes(outcomes)[UpsertOutcome.INSERTED] == 97


def test_duplicates_in_one_page_keep_the_newest(engine: Engine) -> None:
    page = [issue(minutes=2), issue(minutes=9), issue(minutes=9, title="tie"), issue(minutes=4)]
    with session_scope(engine) as session:
        outcomes = upsert_many(session, Issue, page)
    assert outcomes == [
        UpsertOutcome.STALE,
        UpsertOutcome.INSERTED,
        UpsertOutcome.TIED,  # same version, other title: the kept row waits for a fresh read
        UpsertOutcome.STALE,
    ]
    stored = stored_issue(engine)
    assert stored.title == "title at 9"
    assert stored.refresh_wanted_at is not None


def test_issue_and_pull_request_numbers_make_one_record_each(engine: Engine) -> None:
    # GitHub reports PR 42 from the pulls API (PR id) and the issues API (issue id): one row.
    pull = {
        "org": "a5c",
        "provider_ref": "github-a5c",
        "interface": "gitForge",
        "repository": REPO,
        "number": 42,
        "title": "Add store",
        "state": "open",
    }
    with session_scope(engine) as session:
        first = {**pull, "native_id": "PR_1001", "external_updated_at": T0}
        second = {**pull, "native_id": "ISSUE_2002", "external_updated_at": T0}
        assert upsert(session, PullRequest, first) is UpsertOutcome.INSERTED
        assert upsert(session, PullRequest, second) is UpsertOutcome.UNCHANGED
        assert upsert(session, Issue, issue(41, native_id="a")) is UpsertOutcome.INSERTED
        assert upsert(session, Issue, issue(41, native_id="b")) is UpsertOutcome.UNCHANGED
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(PullRequest)).one() == 1
        assert session.exec(select(func.count()).select_from(Issue)).one() == 1
        assert session.exec(select(PullRequest.native_id)).one() == "PR_1001"


def test_unversioned_objects_take_the_last_write_and_notice_no_change(engine: Engine) -> None:
    ref = {
        "org": "a5c",
        "provider_ref": "github-a5c",
        "interface": "gitForge",
        "repository": REPO,
        "kind": "branch",
        "name": "main",
        "sha": "aaa",
    }
    with session_scope(engine) as session:
        assert upsert(session, GitRef, ref) is UpsertOutcome.INSERTED
        assert upsert(session, GitRef, ref) is UpsertOutcome.UNCHANGED
        assert upsert(session, GitRef, {**ref, "sha": "bbb"}) is UpsertOutcome.UPDATED
        tag = {**ref, "kind": "tag"}
        assert upsert(session, GitRef, tag) is UpsertOutcome.INSERTED


def test_full_resync_tombstones_what_it_did_not_see_and_reappearance_restores(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        upsert_many(session, Issue, [issue(n, minutes=1) for n in (1, 2, 3)])
        upsert(session, Issue, issue(9, repository="a5c-ai/other", minutes=1))
    with session_scope(engine) as session:
        started = database_now(session)
        upsert_many(session, Issue, [issue(1, minutes=1), issue(2, minutes=0)])  # 2 is stale
        marked = mark_unseen_deleted(
            session,
            Issue,
            org="a5c",
            provider_ref="github-a5c",
            seen_since=started,
            scope={"repository": REPO},
        )
    assert marked == 1
    with session_scope(engine) as session:
        live = session.exec(select(Issue.number).where(Issue.deleted_at == None)).all()  # noqa: E711
        assert sorted(live) == [1, 2, 9]
        # The same version seen again: still there after all, so the tombstone goes.
        assert upsert(session, Issue, issue(3, minutes=1)) is UpsertOutcome.UPDATED
    assert stored_issue(engine, 3).deleted_at is None


def test_deleted_event_beats_a_late_older_update(engine: Engine) -> None:
    key = {"org": "a5c", "provider_ref": "github-a5c", "repository": REPO, "number": 42}
    with session_scope(engine) as session:
        upsert(session, Issue, issue(minutes=1))
        assert mark_deleted(session, Issue, key, version=T0 + timedelta(minutes=5))
        assert upsert(session, Issue, issue(minutes=3)) is UpsertOutcome.STALE
        assert not mark_deleted(session, Issue, {**key, "number": 7})
    row = stored_issue(engine)
    assert row.deleted_at is not None
    assert row.title == "title at 1"
    with session_scope(engine) as session:
        # Recreated at the provider later: a newer version brings it back.
        assert upsert(session, Issue, issue(minutes=8)) is UpsertOutcome.UPDATED
    assert stored_issue(engine).deleted_at is None


def test_identity_values_may_come_as_text_and_an_empty_page_is_fine(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert upsert(session, Issue, issue(number="42")) is UpsertOutcome.INSERTED  # type: ignore[arg-type]
        assert upsert(session, Issue, issue(42, minutes=1)) is UpsertOutcome.UPDATED
        assert upsert_many(session, Issue, []) == []


def test_columns_left_out_keep_their_value(engine: Engine) -> None:
    with session_scope(engine) as session:
        upsert(session, Issue, issue(minutes=1, base_snapshot={"title": "agreed"}))
        upsert(session, Issue, issue(minutes=2))
    row = stored_issue(engine)
    assert row.base_snapshot == {"title": "agreed"}
    assert row.title == "title at 2"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**issue(), "colour": "red"}, "no columns"),
        ({k: v for k, v in issue().items() if k != "number"}, "identity"),
        ({**issue(), "deleted_at": T0}, "maintained by the store"),
    ],
)
def test_bad_rows_are_refused(engine: Engine, row: dict[str, Any], message: str) -> None:
    with session_scope(engine) as session, pytest.raises(ValueError, match=message):
        upsert(session, Issue, row)


def _minimal_row(model: type[Projection], suffix: str) -> dict[str, Any]:
    return minimal_row(model, suffix)


@pytest.mark.parametrize("model", PROJECTION_TABLES, ids=lambda m: m.__name__)
def test_every_projection_upserts_through_the_same_helper(
    engine: Engine, model: type[Projection]
) -> None:
    row = _minimal_row(model, "x")
    newer = {**row, "external_updated_at": T0 + timedelta(seconds=1), "etag": 'W/"2"'}
    with session_scope(engine) as session:
        assert upsert(session, model, row) is UpsertOutcome.INSERTED
        assert upsert(session, model, newer) is UpsertOutcome.UPDATED
        assert upsert(session, model, row) is UpsertOutcome.STALE
        other = _minimal_row(model, "y")
        assert upsert_many(session, model, [newer, other]) == [
            UpsertOutcome.UNCHANGED,
            UpsertOutcome.INSERTED,
        ]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(model)).one() == 2
