"""Which repository a backfill scope reads: the one it synced before, under its current name.

A scope names its repository as the binding's externalRef does ("owner/name"), and the workflow
keys its cursor by that, so the scope itself never changes. What it reads follows the
repository instead: once a page has seen the repository, the cursor keeps the provider's stable
id (`repository_id`) and the current name (`repository_name`), and every page starts from the
name the store now knows for that id (store/renames.py keeps it current from renames). Before
that, a name the store knows as a former name resolves to the current one. The provider is
never asked for this: the Repository scope's own read (which follows GitHub's redirect) teaches
the store the id, and `repository` webhooks do too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from activities.backfill_models import BindingRef, ScopeCursor
from providers.base import RepoRef
from store.models.projections import Projection, Repository
from store.renames import former_names, rename_repository, resolve_repository


def scope_name(cursor: ScopeCursor) -> str:
    return f"{cursor.scope.owner}/{cursor.scope.repository}"


def resolve_scope(session: Session, binding: BindingRef, cursor: ScopeCursor) -> RepoRef:
    """The repository the page reads (noted on `cursor` when the store knows it), else the
    scope's own name."""
    known = resolve_repository(
        session,
        org=binding.org,
        provider_ref=binding.provider,
        full_name=scope_name(cursor),
        native_id=cursor.repository_id,
    )
    if known is None:
        return RepoRef(owner=cursor.scope.owner, name=cursor.scope.repository)
    cursor.repository_id, cursor.repository_name = known.native_id, known.full_name
    return RepoRef.parse(known.full_name)


def learn_repository(
    session: Session, cursor: ScopeCursor, rows: Sequence[tuple[type[Projection], Any]]
) -> None:
    """After a page read the repository itself: note its id and name on the cursor, and when
    the provider answered the scope's name with another repository name (a rename before this
    binding's first sync, or other letter case), record the scope's name as a former name, so
    that every other scope and the rows already stored under it follow."""
    for table, row in rows:
        if table is not Repository:
            continue
        native_id, full_name = str(row["native_id"]), str(row["full_name"])
        org, provider_ref = str(row["org"]), str(row["provider_ref"])
        asked = scope_name(cursor)
        # Not when another repository holds the name now (it took the freed name over).
        holder = resolve_repository(session, org=org, provider_ref=provider_ref, full_name=asked)
        if (
            asked != full_name
            and (holder is None or holder.native_id == native_id)
            and asked
            not in former_names(session, org=org, provider_ref=provider_ref, native_id=native_id)
        ):
            rename_repository(
                session,
                org=org,
                provider_ref=provider_ref,
                native_id=native_id,
                old=asked,
                new=full_name,
                version=row.get("external_updated_at"),
            )
        cursor.repository_id, cursor.repository_name = native_id, full_name


def repository_status(cursors: Sequence[ScopeCursor]) -> dict[str, str] | None:
    """`status.externalRepository` of a binding: the id its scopes follow and the current
    name (for display; the binding's externalRef may still give an older one)."""
    known = [c for c in cursors if c.repository_id is not None]
    if not known:
        return None
    # The Repository scope reads the repository itself: its view is the freshest.
    known.sort(key=lambda c: c.scope.resource_kind != "Repository")
    found = known[0]
    status = {"id": str(found.repository_id)}
    if found.repository_name:
        status["fullName"] = found.repository_name
    return status
