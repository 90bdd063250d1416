"""Finding the rows that wait for a fresh read (`refresh_wanted_at`, see store/upsert.py).

Few rows are ever marked, and each projection table has a partial index on the marked rows of
a binding (`scan_indexes` in store/models/projections.py), so both questions here are cheap
enough to ask after every delivery batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from store.models.projections import Projection
from store.upsert import REFRESH

Marked = tuple[type[Projection], dict[str, Any]]


def _table(model: type[Projection]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    assert isinstance(table, Table)
    return table


def _of_binding(
    table: Table, org: str, provider_ref: str, binding_ref: str | None
) -> list[ColumnElement[bool]]:
    return [
        table.c.org == org,
        table.c.provider_ref == provider_ref,
        table.c.binding_ref == binding_ref,
        table.c[REFRESH].is_not(None),
    ]


def marked_rows(
    session: Session,
    models: Iterable[type[Projection]],
    *,
    org: str,
    provider_ref: str,
    binding_ref: str | None,
    limit: int,
) -> list[Marked]:
    """The binding's marked rows, oldest mark first across the tables of `models`."""
    found: list[Marked] = []
    for model in models:
        table = _table(model)
        statement = (
            select(table)
            .where(*_of_binding(table, org, provider_ref, binding_ref))
            .order_by(table.c[REFRESH])
            .limit(limit)
        )
        found.extend((model, dict(row._mapping)) for row in session.execute(statement))
    found.sort(key=lambda item: item[1][REFRESH])
    return found[:limit]


def count_marked(
    session: Session,
    models: Iterable[type[Projection]],
    *,
    org: str,
    provider_ref: str,
    binding_ref: str | None,
) -> int:
    """How many of the binding's rows wait for a fresh read: one statement, a sum of one count
    per table (asked after every delivery batch, so one round trip matters)."""
    counts: list[ColumnElement[Any]] = [
        select(func.count())
        .select_from(table)
        .where(*_of_binding(table, org, provider_ref, binding_ref))
        .scalar_subquery()
        for table in (_table(model) for model in models)
    ]
    if not counts:
        return 0
    total: ColumnElement[Any] = counts[0]
    for count in counts[1:]:
        total = total + count
    return int(session.execute(select(total)).scalar_one())
