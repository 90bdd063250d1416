"""Same-second changes converge to the provider's final state, in every arrival order.

GitHub's versions have one-second resolution, so an object's states often share a version. The
property, for every versioned projection and through both write paths (a webhook batch's
`_write_plans` and a backfill page's `_write`): whatever the order in which the states arrive,
duplicated, batched together, interleaved with fresh reads that race with later arrivals, once
every state has arrived and the refresh rounds have run against the provider, the stored row is
the provider's final state. Real Postgres; the provider is the history itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, String, select
from sqlmodel.sql.sqltypes import AutoString

from activities.backfill import BackfillActivities
from activities.deliveries import _Plan, _write_plans
from activities.projection import Owner
from activities.refresh import write_fresh_read
from store.db import make_engine, session_scope
from store.models.aggregated import WebhookDelivery
from store.models.projections import Projection
from store.projection_kinds import PROJECTION_BY_KIND
from store.refresh_marks import marked_rows
from store.upsert import REFRESH, content_columns
from tests.helpers.rows import VERSIONED_KINDS, minimal_row

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
OWNER = Owner(org="a5c", provider_ref="github-a5c", binding_ref="github-krate")
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def _content_column(model: type[Projection]) -> str:
    """A text column of the provider's content to tell the states apart."""
    table = model.__table__  # type: ignore[attr-defined]
    for name in content_columns(model, table.columns.keys()):
        column = table.columns[name]
        if isinstance(column.type, String | AutoString) and name not in ("full_name", "owner"):
            return name
    raise AssertionError(f"{model.__name__} has no text content column")


def _base_row(model: type[Projection], object_id: int) -> dict[str, Any]:
    """Every required column filled in; identity columns unique to `object_id`."""
    return minimal_row(
        model,
        str(object_id),
        number=object_id,
        org=OWNER.org,
        provider_ref=OWNER.provider_ref,
        binding_ref=OWNER.binding_ref,
        interface="issueTracking",
        native_id=f"N{object_id}",
    )


@dataclass
class History:
    """One object's states at the provider, oldest first, and the writes still to make."""

    model: type[Projection]
    states: list[dict[str, Any]]
    happened: int = 1  # states[:happened] have happened at the provider
    undelivered: list[int] = field(default_factory=lambda: [0])

    @property
    def current(self) -> dict[str, Any]:
        return self.states[self.happened - 1]


def _history(model: type[Projection], steps: list[tuple[int, int]]) -> History:
    """States whose versions advance by the steps' seconds (mostly 0: the same second) and
    whose content is one of a few values, so a state may come back (draft, ready, draft)."""
    object_id = next(_ids)
    base = _base_row(model, object_id)
    column = _content_column(model)
    states = []
    version = T0
    for seconds, value in [(0, 0), *steps]:
        version += timedelta(seconds=seconds)
        states.append({**base, column: f"value {value}", "external_updated_at": version})
    return History(model=model, states=states)


def _deliver(
    engine: Engine, path: str, model: type[Projection], rows: list[dict[str, Any]]
) -> None:
    if path == "webhook":
        delivery = WebhookDelivery(
            namespace="krate-org-a5c",
            name="d",
            org=OWNER.org,
            provider_ref=OWNER.provider_ref,
            delivery_id="d",
            event_type="test",
        )
        plans = [_Plan(row=delivery, attempts=1) for _ in rows]
        for plan, row in zip(plans, rows, strict=True):
            plan.upserts.append((model, dict(row), (model.__name__, str(row["native_id"]))))
        with session_scope(engine) as session:
            _write_plans(session, plans)
    else:
        BackfillActivities(lambda: engine, None)._write(  # type: ignore[arg-type]
            [(model, dict(row)) for row in rows], False
        )


def _marked(engine: Engine, history: History) -> list[dict[str, Any]]:
    """The object's row, if it waits for a fresh read."""
    with session_scope(engine) as session:
        rows = marked_rows(
            session,
            [history.model],
            org=OWNER.org,
            provider_ref=OWNER.provider_ref,
            binding_ref=OWNER.binding_ref,
            limit=10_000,
        )
    native = history.states[0]["native_id"]
    return [row for _, row in rows if row["native_id"] == native]


