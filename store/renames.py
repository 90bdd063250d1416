"""Renamed and transferred repositories: projection rows follow the repository's current name.

The repository is keyed by the provider's stable id (`Repository.native_id`); every other
projection names its repository by path ("owner/name"), as the provider's payloads and URLs do.
A rename or a transfer changes that path, so:

- **Detection.** A Repository row about to be written with another full name than the stored
  row, and newer than it (the version guard of store/upsert.py would let it through), is a
  rename: a `repository.renamed` or `transferred` delivery, any later `repository` event, or a
  backfill read that found the same id under a new name. An older or same-version write never
  renames (a late event from before the rename must not move the rows back).
- **Rewrite.** In the caller's transaction, before its upserts: every repository-scoped row of
  the old name moves to the new one. Where the new name already has a row for the same object
  (deliveries under the new name were processed before the rename), one row stays: the newer
  version, the one already under the new name on a tie, with the pending Krate-side edits of
  both. The old name is recorded in `repository_former_names`.
- **Canonical names.** Rows that still carry a former name (a delivery sent before the rename
  and processed after it, a backfill page read under the old name while the rename committed)
  are written under the current name. The current-name lookup locks the Repository row for
  share, so it waits for a rename in flight instead of reading the name it is replacing.

Nothing here knows a provider: the id and names come from the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy import values as sql_values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlmodel import col

from store.models.projections import PROJECTION_TABLES, Projection, Repository, projection_table
from store.models.renames import RepositoryFormerName

VERSION = "external_updated_at"
# A write: a projection model and the values (or a deletion's identity) about to be written.
Write = tuple[type[Projection], MutableMapping[str, Any]]


@dataclass(frozen=True)
class Rename:
    """One repository's rows moved from `old` to `new` (`merged`: duplicates folded into one)."""

    org: str
    provider_ref: str
    native_id: str
    old: str
    new: str
    moved: int = 0
    merged: int = 0


@dataclass(frozen=True)
class KnownRepository:
    """A repository the store knows: its stable id and its current "owner/name"."""

    native_id: str
    full_name: str


def repository_scoped() -> list[type[Projection]]:
    """The projection tables that name a repository by path."""
    return [m for m in PROJECTION_TABLES if "repository" in projection_table(m).c]


def follow_renames(
    session: Session, writes: Iterable[Write], *, accept_ties: bool = False
) -> list[Rename]:
    """Apply the renames the writes reveal, then put the writes' repository names right.

    Call it before upserting `writes`, in the same transaction. Values are changed in place:
    a `repository` that is a former name becomes the current one. `accept_ties` is for a fresh
    read (activities/refresh.py), which wins over a stored row of the same version."""
    writes = list(writes)
    renames: list[Rename] = []
    incoming = [row for model, row in writes if model is Repository]
    # One lock order for every writer: by id.
    for row in sorted(incoming, key=lambda v: (str(v.get("org")), str(v.get("native_id")))):
        done = _rename_for(session, row, accept_ties=accept_ties)
        if done is not None:
            renames.append(done)
        _release_name(session, row)
    _canonical_names(session, writes)
    return renames


def rename_repository(
    session: Session,
    *,
    org: str,
    provider_ref: str,
    native_id: str,
    old: str,
    new: str,
    version: datetime | None = None,
) -> Rename:
    """Move every repository-scoped row of `old` to `new` and record `old` as a former name of
    `native_id`. Idempotent: run again, it finds nothing left under `old`."""
    moved = merged = 0
    if old != new:
        for model in repository_scoped():
            folded, count = _move(session, model, org, provider_ref, old, new)
            merged += folded
            moved += count
        _remember(session, org, provider_ref, old, native_id, version)
    # The new name is this repository's again, whatever it was called in between.
    session.execute(
        delete(RepositoryFormerName).where(
            col(RepositoryFormerName.org) == org,
            col(RepositoryFormerName.provider_ref) == provider_ref,
            col(RepositoryFormerName.full_name) == new,
            col(RepositoryFormerName.native_id) == native_id,
        )
    )
    owner, _, name = new.partition("/")
    session.execute(
        update(Repository)
        .where(
            col(Repository.org) == org,
            col(Repository.provider_ref) == provider_ref,
            col(Repository.native_id) == native_id,
            col(Repository.full_name) != new,
        )
        .values(full_name=new, owner=owner, name=name)
    )
    return Rename(org, provider_ref, native_id, old, new, moved, merged)


