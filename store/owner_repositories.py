"""The repositories of owner-wide bindings: discovery, removal and their workflows' progress.

Three writers keep `owner_repositories` (store/models/owner_repositories.py) current:

- the binding workflow's listing of the owner's repositories, page by page: every repository
  listed is present; when a listing completes, the present ones it did not show are removed
  (the credential no longer sees them);
- webhooks: repositories added to an App installation or created join; removed, deleted or
  transferred away leave (a rename only updates the name);
- the binding workflow itself, noting which repository workflows it started or stopped, and
  each repository workflow when its first pass completed.

A removal never deletes anything: the repository's projection rows stay where they are, and its
row here keeps the reason. Nothing here knows a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlmodel import col

from store.models.owner_repositories import OwnerRepository

NOT_LISTED = "no longer listed for the binding's credentials"
RUNNING, STOPPED = "running", "stopped"


@dataclass(frozen=True)
class BindingKey:
    org: str
    provider_ref: str
    binding_ref: str


@dataclass(frozen=True)
class RepositoryName:
    native_id: str
    full_name: str


@dataclass(frozen=True)
class Change:
    """A repository joining (`present`) or leaving, from a listing or a webhook."""

    native_id: str
    full_name: str
    present: bool
    reason: str | None = None


@dataclass
class Work:
    """What the binding workflow should do next, at most `limit` repositories in all."""

    start: list[RepositoryName] = field(default_factory=list)
    stop: list[RepositoryName] = field(default_factory=list)
    reconfigure: list[RepositoryName] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    discovered: int = 0  # ever seen, present or not
    waiting: int = 0  # present, its workflow not started yet
    syncing: int = 0  # its workflow runs, first pass not completed
    done: int = 0  # its workflow completed a first pass
    removed: int = 0  # left the owner's set; rows kept


T = OwnerRepository
PRESENT: ColumnElement[bool] = col(T.present).is_(True)
WORKFLOW = col(T.workflow)
NATIVE_ID = col(T.native_id)


def _of(key: BindingKey) -> list[ColumnElement[bool]]:
    return [
        col(T.org) == key.org,
        col(T.provider_ref) == key.provider_ref,
        col(T.binding_ref) == key.binding_ref,
    ]


def record_listed(
    session: Session, key: BindingKey, repositories: Sequence[RepositoryName], listing_id: str
) -> int:
    """One page of the owner's listing: each repository present, seen by `listing_id`.
    Returns how many joined (new, or back after a removal)."""
    if not repositories:
        return 0
    unique = {r.native_id: r for r in repositories}
    ids = sorted(unique)
    known_present = set(
        session.scalars(select(NATIVE_ID).where(*_of(key), NATIVE_ID.in_(ids), PRESENT))
    )
    statement = insert(OwnerRepository).values(
        [
            {
                "org": key.org,
                "provider_ref": key.provider_ref,
                "binding_ref": key.binding_ref,
                "native_id": native_id,
                "full_name": unique[native_id].full_name,
                "present": True,
                "listing_id": listing_id,
                "workflow": "none",
                "config_version": 0,
            }
            for native_id in ids
        ]
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["org", "provider_ref", "binding_ref", "native_id"],
            set_={
                "full_name": statement.excluded.full_name,
                "present": True,
                "removed_reason": None,
                "removed_at": None,
                "listing_id": statement.excluded.listing_id,
                "updated_at": func.now(),
            },
        )
    )
    return len(set(ids) - known_present)


def close_listing(session: Session, key: BindingKey, listing_id: str) -> int:
    """A listing completed: the present repositories it did not show are removed."""
    result = session.execute(
        update(OwnerRepository)
        .where(
            *_of(key),
            PRESENT,
            func.coalesce(col(T.listing_id), "") != listing_id,
        )
        .values(
            present=False, removed_reason=NOT_LISTED, removed_at=func.now(), updated_at=func.now()
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def apply_changes(session: Session, key: BindingKey, changes: Sequence[Change]) -> int:
    """Webhook news, in delivery order. Returns how many rows changed membership or name."""
    changed = 0
    for change in changes:
        row = session.scalars(
            select(OwnerRepository)
            .where(*_of(key), NATIVE_ID == change.native_id)
            .with_for_update()
        ).first()
        if row is None:
            if not change.present:
                continue  # never known here: nothing to stop
            session.add(
                OwnerRepository(
                    org=key.org,
                    provider_ref=key.provider_ref,
                    binding_ref=key.binding_ref,
                    native_id=change.native_id,
                    full_name=change.full_name,
                )
            )
            changed += 1
            continue
        if row.present == change.present and row.full_name == change.full_name:
            continue
        row.full_name = change.full_name
        row.present = change.present
        row.removed_reason = None if change.present else change.reason
        row.removed_at = None if change.present else func.now()  # type: ignore[assignment]
        row.updated_at = func.now()  # type: ignore[assignment]
        changed += 1
    session.flush()
    return changed


def _names(
    session: Session, where: Sequence[ColumnElement[bool]], limit: int
) -> list[RepositoryName]:
    if limit <= 0:
        return []
    rows = session.execute(
        select(NATIVE_ID, col(T.full_name))
        .where(*where)
        .order_by(col(OwnerRepository.id))
        .limit(limit)
    )
    return [RepositoryName(native_id=a, full_name=b) for a, b in rows]


def pending_work(session: Session, key: BindingKey, *, config_version: int, limit: int) -> Work:
    """Up to `limit` repositories whose workflow must stop (removed first: they may be using
    the budget for nothing), start, or receive configuration `config_version`."""
    work = Work()
    work.stop = _names(
        session,
        [*_of(key), ~PRESENT, WORKFLOW == RUNNING],
        limit,
    )
    work.start = _names(
        session,
        [*_of(key), PRESENT, WORKFLOW != RUNNING],
        limit - len(work.stop),
    )
    work.reconfigure = _names(
        session,
        [
            *_of(key),
            PRESENT,
            WORKFLOW == RUNNING,
            col(T.config_version) < config_version,
        ],
        limit - len(work.stop) - len(work.start),
    )
    return work


def mark_workflows(
    session: Session,
    key: BindingKey,
    *,
    config_version: int,
    started: Sequence[str] = (),
    stopped: Sequence[str] = (),
    configured: Sequence[str] = (),
) -> None:
    """What the binding workflow did with the last `pending_work`."""
    for ids, values in (
        (started, {"workflow": RUNNING, "config_version": config_version}),
        (configured, {"config_version": config_version}),
        (stopped, {"workflow": STOPPED}),
    ):
        if ids:
            session.execute(
                update(OwnerRepository)
                .where(*_of(key), NATIVE_ID.in_(list(ids)))
                .values(**values, updated_at=func.now())
            )


def mark_synced(session: Session, key: BindingKey, native_id: str, at: datetime) -> bool:
    """The repository's workflow completed its first pass (kept: the first time counts)."""
    result = session.execute(
        update(OwnerRepository)
        .where(
            *_of(key),
            NATIVE_ID == native_id,
            col(T.synced_at).is_(None),
        )
        .values(synced_at=at, updated_at=func.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def progress(session: Session, key: BindingKey) -> Progress:
    """Counts for the binding's status: discovered, waiting, syncing, done, removed."""
    running = and_(PRESENT, WORKFLOW == RUNNING)
    synced = col(T.synced_at).is_not(None)

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(),
            count(and_(PRESENT, WORKFLOW != RUNNING)),
            count(and_(running, ~synced)),
            count(and_(running, synced)),
            count(~PRESENT),
        ).where(*_of(key))
    ).one()
    return Progress(*(int(v) for v in row))


def removed_repositories(
    session: Session, key: BindingKey, limit: int = 20
) -> list[dict[str, str]]:
    """The most recent removals with their reasons (for the binding's status)."""
    rows = session.execute(
        select(NATIVE_ID, col(T.full_name), col(T.removed_reason))
        .where(*_of(key), ~PRESENT)
        .order_by(col(T.removed_at).desc(), col(T.id).desc())
        .limit(limit)
    )
    return [
        {"id": native_id, "fullName": full_name, "reason": reason or ""}
        for native_id, full_name, reason in rows
    ]
