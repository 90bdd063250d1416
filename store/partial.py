"""Rows from payloads that carry only part of an object.

A webhook may hold a trimmed copy of its object (GitHub's `issues` `pinned` has no `state` and
no `labels`). Its projection row is a `PartialRow`: the columns the payload lacked are left out,
with the mapping's placeholders (state "open", no labels) kept aside. `settle_partial` turns such
rows into complete ones before the upsert, in the caller's transaction:

- **A stored row exists** (locked here until the transaction ends): every left-out column gets
  the stored value, so the upsert writes back what was there. (Leaving the column out of the
  upsert is not enough: `INSERT ... ON CONFLICT` checks NOT NULL before it finds the conflict.)
  A column with a pending Krate-side edit gets the base value instead, the provider's last
  known one, so the three-way merge sees "the provider did not change it" and keeps the edit.
- **No stored row yet.** The placeholders are the best there is: the row is inserted with them,
  with `ON CONFLICT DO NOTHING`, which also waits for a concurrent writer of the same object (a
  backfill page); if that one won, its values are used as above. The next full read of the
  object (event, backfill, resync) replaces the placeholders by version.
- **JSONB documents merge, they are not replaced**: `base_snapshot` (the base of three-way
  conflict detection) and `extensions.fields` keep their stored keys for what the payload did
  not carry; otherwise a pinned issue would forget that its base state was "closed".

Then the version guard decides as for any other row (a row just inserted here ties with
itself: `unchanged`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from pydantic.alias_generators import to_camel
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models.projections import Projection, projection_table
from store.upsert import matching_identities, rows_relation


class PartialRow(dict[str, Any]):
    """A projection row that leaves out `absent` columns (the payload lacked them).
    `defaults` holds what those columns get if the row has to be inserted."""

    def __init__(
        self, values: Mapping[str, Any], *, absent: Iterable[str], defaults: Mapping[str, Any]
    ) -> None:
        super().__init__(values)
        self.absent = frozenset(absent)
        self.defaults = dict(defaults)


def settle_partial(
    session: Session, model: type[Projection], rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Plain rows for `upsert_many`: complete rows pass unchanged; for partial ones a stored
    row is made to exist and their JSONB documents are merged over the stored ones."""
    out = [dict(r) for r in rows]
    partial = [i for i, r in enumerate(rows) if isinstance(r, PartialRow)]
    if not partial:
        return out
    table = projection_table(model)
    stored = _stored(session, table, model.identity, [out[i] for i in partial])
    # Only rows that leave columns out need the placeholders; the others insert as they are.
    missing = [
        i
        for i in partial
        if _key(out[i], model.identity) not in stored and cast(PartialRow, rows[i]).absent
    ]
    if missing:
        for row in _complete(rows, missing):
            session.execute(
                insert(table)
                .from_select(list(row), select(*rows_relation(table, tuple(row)).c))
                .on_conflict_do_nothing(constraint=f"uq_{table.name}_identity"),
                {"incoming": [row]},
            )
        stored.update(_stored(session, table, model.identity, [out[i] for i in missing]))
    for i in partial:
        current = stored.get(_key(out[i], model.identity))
        if current is None:
            continue  # a new object with every column: the upsert inserts it as it is
        partial_row = rows[i]
        assert isinstance(partial_row, PartialRow)
        pending = current.get("local_changes") or {}
        base = current.get("base_snapshot") or {}
        for column in partial_row.absent:
            key = to_camel(column)
            out[i][column] = base[key] if column in pending and key in base else current[column]
        for column in ("base_snapshot", "extensions"):
            if column in out[i]:
                out[i][column] = _merged(column, current.get(column), out[i][column])
    return out


def _key(row: Mapping[Any, Any], identity: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in identity)


def _complete(rows: Sequence[Mapping[str, Any]], positions: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in positions:
        row = rows[i]
        assert isinstance(row, PartialRow)
        out.append({**row, **row.defaults})
    return out


def _stored(
    session: Session, table: Table, identity: Sequence[str], rows: list[dict[str, Any]]
) -> dict[tuple[str, ...], dict[str, Any]]:
    """The stored rows of `rows`' objects, locked until the transaction ends (so nobody changes
    them between this read and the upsert)."""
    statement = select(table).where(matching_identities(table, identity)).with_for_update()
    params = {"identities": [{c: r[c] for c in identity} for r in rows]}
    return {
        _key(found._mapping, identity): dict(found._mapping)
        for found in session.execute(statement, params)
    }


def _merged(column: str, stored: Any, incoming: Any) -> Any:
    if not isinstance(stored, Mapping) or not isinstance(incoming, Mapping):
        return incoming
    if column == "extensions":
        fields = {**(stored.get("fields") or {}), **(incoming.get("fields") or {})}
        return {**stored, **incoming, "fields": fields}
    return {**stored, **incoming}
