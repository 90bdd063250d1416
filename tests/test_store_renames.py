"""Renamed repositories in the store (store/renames.py), on a real Postgres: a newer Repository
row under another name moves every repository-scoped row, folds duplicates, remembers the old
name, and leaves every other repository alone, whatever order the writes come in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from store.db import make_engine, session_scope
from store.models import (
    PROJECTION_TABLES,
    Comment,
    GitRef,
    Issue,
    Projection,
    PullRequest,
    Repository,
    RepositoryFormerName,
)
from store.renames import (
    Write,
    follow_renames,
    former_names,
    repository_scoped,
    resolve_repository,
)
from store.upsert import upsert_many

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
ORG, PROVIDER = "a5c", "github-a5c"
OLD, NEW, OTHER = "octo/hello", "octo/hello-world", "octo/other"
REPO_ID, OTHER_ID = "186853261", "999"


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    yield engine
    engine.dispose()


def envelope(native_kind: str, native_id: str, minutes: int) -> dict[str, Any]:
    return {
        "org": ORG,
        "provider_ref": PROVIDER,
        "binding_ref": "github-hello",
        "interface": "gitForge",
        "native_kind": native_kind,
        "native_id": native_id,
        "external_updated_at": T0 + timedelta(minutes=minutes),
    }


def repository(full_name: str, minutes: int, native_id: str = REPO_ID) -> dict[str, Any]:
    owner, _, name = full_name.partition("/")
    return {
        **envelope("repository", native_id, minutes),
        "owner": owner,
        "name": name,
        "full_name": full_name,
    }


def issue(repo: str, number: int, minutes: int, **fields: Any) -> dict[str, Any]:
    return {
        **envelope("issue", f"I{number}", minutes),
        "interface": "issueTracking",
        "repository": repo,
        "number": number,
        "title": f"issue {number} at {minutes}",
        "state": "open",
        **fields,
    }


def pull(repo: str, number: int, minutes: int) -> dict[str, Any]:
    return {
        **envelope("pull_request", f"P{number}", minutes),
        "repository": repo,
        "number": number,
        "title": f"pull {number}",
        "state": "open",
        "head": "feature",
        "base": "main",
    }


def branch(repo: str, name: str, minutes: int) -> dict[str, Any]:
    return {
        **envelope("branch", f"{repo}:{name}", minutes),
        "repository": repo,
        "kind": "branch",
        "name": name,
    }


def comment(repo: str, native_id: str, minutes: int) -> dict[str, Any]:
    return {
        **envelope("issue_comment", native_id, minutes),
        "interface": "issueTracking",
        "native_kind": "issue_comment",
        "repository": repo,
        "parent_kind": "issue",
        "parent_number": 1,
        "body": "hi",
    }


def write(engine: Engine, *writes: Write) -> list[Any]:
    """What `_write_plans` and the backfill do: follow renames, then upsert."""
    with session_scope(engine) as session:
        renames = follow_renames(session, writes)
        for model, values in writes:
            upsert_many(session, model, [values])
    return renames


def rows(engine: Engine, model: type[Projection], **where: Any) -> list[dict[str, Any]]:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    statement = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with session_scope(engine) as session:
        return [dict(r._mapping) for r in session.execute(statement.order_by(table.c.id))]


def names(engine: Engine, model: type[Projection]) -> list[tuple[str, str]]:
    key = "number" if "number" in model.identity else "native_id"
    return sorted((str(r["repository"]), str(r[key])) for r in rows(engine, model))


def seed(engine: Engine) -> None:
    """Two repositories, each with an issue, a pull request, a branch and a comment."""
    for repo, native_id in ((OLD, REPO_ID), (OTHER, OTHER_ID)):
        write(
            engine,
            (Repository, repository(repo, 0, native_id)),
            (Issue, issue(repo, 1, 1)),
            (Issue, issue(repo, 2, 1)),
            (PullRequest, pull(repo, 3, 1)),
            (GitRef, branch(repo, "main", 1)),
            (Comment, comment(repo, f"C-{native_id}", 1)),
        )


def test_a_newer_repository_row_under_a_new_name_moves_every_kind(engine: Engine) -> None:
    seed(engine)
    renames = write(engine, (Repository, repository(NEW, 5)))
    assert [(r.old, r.new, r.moved) for r in renames] == [(OLD, NEW, 5)]
    assert names(engine, Issue) == [(NEW, "1"), (NEW, "2"), (OTHER, "1"), (OTHER, "2")]
    assert names(engine, PullRequest) == [(NEW, "3"), (OTHER, "3")]
    assert {r["repository"] for r in rows(engine, GitRef)} == {NEW, OTHER}
    assert {r["repository"] for r in rows(engine, Comment)} == {NEW, OTHER}
    stored = rows(engine, Repository, native_id=REPO_ID)
    assert [(r["full_name"], r["owner"], r["name"]) for r in stored] == [
        (NEW, "octo", "hello-world")
    ]
    assert rows(engine, Repository, native_id=OTHER_ID)[0]["full_name"] == OTHER
    with session_scope(engine) as session:
        assert former_names(session, org=ORG, provider_ref=PROVIDER, native_id=REPO_ID) == [OLD]
    # The base of conflict detection follows the row.
    moved = rows(engine, Issue, repository=NEW)
    assert all(
        r["base_snapshot"] is None or r["base_snapshot"].get("repository") in (None, NEW)
        for r in moved
    )


def test_every_projection_but_the_repository_itself_is_renamed() -> None:
    assert set(repository_scoped()) == {m for m in PROJECTION_TABLES if m is not Repository}


def test_a_rename_delivered_twice_or_late_changes_nothing_more(engine: Engine) -> None:
    seed(engine)
    write(engine, (Repository, repository(NEW, 5)))
    before = rows(engine, Issue)
    assert write(engine, (Repository, repository(NEW, 5))) == []  # the same delivery again
    # An event from before the rename, processed after it: older, so no rename back.
    assert write(engine, (Repository, repository(OLD, 3))) == []
    assert rows(engine, Issue) == before
    assert rows(engine, Repository, native_id=REPO_ID)[0]["full_name"] == NEW


def test_rows_written_under_the_new_name_before_the_rename_are_folded(engine: Engine) -> None:
    seed(engine)
    # Deliveries under the new name were processed before the rename: issue 1 newer there,
    # issue 2 older there (a late copy), and issue 4 only there.
    write(
        engine,
        (Issue, issue(NEW, 1, 9, title="edited after the rename")),
        (Issue, issue(NEW, 2, 0, title="older copy")),
        (Issue, issue(NEW, 4, 9)),
    )
    # A pending Krate-side edit of issue 1 lives on the old row.
    with session_scope(engine) as session:
        session.execute(
            Issue.__table__.update()  # type: ignore[attr-defined]
            .where(Issue.__table__.c.repository == OLD, Issue.__table__.c.number == 1)  # type: ignore[attr-defined]
            .values(local_changes={"title": "krate edit"}, local_generation=2)
        )
    [done] = write(engine, (Repository, repository(NEW, 5)))
    assert done.merged == 2
    found = {r["number"]: r for r in rows(engine, Issue, repository=NEW)}
    assert sorted(found) == [1, 2, 4]
    assert found[1]["title"] == "edited after the rename"  # the newer copy stays
    assert found[1]["local_changes"] == {"title": "krate edit"}  # with the edit of the other
    assert found[1]["local_generation"] == 2
    assert found[2]["title"] == "issue 2 at 1"  # the old name had the newer copy
    assert rows(engine, Issue, repository=OLD) == []
    with session_scope(engine) as session:
        count = session.execute(select(func.count()).select_from(Issue)).scalar_one()
    assert count == 5  # 3 of the renamed repository, 2 of the other one


def test_rows_still_named_by_the_old_name_are_written_under_the_new_one(engine: Engine) -> None:
    seed(engine)
    write(engine, (Repository, repository(NEW, 5)))
    # A delivery sent before the rename, processed after: its rows carry the old name.
    late = issue(OLD, 1, 4, title="late")
    write(engine, (Issue, late), (Issue, issue(OLD, 7, 4)))
    assert late["repository"] == NEW
    assert names(engine, Issue) == [(NEW, "1"), (NEW, "2"), (NEW, "7"), (OTHER, "1"), (OTHER, "2")]
    # Newer than the moved row (minute 4 against 1): the version guard lets it through.
    assert rows(engine, Issue, repository=NEW, number=1)[0]["title"] == "late"


def test_a_name_another_repository_holds_now_is_left_alone(engine: Engine) -> None:
    seed(engine)
    write(engine, (Repository, repository(NEW, 5)))
    # GitHub gives a freed name to whoever takes it: a new repository called OLD.
    write(engine, (Repository, repository(OLD, 6, native_id="4242")), (Issue, issue(OLD, 1, 6)))
    assert rows(engine, Issue, repository=OLD, number=1)[0]["title"] == "issue 1 at 6"
    assert rows(engine, Issue, repository=NEW, number=1)[0]["title"] == "issue 1 at 1"


def test_a_transfer_and_a_rename_back_resolve_to_the_current_name(engine: Engine) -> None:
    seed(engine)
    transferred = "octocoders/hello"
    write(engine, (Repository, repository(NEW, 5)))
    write(engine, (Repository, repository(transferred, 6)))
    assert {r["repository"] for r in rows(engine, Issue, number=2)} == {transferred, OTHER}
    with session_scope(engine) as session:
        for name in (OLD, NEW, OLD.upper(), transferred):
            found = resolve_repository(session, org=ORG, provider_ref=PROVIDER, full_name=name)
            assert found is not None, name
            assert (found.native_id, found.full_name) == (REPO_ID, transferred)
        by_id = resolve_repository(
            session, org=ORG, provider_ref=PROVIDER, full_name="x/y", native_id=REPO_ID
        )
        assert by_id is not None
        assert by_id.full_name == transferred
        assert resolve_repository(session, org=ORG, provider_ref=PROVIDER, full_name="x/y") is None
    write(engine, (Repository, repository(OLD, 7)))  # and back to where it started
    assert {r["repository"] for r in rows(engine, Issue, number=2)} == {OLD, OTHER}
    with session_scope(engine) as session:
        names_now = former_names(session, org=ORG, provider_ref=PROVIDER, native_id=REPO_ID)
        assert OLD not in names_now
        assert set(names_now) == {NEW, transferred}
        count = session.execute(select(func.count()).select_from(RepositoryFormerName)).scalar_one()
    assert count == 2


def test_a_tie_does_not_rename(engine: Engine) -> None:
    seed(engine)
    # Same version, another name: neither side can say which is newer; the fresh read decides.
    assert write(engine, (Repository, repository(NEW, 0))) == []
    assert {r["repository"] for r in rows(engine, Issue)} == {OLD, OTHER}
