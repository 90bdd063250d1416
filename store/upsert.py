"""Version-guarded upserts of provider objects into the projection tables.

One rule, enforced by the database in a single statement per page of rows:

- the provider's version is `external_updated_at`; an incoming row replaces the stored one only
  when it is strictly newer, or when the stored one has no version;
- an incoming row without a version never replaces a versioned one;
- a tie (the same version) with the same content changes nothing;
- a tie with other content keeps the stored row and marks it (`refresh_wanted_at`): GitHub's
  versions have one-second resolution, so two states of one object can share a version and
  neither row can say which is newer. A fresh read of that one object settles it
  (`settle_fresh_read`, called by the binding's refresh round), and the outcome is `tied`, never
  `updated`, so nobody calls the dropped change applied.

So webhooks and backfill pages may arrive in any order and the row converges to the provider's
state: a newer version replaces, and a same-second race ends with a read of the provider's
current state. Every incoming row, even a stale one, proves the object still exists at the
provider: it refreshes `synced_at`, and a row that is not stale clears a tombstone
(`deleted_at`). Full resyncs then tombstone what they did not see (`mark_unseen_deleted`).

Why the mark is re-armed by any tie that arrives while it is set, even one equal to the stored
row: the fresh read may have happened before the provider's last same-second change, whose
event then arrives before the read is written. The read is written only if the mark it was
taken for is still the mark on the row (`settle_fresh_read`'s token), so a read that may be
older than an arrival never lands; the next round reads again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    TableValuedAlias,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import (
    column as sql_column,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from store.models.projections import Projection, projection_table

VERSION = "external_updated_at"
REFRESH = "refresh_wanted_at"
# Columns an upsert must not be given: the key, and what the rule above maintains.
MANAGED_COLUMNS = frozenset({"id", "deleted_at", "recorded_at", REFRESH})
# Columns that are bookkeeping, not the provider's content: two rows of one version that differ
# only here are the same state (a webhook and a REST read of one object differ in urls, etags
# and the raw fields kept in extensions).
NOT_CONTENT = frozenset(
    {
        VERSION,
        REFRESH,
        "synced_at",
        "deleted_at",
        "etag",
        "url",
        "api_url",
        "node_id",
        "binding_ref",
        # One object read through two listings (GitHub's issues and pulls APIs both report a
        # pull request) carries two native ids; the identity says it is one object.
        "interface",
        "native_kind",
        "native_id",
        "native_number",
        # GitHub computes a pull request's mergeability in the background and changes it without
        # a new updated_at; listings and single reads disagree on it for the same version.
        "merge_state",
        "extensions",
        "base_snapshot",
        "local_changes",
        "local_generation",
        "conflict_ref",
    }
)
# psycopg allows 65535 parameters per statement; stay well below it.
MAX_PARAMETERS = 30_000


class UpsertOutcome(StrEnum):
    INSERTED = "inserted"  # a new row
    UPDATED = "updated"  # newer data replaced the row, or a tombstoned row came back
    STALE = "stale"  # older than the stored version: ignored (only synced_at refreshed)
    UNCHANGED = "unchanged"  # the same version and content, or the same data: nothing changed
    TIED = "tied"  # the same version, other content: kept, marked for a fresh read


@dataclass(frozen=True)
class _Prepared:
    rows: list[dict[str, Any]]  # one per identity, in first-seen order
    superseded: dict[int, UpsertOutcome]  # input index -> outcome of rows dropped as duplicates
    index_of: dict[tuple[str, ...], int]  # identity -> input index of the kept row


def upsert(session: Session, model: type[Projection], row: Mapping[str, Any]) -> UpsertOutcome:
    """Insert or version-guarded update of one provider object; see the module docstring."""
    return upsert_many(session, model, [row])[0]


def upsert_many(
    session: Session, model: type[Projection], rows: Sequence[Mapping[str, Any]]
) -> list[UpsertOutcome]:
    """Upsert a page of rows (one statement per page); outcomes come back in input order.

    Rows name columns by attribute name; columns a row leaves out keep their stored value (or
    their default on insert). Rows of one call should name the same columns; rows that do not
    are sent in separate statements. Two rows for one object in the same page are reduced to
    the one the version rule keeps; the others report `stale` (older) or `unchanged` (a tie).
    """
    outcomes: list[UpsertOutcome | None] = [None] * len(rows)
    for positions in _group_by_columns(model, rows):
        group = [_normalised(rows[i]) for i in positions]
        prepared = _prepare(model, group)
        for local, outcome in prepared.superseded.items():
            outcomes[positions[local]] = outcome
        size = max(1, MAX_PARAMETERS // (2 * len(prepared.rows[0]) + len(model.identity)))
        for start in range(0, len(prepared.rows), size):
            chunk = prepared.rows[start : start + size]
            for key, outcome in _execute(session, model, chunk).items():
                outcomes[positions[prepared.index_of[key]]] = outcome
    return [o if o is not None else UpsertOutcome.UNCHANGED for o in outcomes]


def settle_fresh_read(
    session: Session,
    model: type[Projection],
    row: Mapping[str, Any],
    *,
    mark: datetime | None,
) -> UpsertOutcome:
    """Write a row the provider just returned for an object marked `refresh_wanted_at`.

    `mark` is the row's mark as it was read before the provider was asked. On a tie the fresh
    read replaces the stored row (and clears the mark) only while that mark is still on the
    row: any arrival since re-armed it, and this read may be older than that arrival, so the
    row stays marked and the next round reads again (`tied`). A newer or older version follows
    the ordinary rule.
    """
    incoming = _normalised(row)
    _group_by_columns(model, [incoming])  # the same checks as upsert_many
    table = projection_table(model)
    where = _identity_where(table, model, incoming)
    current = session.execute(
        select(table.c[VERSION], table.c[REFRESH]).where(*where).with_for_update()
    ).first()
    version = incoming.get(VERSION)
    if current is None or current[0] is None or version is None or version != current[0]:
        return upsert(session, model, incoming)
    if current[1] != mark:
        return UpsertOutcome.TIED
    values = {c: v for c, v in incoming.items() if c not in model.identity}
    values.update({REFRESH: None, "deleted_at": None, "synced_at": func.now()})
    session.execute(update(table).where(*where).values(**values))
    return UpsertOutcome.UPDATED


def mark_holds(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    *,
    mark: datetime | None,
) -> bool:
    """Whether the row still carries `mark` (locked until the transaction ends, so it stays)."""
    table = projection_table(model)
    where = _identity_where(table, model, identity)
    current = session.execute(select(table.c[REFRESH]).where(*where).with_for_update()).first()
    return current is not None and current[0] == mark


def clear_refresh_mark(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    *,
    mark: datetime | None,
) -> bool:
    """Drop the mark of an object the provider no longer has (the caller tombstones it), if it
    is still the mark the read was taken for; False when another arrival re-armed it."""
    table = projection_table(model)
    where = _identity_where(table, model, identity)
    where.append(table.c[REFRESH] == mark if mark is not None else table.c[REFRESH].is_(None))
    result = session.execute(update(table).where(*where).values({REFRESH: None}))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


def count_outcomes(outcomes: Iterable[UpsertOutcome]) -> dict[UpsertOutcome, int]:
    """How many rows had each outcome (every outcome listed, zero included)."""
    counts = dict.fromkeys(UpsertOutcome, 0)
    for outcome in outcomes:
        counts[outcome] += 1
    return counts


def mark_unseen_deleted(
    session: Session,
    model: type[Projection],
    *,
    org: str,
    provider_ref: str,
    seen_since: datetime,
    scope: Mapping[str, Any] | None = None,
) -> int:
    """Tombstone the rows of a scope that no sync has seen since `seen_since`.

    After a full resync of a scope (org, provider, plus `scope` columns such as
    {"repository": "a5c-ai/krate"}), call this with the time the resync started, taken from
    `database_now` so both sides of the comparison use the database's clock. Returns how many
    rows were marked. Rows are marked, never removed; seeing the object again un-marks it.
    """
    table = projection_table(model)
    conditions = [
        table.c.org == org,
        table.c.provider_ref == provider_ref,
        table.c.synced_at < seen_since,
        table.c.deleted_at.is_(None),
    ]
    for column, value in (scope or {}).items():
        conditions.append(_column(table, column) == value)
    result = session.execute(update(table).where(*conditions).values(deleted_at=func.now()))
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


def mark_deleted(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    *,
    version: datetime | None = None,
) -> bool:
    """Tombstone one object the provider reported deleted; False when no row matched.

    `version` is the provider's time of the deletion, when it gives one. It is stored as the
    row's version, so an update event older than the deletion that arrives late is stale and
    cannot bring the object back. A deletion older than the stored version is ignored.
    """
    table = projection_table(model)
    missing = set(model.identity) - set(identity)
    if missing:
        raise ValueError(f"{model.__name__} identity needs {sorted(missing)}")
    stored = table.c[VERSION]
    when = _as_version(version)
    conditions = _identity_where(table, model, identity)
    values: dict[str, Any] = {"deleted_at": func.coalesce(table.c.deleted_at, func.now())}
    if when is not None:
        conditions.append(or_(stored.is_(None), stored <= when))
        values[VERSION] = func.greatest(stored, when)
    statement = update(table).where(*conditions).values(**values).returning(table.c.id)
    return session.execute(statement).first() is not None


def database_now(session: Session) -> datetime:
    """The database's current transaction time: the clock `synced_at` is written with."""
    value = session.execute(select(func.now())).scalar_one()
    assert isinstance(value, datetime)
    return value


