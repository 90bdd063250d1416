"""ExternalObjectLink rows: which provider object (native id, URL, node id) each Krate resource
mirrors, written from the stored projection rows.

Links are copied from what the projections hold after a write, not from what was sent: an
incoming row that lost the version guard leaves its link as it was, a newer one updates it, and
a tombstoned row turns its link `Orphaned`. One INSERT ... SELECT per table and page, whatever
the number of rows; a link whose content did not change is not rewritten.

The Krate resource's name (`localRef.name`) is the one conflicts use for their target: the
object's identity without the org (provider, repository, number or native id), DNS-shaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Session

from store.kinds import API_VERSION
from store.models.aggregated import ObjectLink
from store.models.projections import Projection, Repository, projection_table
from store.projection_kinds import KIND_OF_TABLE
from store.upsert import matching_identities

LINKS: Table = ObjectLink.__table__  # type: ignore[attr-defined]  # set by SQLModel
LOCAL_NAME_MAX = 200  # as conflicts cut their target names
NAME_MAX = 253

# What a link copies from its projection row; a change in any of them rewrites the link.
_COPIED = (
    "binding_ref",
    "interface",
    "native_kind",
    "native_id",
    "native_number",
    "node_id",
    "url",
    "api_url",
    "etag",
    "labels",
    "spec_extra",
    "status_extra",
)


def _dns(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL twin of the conflicts' `_dns`: lower case, runs of other characters become '-'."""
    dashed = func.regexp_replace(func.lower(value), "[^a-z0-9-]+", "-", "g")
    return func.btrim(dashed, "-")


def _as_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(column, String)


def _identity_tail(model: type[Projection], table: Table) -> list[ColumnElement[Any]]:
    return [_as_text(table.c[c]) for c in model.identity if c != "org"]


def _repository(model: type[Projection], table: Table) -> ColumnElement[Any] | None:
    """The provider path ("owner/name") of the row's repository, when it is repository-scoped."""
    if model is Repository:
        return table.c.full_name
    return table.c.repository if "repository" in table.c else None


def _labels(model: type[Projection], table: Table) -> ColumnElement[Any]:
    labels: ColumnElement[Any] = func.jsonb_build_object(
        "krate.a5c.ai/org",
        table.c.org,
        "krate.a5c.ai/provider",
        table.c.provider_ref,
        "krate.a5c.ai/interface",
        table.c.interface,
    )
    path = _repository(model, table)
    if path is None:
        return labels
    # A label value holds no '/': the name is the path's last segment, the owner its first
    # (a GitLab subgroup's top-level group).
    scoped = func.jsonb_build_object(
        "krate.a5c.ai/repository",
        func.regexp_replace(path, "^.*/", ""),
        "krate.a5c.ai/external-owner",
        func.split_part(path, "/", 1),
    )
    return labels.op("||")(func.jsonb_strip_nulls(scoped))


def _native_id(model: type[Projection], table: Table) -> ColumnElement[Any]:
    """The native id, or for objects the provider names otherwise (refs, commits, protection
    patterns) the identity beyond the repository."""
    rest = [
        _as_text(table.c[c])
        for c in model.identity
        if c not in ("org", "provider_ref", "repository")
    ]
    return func.coalesce(table.c.native_id, func.concat_ws("/", *rest))