def _write_read(
    engine: Engine, history: History, stored: dict[str, Any], read: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        write_fresh_read(session, OWNER, history.model, stored, dict(read))


def _stored(engine: Engine, history: History) -> dict[str, Any]:
    table = history.model.__table__  # type: ignore[attr-defined]
    native = history.states[0]["native_id"]
    with session_scope(engine) as session:
        found = session.execute(select(table).where(table.c.native_id == native)).one()
    return dict(found._mapping)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(VERSIONED_KINDS),
    path=st.sampled_from(["webhook", "backfill"]),
    steps=st.lists(
        st.tuples(st.sampled_from([0, 0, 0, 1]), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
)
def test_any_arrival_order_of_same_second_states_converges(
    engine: Engine, kind: str, path: str, steps: list[tuple[int, int]], data: st.DataObject
) -> None:
    history = _history(PROJECTION_BY_KIND[kind], steps)
    in_flight: tuple[dict[str, Any], dict[str, Any]] | None = None  # (marked row, read)
    total = len(history.states)
    for _ in range(4 * total):
        moves = ["change"] if history.happened < total else []
        if history.undelivered:
            moves.append("deliver")
        moves += ["redeliver", "start read"] if in_flight is None else ["finish read"]
        move = data.draw(st.sampled_from(moves))
        if move == "change":
            history.happened += 1
            history.undelivered.append(history.happened - 1)
        elif move == "deliver":
            # A batch of any waiting states, in any order (the same object twice in one batch
            # is the webhook path's rounds and the backfill page's duplicates).
            picked = data.draw(st.permutations(history.undelivered))
            size = data.draw(st.integers(min_value=1, max_value=len(picked)))
            batch = list(picked[:size])
            history.undelivered = [i for i in history.undelivered if i not in batch]
            _deliver(engine, path, history.model, [history.states[i] for i in batch])
        elif move == "redeliver":
            index = data.draw(st.integers(min_value=0, max_value=history.happened - 1))
            _deliver(engine, path, history.model, [history.states[index]])
        elif move == "start read":
            marked = _marked(engine, history)
            if marked:  # the round reads the provider's state now; its write comes later
                in_flight = (marked[0], history.current)
        else:
            assert in_flight is not None
            _write_read(engine, history, *in_flight)
            in_flight = None
    # Every state happens and arrives; the read in flight lands; then the rounds run.
    while history.happened < total:
        history.happened += 1
        history.undelivered.append(history.happened - 1)
    if history.undelivered:
        _deliver(engine, path, history.model, [history.states[i] for i in history.undelivered])
    if in_flight is not None:
        _write_read(engine, history, *in_flight)
    for _ in range(3):
        for stored in _marked(engine, history):
            _write_read(engine, history, stored, history.current)
    final = history.states[-1]
    row = _stored(engine, history)
    column = _content_column(history.model)
    assert row[column] == final[column], (row[column], final[column])
    assert row["external_updated_at"] == final["external_updated_at"]
    assert row[REFRESH] is None


@pytest.mark.parametrize("path", ["webhook", "backfill"])
def test_a_read_older_than_an_arrival_never_lands(engine: Engine, path: str) -> None:
    """draft, ready, draft in one second: the read sees `ready`, then the last `draft` arrives
    and equals the stored row. Written anyway, the read would leave `ready` behind for good."""
    history = _history(PROJECTION_BY_KIND["PullRequest"], [(0, 1), (0, 0)])
    draft, ready, draft_again = history.states
    _deliver(engine, path, history.model, [draft])
    _deliver(engine, path, history.model, [ready])  # a tie with other content: marked
    (marked,) = _marked(engine, history)
    read = ready  # the round reads the provider while it is `ready` ...
    _deliver(engine, path, history.model, [draft_again])  # ... and `draft` arrives meanwhile
    _write_read(engine, history, marked, read)
    assert _marked(engine, history), "the arrival re-armed the mark: the read must not land"
    for stored in _marked(engine, history):
        _write_read(engine, history, stored, draft_again)
    column = _content_column(history.model)
    assert _stored(engine, history)[column] == draft_again[column]
    assert not _marked(engine, history)