# -- internals -------------------------------------------------------------------------------


def _column(table: Table, name: str) -> ColumnElement[Any]:
    if name not in table.c:
        raise ValueError(f"{table.name} has no column {name!r}")
    return table.c[name]


def _identity_where(
    table: Table, model: type[Projection], values: Mapping[str, Any]
) -> list[ColumnElement[bool]]:
    """The row of `values`' identity."""
    return [_column(table, c) == values[c] for c in model.identity]


def _as_version(value: Any) -> datetime | None:
    """A provider version as an aware datetime (ISO strings and naive UTC times accepted)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"{VERSION} must be a datetime or an ISO 8601 string, not {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _normalised(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if VERSION in out:
        out[VERSION] = _as_version(out[VERSION])
    return out


def _group_by_columns(
    model: type[Projection], rows: Sequence[Mapping[str, Any]]
) -> list[list[int]]:
    table = projection_table(model)
    groups: dict[frozenset[str], list[int]] = {}
    for position, row in enumerate(rows):
        columns = frozenset(row)
        unknown = columns - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
        managed = columns & MANAGED_COLUMNS
        if managed:
            raise ValueError(f"{sorted(managed)} are maintained by the store; do not pass them")
        missing = set(model.identity) - columns
        if missing:
            raise ValueError(f"{table.name} rows need their identity columns {sorted(missing)}")
        groups.setdefault(columns, []).append(position)
    return list(groups.values())


def _key(row: Mapping[Any, Any], identity: Sequence[str]) -> tuple[str, ...]:
    """An identity as text, so 42 given as "42" still matches what the database returns."""
    return tuple(str(row[c]) for c in identity)


def _newer(incoming: datetime | None, stored: datetime | None, *, stored_exists: bool) -> bool:
    """The version rule in Python, for duplicates inside one page (mirrors `_execute`)."""
    if not stored_exists or stored is None:
        return True
    return incoming is not None and incoming > stored


def _prepare(model: type[Projection], rows: list[dict[str, Any]]) -> _Prepared:
    """Reduce a page to one row per identity, as applying the rows in order would.

    Every row gets a `refresh_wanted_at` value: None, or (when another row of the page had the
    same version and other content) a mark, so the kept row is flagged as a tie would flag it.
    """
    kept: dict[tuple[str, ...], int] = {}
    superseded: dict[int, UpsertOutcome] = {}
    for index, row in enumerate(rows):
        row[REFRESH] = None
        key = _key(row, model.identity)
        if key not in kept:
            kept[key] = index
            continue
        best = rows[kept[key]]
        if _newer(row.get(VERSION), best.get(VERSION), stored_exists=True):
            superseded[kept[key]] = UpsertOutcome.STALE  # a newer version follows in this page
            kept[key] = index
        elif _stale(row.get(VERSION), best.get(VERSION)):
            superseded[index] = UpsertOutcome.STALE
        elif _content(row, model) != _content(best, model):
            superseded[index] = UpsertOutcome.TIED
            best[REFRESH] = datetime.now(UTC)  # the kept row waits for a fresh read
        else:
            superseded[index] = UpsertOutcome.UNCHANGED
    order = sorted(kept.items(), key=lambda item: item[1])
    return _Prepared(
        rows=[rows[i] for _, i in order],
        superseded=superseded,
        index_of=dict(order),
    )


def _content(row: Mapping[str, Any], model: type[Projection]) -> dict[str, Any]:
    """The provider's content of a row: what two same-version rows must agree on."""
    return {c: v for c, v in row.items() if c not in NOT_CONTENT and c not in model.identity}


