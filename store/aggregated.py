"""Aggregated kinds <-> rows: the conversion both ways, and insert/get helpers.

A table's `spec_columns` / `status_columns` map manifest paths ("source.owner") to columns;
everything else under spec or status is kept verbatim in `spec_extra` / `status_extra`.
Converting a manifest to a row and back gives the same spec and status (times normalised to
RFC 3339 strings, absent values omitted).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Table
from sqlmodel import Session, select

from store.canonical import rfc3339
from store.kinds import aggregated_table
from store.manifests import InvalidManifest, Manifest, parse_manifest, render_manifest
from store.models.aggregated import AggregatedObject

_MISSING = object()


def _table(model: type[AggregatedObject]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    assert isinstance(table, Table)
    return table


def _pop_path(document: dict[str, Any], path: str) -> Any:
    """Remove and return document[a][b] for "a.b"; parents left empty are removed too."""
    head, _, rest = path.partition(".")
    if head not in document:
        return _MISSING
    if not rest:
        return document.pop(head)
    child = document[head]
    if not isinstance(child, dict):
        return _MISSING
    value = _pop_path(child, rest)
    if not child:
        del document[head]
    return value


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        document[head] = value
        return
    child = document.setdefault(head, {})
    _set_path(child, rest, value)


def _to_column(table: Table, column: str, value: Any, where: str) -> Any:
    if isinstance(table.c[column].type, DateTime) and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InvalidManifest(f"{where} must be an RFC 3339 time, not {value!r}") from None
    return value


def _from_column(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return copy.deepcopy(value)


def split_document(
    table: Table, document: dict[str, Any], paths: dict[str, str], where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column values, the rest of the document) for one of spec or status."""
    rest = copy.deepcopy(document)
    values: dict[str, Any] = {}
    for path, column in paths.items():
        value = _pop_path(rest, path)
        if value is not _MISSING and value is not None:
            values[column] = _to_column(table, column, value, f"{where}.{path}")
    return values, rest


def join_document(
    row: AggregatedObject, extra: dict[str, Any], paths: dict[str, str]
) -> dict[str, Any]:
    """The inverse of `split_document`: the document rebuilt from columns and the rest."""
    document = copy.deepcopy(extra)
    for path, column in paths.items():
        value = getattr(row, column)
        if value is not None:
            _set_path(document, path, _from_column(value))
    return document


def column_values(parsed: Manifest) -> dict[str, Any]:
    """Every column of an aggregated row for `parsed`, except uid, generation and times."""
    model = aggregated_table(parsed.kind)
    table = _table(model)
    spec_values, spec_extra = split_document(table, parsed.spec, model.spec_columns, "spec")
    status_values, status_extra = split_document(
        table, parsed.status, model.status_columns, "status"
    )
    values = {
        "namespace": parsed.namespace,
        "name": parsed.name,
        "labels": parsed.labels,
        "annotations": parsed.annotations,
        **spec_values,
        **status_values,
        "spec_extra": spec_extra,
        "status_extra": status_extra,
    }
    paths = {column: f"spec.{path}" for path, column in model.spec_columns.items()}
    paths |= {column: f"status.{path}" for path, column in model.status_columns.items()}
    for column in table.c:
        required = not column.nullable and column.server_default is None
        if required and column.name in paths and values.get(column.name) is None:
            raise InvalidManifest(f"{parsed.kind}/{parsed.name}: {paths[column.name]} is required")
    return values


def row_from_manifest(manifest: dict[str, Any]) -> AggregatedObject:
    """A new (unsaved) row for an aggregated-kind manifest; status is kept."""
    parsed = parse_manifest(manifest)
    model = aggregated_table(parsed.kind)
    return model(**column_values(parsed))


def spec_of(row: AggregatedObject) -> dict[str, Any]:
    return join_document(row, row.spec_extra, row.spec_columns)


def status_of(row: AggregatedObject) -> dict[str, Any]:
    return join_document(row, row.status_extra, row.status_columns)


def manifest_from_row(row: AggregatedObject) -> dict[str, Any]:
    """The manifest of a stored aggregated row, as `krate-sync get` shows it."""
    assert row.uid is not None
    return render_manifest(
        kind=row.kind,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        generation=row.generation,
        created_at=row.created_at,
        labels=row.labels,
        annotations=row.annotations,
        spec=spec_of(row),
        status=status_of(row),
    )


def insert_aggregated(session: Session, manifest: dict[str, Any]) -> AggregatedObject:
    """Insert an aggregated object (spec and status as given) and return the stored row.

    A second object with the same namespace/name, or a unique key already taken (a delivery
    id, an idempotency key), raises sqlalchemy.exc.IntegrityError.
    """
    row = row_from_manifest(manifest)
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def get_aggregated(
    session: Session, kind: str, namespace: str, name: str
) -> AggregatedObject | None:
    model = aggregated_table(kind)
    statement = select(model).where(model.namespace == namespace, model.name == name)
    return session.exec(statement).first()