def resolve_repository(
    session: Session,
    *,
    org: str,
    provider_ref: str,
    full_name: str,
    native_id: str | None = None,
) -> KnownRepository | None:
    """The repository `native_id` names, else the one `full_name` names now or named before
    (GitHub's names are case-insensitive, so is this), or None when the store knows neither."""
    live = [
        col(Repository.org) == org,
        col(Repository.provider_ref) == provider_ref,
        col(Repository.deleted_at).is_(None),
    ]
    columns = (col(Repository.native_id), col(Repository.full_name))
    if native_id is not None:
        found = session.execute(
            select(*columns).where(*live, col(Repository.native_id) == native_id)
        ).first()
        if found is not None:
            return KnownRepository(str(found[0]), str(found[1]))
    by_name = session.execute(
        select(*columns)
        .where(*live, func.lower(col(Repository.full_name)) == full_name.lower())
        # An exact match first, then the most recently changed.
        .order_by(
            (col(Repository.full_name) == full_name).desc(),
            col(Repository.external_updated_at).desc().nulls_last(),
        )
        .limit(1)
    ).first()
    if by_name is not None:
        return KnownRepository(str(by_name[0]), str(by_name[1]))
    former = session.execute(
        select(*columns)
        .join(
            RepositoryFormerName,
            and_(
                col(RepositoryFormerName.org) == col(Repository.org),
                col(RepositoryFormerName.provider_ref) == col(Repository.provider_ref),
                col(RepositoryFormerName.native_id) == col(Repository.native_id),
            ),
        )
        .where(*live, func.lower(col(RepositoryFormerName.full_name)) == full_name.lower())
        .order_by(col(RepositoryFormerName.renamed_at).desc())
        .limit(1)
    ).first()
    if former is not None:
        return KnownRepository(str(former[0]), str(former[1]))
    return None


def former_names(session: Session, *, org: str, provider_ref: str, native_id: str) -> list[str]:
    """The names `native_id` no longer has, newest rename first."""
    rows = session.execute(
        select(col(RepositoryFormerName.full_name))
        .where(
            col(RepositoryFormerName.org) == org,
            col(RepositoryFormerName.provider_ref) == provider_ref,
            col(RepositoryFormerName.native_id) == native_id,
        )
        .order_by(col(RepositoryFormerName.renamed_at).desc())
    )
    return [str(r[0]) for r in rows]


def bound_repository_ids(session: Session, *, org: str, provider_ref: str) -> dict[str, str]:
    """native id -> binding of every live repository a binding has synced (the ingress routes
    deliveries by it)."""
    rows = session.execute(
        select(col(Repository.native_id), col(Repository.binding_ref))
        .where(
            col(Repository.org) == org,
            col(Repository.provider_ref) == provider_ref,
            col(Repository.deleted_at).is_(None),
            col(Repository.binding_ref).is_not(None),
        )
        .order_by(col(Repository.native_id))
    )
    return {str(r[0]): str(r[1]) for r in rows}


# -- internals -------------------------------------------------------------------------------


