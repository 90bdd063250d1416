"""A fresh read and a backfill listing of one unchanged object store the same content.

The refresh round writes what a single-object GET returns; backfill writes what GraphQL and
the REST listings return. If the two differed in any content column, every full resync (which
re-reads objects at their stored version) would tie with the refreshed rows, mark them, and read
them again, over and over. So: backfill a simulated repository, read every versioned object
again with `read_object`, and compare the rows column by column. GitHub simulator over HTTP
(in process), real Postgres.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from activities.backfill_models import ScopeCursor
from activities.projection import Owner, project
from activities.refresh import object_ref
from providers.github.simulator import SimulatorConfig, create_app
from store.db import session_scope
from store.models.projections import Projection
from store.projection_kinds import KIND_OF_TABLE, PROJECTION_BY_KIND
from store.upsert import content_columns
from tests.helpers.rows import VERSIONED_KINDS
from tests.test_backfill_support import (
    BINDING,
    ORG,
    PROVIDER,
    backfill_activities,
    binding_ref,
    scopes,
    walk,
    write_token_secret,
)

BASE = "http://github-sim.test"
# Commits are not backfilled, and branch protection read over REST has no version.
VERSIONED = tuple(
    k for k in VERSIONED_KINDS if k not in ("Commit", "BranchProtection", "RefPolicy")
)


def _stored(engine: Any, model: type[Projection]) -> list[dict[str, Any]]:
    table = model.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        return [dict(r._mapping) for r in session.execute(select(table))]


async def test_fresh_reads_match_what_backfill_stored(clean_database: str, tmp_path: Path) -> None:
    sim = create_app(
        SimulatorConfig(base_url=BASE),
        until=datetime(2026, 11, 1, tzinfo=UTC),
        repos=1,
        issues=12,
        pulls=8,
        comments=2,
        runs=4,
        jobs=2,
    )
    transport = httpx.ASGITransport(app=sim)
    write_token_secret(tmp_path)
    acts, factory, engine = backfill_activities(clean_database, tmp_path, transport)
    binding = binding_ref(BASE)
    repo = next(iter(sim.state.repos.values()))
    try:
        for scope in scopes(repo.owner.login, repo.name):
            await walk(acts, binding, ScopeCursor(scope=scope))
        provider = factory.github(binding)
        owner = Owner(org=ORG, provider_ref=PROVIDER, binding_ref=BINDING)
        compared = dict.fromkeys(VERSIONED, 0)
        for kind in VERSIONED:
            model = PROJECTION_BY_KIND[kind]
            for stored in _stored(engine, model):
                fresh = await provider.read_object(object_ref(model, stored))
                assert fresh is not None, (kind, stored["native_id"])
                projected = project(fresh, owner)
                assert projected is not None
                assert projected[0] is model
                row = projected[1]
                columns = content_columns(model, row)
                differs = {
                    c: (stored[c], row[c]) for c in columns if _plain(stored[c]) != _plain(row[c])
                }
                assert not differs, (KIND_OF_TABLE[model], stored["native_id"], differs)
                assert stored["external_updated_at"] == row["external_updated_at"]
                compared[kind] += 1
        assert all(compared.values()), compared  # every kind had objects to compare
    finally:
        await factory.aclose()
        engine.dispose()


def _plain(value: Any) -> Any:
    """Values as the database gives them back (datetimes aware, JSON as parsed)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value
