"""Finding the rows that wait for a fresh read (`refresh_wanted_at`, see store/upsert.py).

Few rows are ever marked, and each projection table has a partial index on the marked rows of
a binding (`scan_indexes` in store/models/projections.py), so both questions here are cheap
enough to ask after every delivery batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, select
from sqlalchemy.orm import Session

from store.models.projections import Projection, projection_table
from store.upsert import REFRESH

Marked = tuple[type[Projection], dict[str, Any]]


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
        table = projection_table(model)
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
    per table (asked after every delivery batch, so one round trip and one cached statement
    matter)."""
    statement = _count_statement(tuple(models))
    if statement is None:
        return 0
    params = {"org": org, "provider_ref": provider_ref, "binding_ref": binding_ref}
    return int(session.execute(statement, params).scalar_one())


@lru_cache(maxsize=8)
def _count_statement(models: tuple[type[Projection], ...]) -> Select[Any] | None:
    """The sum of the marked-row counts of `models`, built once: the same object each call
    lets SQLAlchemy reuse its compiled form."""
    counts: list[ColumnElement[Any]] = []
    for model in models:
        table = projection_table(model)
        where = [
            table.c.org == bindparam("org"),
            table.c.provider_ref == bindparam("provider_ref"),
            table.c.binding_ref == bindparam("binding_ref"),
            table.c[REFRESH].is_not(None),
        ]
        counts.append(select(func.count()).select_from(table).where(*where).scalar_subquery())
    if not counts:
        return None
    total: ColumnElement[Any] = counts[0]
    for count in counts[1:]:
        total = total + count
    return select(total)