def content_columns(model: type[Projection], columns: Iterable[str]) -> list[str]:
    """Which of `columns` are the provider's content (see NOT_CONTENT)."""
    return [c for c in columns if c not in NOT_CONTENT and c not in model.identity]


def _stale(incoming: datetime | None, stored: datetime | None) -> bool:
    return stored is not None and (incoming is None or incoming < stored)


def rows_relation(
    table: Table, columns: Sequence[str], *, parameter: str = "incoming", name: str = "incoming"
) -> TableValuedAlias:
    """Rows passed as one JSON parameter, as a relation of `table`'s column types:
    `jsonb_to_recordset(:parameter) AS name(col type, ...)`.

    One JSON parameter instead of a VALUES list or an `IN (...)` list keeps the statement's text
    the same whatever the number of rows, so SQLAlchemy compiles it once and the driver can
    prepare it on the server (a multi-row VALUES insert was compiled again for every page, and
    every new text is parsed and planned again by PostgreSQL)."""
    return (
        func.jsonb_to_recordset(bindparam(parameter, type_=JSONB))
        .table_valued(*(sql_column(c, table.c[c].type) for c in columns))
        .render_derived(name=name, with_types=True)
    )


def matching_identities(
    table: Table, identity: Sequence[str], *, parameter: str = "identities"
) -> ColumnElement[bool]:
    """`table`'s identity is one of the rows of JSON parameter `parameter` (a list of objects
    holding the identity columns): an `IN` whose statement text never changes."""
    keys = rows_relation(table, identity, parameter=parameter, name=f"{parameter}_keys")
    listed = select(*(keys.c[c] for c in identity))
    return tuple_(*(table.c[c] for c in identity)).in_(listed)