def _as_version(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _rename_for(
    session: Session, values: MutableMapping[str, Any], *, accept_ties: bool = False
) -> Rename | None:
    """The rename an incoming Repository row makes, applied; None when it makes none."""
    org, provider_ref = values.get("org"), values.get("provider_ref")
    native_id, full_name = values.get("native_id"), values.get("full_name")
    if not all(isinstance(v, str) for v in (org, provider_ref, native_id, full_name)):
        return None  # a deletion (identity only), or a row that names no repository
    assert isinstance(org, str)
    assert isinstance(provider_ref, str)
    assert isinstance(native_id, str)
    assert isinstance(full_name, str)
    stored = session.execute(
        select(col(Repository.full_name), col(Repository.external_updated_at))
        .where(
            col(Repository.org) == org,
            col(Repository.provider_ref) == provider_ref,
            col(Repository.native_id) == native_id,
        )
        .with_for_update()  # a concurrent rename of the same repository waits for this one
    ).first()
    if stored is None or stored[0] == full_name:
        return None
    incoming, current = _as_version(values.get(VERSION)), _as_version(stored[1])
    # The upsert's rule: only a strictly newer version (or a first one) replaces the row.
    if current is not None and (
        incoming is None or incoming < current or (incoming == current and not accept_ties)
    ):
        return None
    return rename_repository(
        session,
        org=org,
        provider_ref=provider_ref,
        native_id=native_id,
        old=str(stored[0]),
        new=full_name,
        version=incoming,
    )


def _release_name(session: Session, values: MutableMapping[str, Any]) -> None:
    """A repository now called by a former name of another one takes the name over (as
    GitHub stops redirecting it): the old entry no longer points elsewhere."""
    full_name, native_id = values.get("full_name"), values.get("native_id")
    if not isinstance(full_name, str) or not isinstance(native_id, str):
        return
    session.execute(
        delete(RepositoryFormerName).where(
            col(RepositoryFormerName.org) == values.get("org"),
            col(RepositoryFormerName.provider_ref) == values.get("provider_ref"),
            col(RepositoryFormerName.full_name) == full_name,
            col(RepositoryFormerName.native_id) != native_id,
        )
    )


def _remember(
    session: Session,
    org: str,
    provider_ref: str,
    old: str,
    native_id: str,
    version: datetime | None,
) -> None:
    table = projection_table(RepositoryFormerName)  # type: ignore[arg-type]
    statement = insert(table).values(
        org=org, provider_ref=provider_ref, full_name=old, native_id=native_id, version=version
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["org", "provider_ref", "full_name"],
            set_={
                "native_id": statement.excluded.native_id,
                "version": statement.excluded.version,
                "renamed_at": func.now(),
            },
        )
    )


def _old_wins(old: Any, new: Any) -> ColumnElement[bool]:
    """Whether the row under the old name is the newer copy of an object (ties: the new one,
    written from a read made after the rename)."""
    return or_(
        old.c[VERSION] > new.c[VERSION],
        and_(new.c[VERSION].is_(None), old.c[VERSION].is_not(None)),
    )


def _move(
    session: Session, model: type[Projection], org: str, provider_ref: str, old: str, new: str
) -> tuple[int, int]:
    """(rows folded into a duplicate, rows moved) of one table from `old` to `new`."""
    table = projection_table(model)
    folded = 0
    if "repository" in model.identity:
        folded = _fold_duplicates(session, model, org, provider_ref, old, new)
    snapshot = table.c.base_snapshot
    moved = session.execute(
        update(table)
        .where(
            table.c.org == org,
            table.c.provider_ref == provider_ref,
            table.c.repository == old,
        )
        .values(
            repository=new,
            # The base of conflict detection names the repository too.
            base_snapshot=case(
                (
                    snapshot.has_key("repository"),
                    snapshot.op("||")(func.jsonb_build_object("repository", new)),
                ),
                else_=snapshot,
            ),
        )
    )
    return folded, int(moved.rowcount)  # type: ignore[attr-defined]  # CursorResult