def _link_select(model: type[Projection], where: ColumnElement[bool]) -> Any:
    table = projection_table(model)
    kind = KIND_OF_TABLE[model]
    local_name = func.left(_dns(func.concat_ws("-", *_identity_tail(model, table))), LOCAL_NAME_MAX)
    name = func.left(func.concat(_dns(literal(kind)), "-", local_name), NAME_MAX)
    version = func.jsonb_strip_nulls(
        func.jsonb_build_object(
            "updatedAt",
            func.to_char(
                func.timezone("UTC", table.c.external_updated_at),
                text('\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''),
            ),
            "sha",
            table.c.sha,
        )
    )
    spec_extra = func.jsonb_build_object(
        "external",
        func.jsonb_strip_nulls(
            func.jsonb_build_object(
                "providerRef",
                table.c.provider_ref,
                "bindingRef",
                table.c.binding_ref,
                "version",
                func.nullif(version, cast(literal("{}"), JSONB)),
            )
        ),
    )
    status_extra = func.jsonb_strip_nulls(
        func.jsonb_build_object(
            "phase",
            case((table.c.deleted_at.is_(None), "Active"), else_="Orphaned"),
            "reason",
            case((table.c.deleted_at.is_(None), None), else_="the provider object was deleted"),
        )
    )
    return select(
        func.concat("krate-org-", table.c.org).label("namespace"),
        name.label("name"),
        _labels(model, table).label("labels"),
        table.c.org,
        table.c.provider_ref,
        table.c.binding_ref,
        literal(API_VERSION).label("local_api_version"),
        literal(kind).label("local_kind"),
        local_name.label("local_name"),
        table.c.interface,
        table.c.native_kind,
        _native_id(model, table).label("native_id"),
        table.c.native_number,
        table.c.node_id,
        table.c.url,
        table.c.api_url,
        table.c.etag,
        spec_extra.label("spec_extra"),
        status_extra.label("status_extra"),
    ).where(where)


_INSERTED = (
    "namespace",
    "name",
    "labels",
    "org",
    "provider_ref",
    "binding_ref",
    "local_api_version",
    "local_kind",
    "local_name",
    "interface",
    "native_kind",
    "native_id",
    "native_number",
    "node_id",
    "url",
    "api_url",
    "etag",
    "spec_extra",
    "status_extra",
)


def _upsert_links(
    session: Session,
    model: type[Projection],
    where: ColumnElement[bool],
    params: Mapping[str, Any] | None = None,
) -> int:
    source = _link_select(model, where)
    if params:
        source = source.params(**params)
    # Server defaults (uid, generation, annotations) fill the rest; not one per row from Python.
    statement = insert(LINKS).from_select(list(_INSERTED), source, include_defaults=False)
    excluded = statement.excluded
    changed = or_(*(LINKS.c[c].is_distinct_from(excluded[c]) for c in _COPIED))
    statement = statement.on_conflict_do_update(
        constraint="uq_object_links_local_ref",
        set_={
            **{c: excluded[c] for c in _COPIED},
            "generation": LINKS.c.generation + 1,
            "updated_at": func.now(),
        },
        where=changed,
    )
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


def link_objects(
    session: Session, written: Iterable[tuple[type[Projection], Mapping[str, Any]]]
) -> int:
    """Create or refresh the links of the projection rows just written (or tombstoned).

    `written` holds (table, row) pairs; only each row's identity columns are read, the link's
    content comes from the stored row. One statement per table. Returns the links written.
    """
    by_model: dict[type[Projection], dict[tuple[str, ...], dict[str, Any]]] = {}
    for model, row in written:
        if model not in KIND_OF_TABLE:
            continue
        identity = {c: row.get(c) for c in model.identity}
        key = tuple(str(v) for v in identity.values())
        by_model.setdefault(model, {})[key] = identity
    total = 0
    for model, identities in by_model.items():
        table = projection_table(model)
        where = matching_identities(table, model.identity)
        params = {"identities": _json_rows(identities.values())}
        total += _upsert_links(session, model, where, params)
    return total


def _json_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Identity values as JSON (the relation casts them back to the columns' types)."""
    return [
        {k: v if v is None or isinstance(v, int | str) else str(v) for k, v in row.items()}
        for row in rows
    ]


def orphan_scope_links(
    session: Session,
    model: type[Projection],
    *,
    org: str,
    provider_ref: str,
    scope: Mapping[str, Any],
) -> int:
    """After a full resync tombstoned a scope's unseen rows: their links become Orphaned.

    Only tombstoned rows of the scope are read; links already Orphaned are left alone.
    """
    table = projection_table(model)
    conditions: list[ColumnElement[bool]] = [
        table.c.org == org,
        table.c.provider_ref == provider_ref,
        table.c.deleted_at.is_not(None),
    ]
    conditions += [table.c[column] == value for column, value in scope.items()]
    return _upsert_links(session, model, and_(*conditions))


def links_of(
    session: Session,
    *,
    namespace: str | None = None,
    binding: str | None = None,
    local_kind: str | None = None,
    native_id: str | None = None,
    limit: int | None = None,
) -> Sequence[ObjectLink]:
    """Stored links, filtered (`local_kind` in any case); sorted by namespace and name."""
    statement = select(ObjectLink)
    if namespace is not None:
        statement = statement.where(LINKS.c.namespace == namespace)
    if binding is not None:
        statement = statement.where(LINKS.c.binding_ref == binding)
    if local_kind is not None:
        statement = statement.where(func.lower(LINKS.c.local_kind) == local_kind.lower())
    if native_id is not None:
        statement = statement.where(LINKS.c.native_id == native_id)
    statement = statement.order_by(LINKS.c.namespace, LINKS.c.name)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.execute(statement).scalars())


__all__ = ["link_objects", "links_of", "orphan_scope_links"]