def _incoming(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    """The page's rows as a relation (`rows_relation` of parameter `incoming`)."""
    record = rows_relation(table, columns)
    return select(*(record.c[c] for c in columns))


def _execute(
    session: Session, model: type[Projection], rows: list[dict[str, Any]]
) -> dict[tuple[str, ...], UpsertOutcome]:
    """One statement: read the stored versions, upsert, and report what happened to each row.

    WITH prior AS (SELECT ... FROM t WHERE identity IN (<incoming>)), -- the rows before
         upserted AS (INSERT ... ON CONFLICT (identity) DO UPDATE SET
                        col = CASE WHEN <newer> THEN excluded.col ELSE t.col END, ...
                        refresh_wanted_at = CASE WHEN <newer> THEN excluded.mark
                                                 WHEN <tie, and content differs or a mark is
                                                       set> THEN clock_timestamp()
                                                 ELSE t.refresh_wanted_at END
                      RETURNING identity, written columns, xmax = 0 AS inserted)
    SELECT ... FROM upserted LEFT JOIN prior USING (identity)

    Every statement in a WITH sees the same snapshot, so `prior` holds the rows as they were
    before the upsert; comparing them with what the upsert returned tells updated from
    unchanged, their version tells stale, and a new mark tells tied.
    """
    table = projection_table(model)
    identity = list(model.identity)
    written = [c for c in rows[0] if c not in identity and c != REFRESH]
    if VERSION not in written:
        written.append(VERSION)  # compared even when the rows carry none (NULL)

    statement = insert(table).from_select(list(rows[0]), _incoming(table, tuple(rows[0])))
    excluded = statement.excluded
    stored = table.c[VERSION]
    incoming = excluded[VERSION]
    newer = or_(stored.is_(None), incoming > stored)
    not_stale = or_(stored.is_(None), incoming >= stored)
    content = content_columns(model, written)
    differs = (
        tuple_(*(excluded[c] for c in content)).is_distinct_from(
            tuple_(*(table.c[c] for c in content))
        )
        if content
        else literal_column("false")
    )
    tie_to_settle = and_(
        incoming == stored,
        or_(differs, table.c[REFRESH].is_not(None), excluded[REFRESH].is_not(None)),
    )
    assignments: dict[str, Any] = {
        c: case((newer, excluded[c]), else_=table.c[c]) for c in written if c != "synced_at"
    }
    assignments["synced_at"] = excluded.synced_at  # seen now, whatever the version
    assignments["deleted_at"] = case((not_stale, null()), else_=table.c.deleted_at)
    assignments[REFRESH] = case(
        (newer, excluded[REFRESH]),
        (tie_to_settle, func.clock_timestamp()),  # a new mark each time: see the docstring
        else_=table.c[REFRESH],
    )
    compared = [*written, "deleted_at"]
    compared = [c for c in compared if c != "synced_at"]
    upserted = (
        statement.on_conflict_do_update(constraint=f"uq_{table.name}_identity", set_=assignments)
        .returning(
            *(table.c[c] for c in identity),
            *(table.c[c] for c in compared),
            table.c[REFRESH],
            (literal_column("xmax") == 0).label("inserted"),
        )
        .cte("upserted")
    )
    prior = (
        select(
            *(table.c[c] for c in identity),
            *(table.c[c] for c in compared),
            table.c[REFRESH],
        )
        .where(matching_identities(table, identity, parameter="incoming"))
        .cte("prior")
    )
    changed = tuple_(*(prior.c[c] for c in compared)).is_distinct_from(
        tuple_(*(upserted.c[c] for c in compared))
    )
    marked = and_(
        upserted.c[REFRESH].is_not(None),
        upserted.c[REFRESH].is_distinct_from(prior.c[REFRESH]),
    )
    result = session.execute(
        select(
            *(upserted.c[c] for c in identity),
            upserted.c.inserted,
            prior.c[VERSION].label("prior_version"),
            changed.label("changed"),
            marked.label("marked"),
        ).select_from(
            upserted.outerjoin(prior, and_(*(upserted.c[c] == prior.c[c] for c in identity)))
        ),
        {"incoming": rows},
    )
    by_key = {_key(row, identity): row for row in rows}
    outcomes: dict[tuple[str, ...], UpsertOutcome] = {}
    for record in result.mappings():
        key = _key(record, identity)
        version = by_key[key].get(VERSION)
        if record["inserted"]:
            outcomes[key] = UpsertOutcome.INSERTED
        elif _stale(version, record["prior_version"]):
            outcomes[key] = UpsertOutcome.STALE
        elif record["marked"] and version is not None and version == record["prior_version"]:
            outcomes[key] = UpsertOutcome.TIED
        elif record["changed"]:
            outcomes[key] = UpsertOutcome.UPDATED
        else:
            outcomes[key] = UpsertOutcome.UNCHANGED
    return outcomes