def _fold_duplicates(
    session: Session, model: type[Projection], org: str, provider_ref: str, old: str, new: str
) -> int:
    """Where `old` and `new` both hold a row of one object, keep one (see `_old_wins`): it
    takes the other's pending Krate-side edits where it has none of its own, then the other
    is deleted. Returns how many rows were deleted."""
    table = projection_table(model)
    keys = [c for c in model.identity if c != "repository"]
    old_rows, new_rows = table.alias("old_rows"), table.alias("new_rows")
    pairs = (
        select(
            old_rows.c.id.label("old_id"),
            new_rows.c.id.label("new_id"),
            _old_wins(old_rows, new_rows).label("old_wins"),
        )
        .join_from(old_rows, new_rows, and_(*(old_rows.c[k] == new_rows.c[k] for k in keys)))
        .where(
            old_rows.c.org == org,
            old_rows.c.provider_ref == provider_ref,
            old_rows.c.repository == old,
            new_rows.c.repository == new,
        )
    ).cte("pairs")
    found = session.execute(select(pairs.c.old_id, pairs.c.new_id, pairs.c.old_wins)).all()
    if not found:
        return 0
    keep_lose: list[tuple[int, int]] = [
        (int(o), int(n)) if wins else (int(n), int(o)) for o, n, wins in found
    ]
    _merge_local_state(session, table, keep_lose)
    losers = [lose for _, lose in keep_lose]
    session.execute(delete(table).where(table.c.id.in_(losers)))
    return len(losers)


def _merge_local_state(
    session: Session, table: Table, keep_lose: Sequence[tuple[int, int]]
) -> None:
    """The kept row takes over the dropped row's pending edits (its own win on a clash), the
    higher local generation and an open conflict, so folding loses no Krate-side change."""
    pairs = sql_values(
        sql_column("keep", BigInteger), sql_column("lose", BigInteger), name="pairs"
    ).data(list(keep_lose))
    lost = table.alias("lost")
    session.execute(
        update(table)
        .where(table.c.id == pairs.c.keep, lost.c.id == pairs.c.lose)
        .values(
            local_changes=lost.c.local_changes.op("||")(table.c.local_changes),
            local_generation=func.greatest(table.c.local_generation, lost.c.local_generation),
            conflict_ref=func.coalesce(table.c.conflict_ref, lost.c.conflict_ref),
        )
    )


def _canonical_names(session: Session, writes: Sequence[Write]) -> None:
    """Rewrite `repository` values that are former names to the current name."""
    names: dict[tuple[str, str], set[str]] = {}
    for _, row in writes:
        repository = row.get("repository")
        if isinstance(repository, str):
            scope = (str(row.get("org")), str(row.get("provider_ref")))
            names.setdefault(scope, set()).add(repository)
    current: dict[tuple[str, str, str], str] = {}
    for (org, provider_ref), wanted in sorted(names.items()):
        current.update(_current_names(session, org, provider_ref, sorted(wanted)))
    if not current:
        return
    for _, row in writes:
        repository = row.get("repository")
        if isinstance(repository, str):
            named = (str(row.get("org")), str(row.get("provider_ref")), repository)
            if named in current:
                row["repository"] = current[named]


def _current_names(
    session: Session, org: str, provider_ref: str, names: list[str]
) -> dict[tuple[str, str, str], str]:
    """(org, provider, former name) -> current name, for those of `names` that are no live
    repository's current name but a former name of one."""
    live = (
        col(Repository.org) == org,
        col(Repository.provider_ref) == provider_ref,
        col(Repository.deleted_at).is_(None),
    )
    held = {
        str(r[0])
        for r in session.execute(
            select(col(Repository.full_name))
            .where(*live, col(Repository.full_name).in_(names))
            .order_by(col(Repository.native_id))
            .with_for_update(read=True)  # a rename in flight finishes first
        )
    }
    rest = [n for n in names if n not in held]
    if not rest:
        return {}
    rows = session.execute(
        select(col(RepositoryFormerName.full_name), col(Repository.full_name))
        .join(
            Repository,
            and_(
                col(Repository.org) == col(RepositoryFormerName.org),
                col(Repository.provider_ref) == col(RepositoryFormerName.provider_ref),
                col(Repository.native_id) == col(RepositoryFormerName.native_id),
            ),
        )
        .where(
            *live,
            col(RepositoryFormerName.full_name).in_(rest),
        )
        .order_by(col(Repository.native_id))
        .with_for_update(read=True, of=Repository)
    )
    return {(org, provider_ref, str(old)): str(now) for old, now in rows if old != now}
