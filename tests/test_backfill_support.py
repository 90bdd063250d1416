"""Shared pieces of the backfill tests: a binding with a token Secret on disk, the activities
wired to a simulator (in process or over a socket) and a scope walker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from temporalio.testing import ActivityEnvironment

from activities.backfill import BackfillActivities
from activities.backfill_models import (
    BackfillPageInput,
    BackfillPageResult,
    BindingRef,
    ScopeCursor,
    SyncScope,
)
from activities.provider_factory import ProviderFactory
from store.db import make_engine, session_scope
from store.models.projections import Projection
from workflows.binding_sync import ADDED_KINDS, INTERFACE_KINDS

ORG = "acme"
PROVIDER = "github-a5c"
BINDING = "github-krate"
SECRET = "github-token"
NAMESPACE = "krate"


def write_token_secret(secrets_dir: Path, token: str = "sim-token") -> None:
    path = secrets_dir / NAMESPACE / SECRET
    path.mkdir(parents=True, exist_ok=True)
    (path / "token").write_text(token + "\n")


def binding_ref(base_url: str) -> BindingRef:
    return BindingRef(
        org=ORG,
        namespace=NAMESPACE,
        binding=BINDING,
        provider=PROVIDER,
        provider_type="github",
        api_base_url=base_url,
        auth_secret=SECRET,
    )


def backfill_activities(
    database_url: str,
    secrets_dir: Path,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[BackfillActivities, ProviderFactory, Engine]:
    engine = make_engine(database_url)
    factory = ProviderFactory(
        secrets_dir, transport_factory=(lambda _b: transport) if transport is not None else None
    )
    return BackfillActivities(lambda: engine, factory), factory, engine


def scopes(owner: str, repository: str) -> list[SyncScope]:
    return [
        SyncScope(interface=interface, resource_kind=kind, owner=owner, repository=repository)
        for table in (INTERFACE_KINDS, ADDED_KINDS)
        for interface, kinds in table.items()
        for kind in kinds
    ]


async def walk(
    acts: BackfillActivities,
    binding: BindingRef,
    cursor: ScopeCursor,
    *,
    full: bool = False,
    max_pages: int = 500,
) -> tuple[ScopeCursor, list[BackfillPageResult]]:
    """Every page of one pass of one scope, as the workflow runs them (cursor through JSON)."""
    env = ActivityEnvironment()
    results: list[BackfillPageResult] = []
    for _ in range(max_pages):
        page_input = BackfillPageInput(binding=binding, cursor=cursor, full=full)
        page_input = BackfillPageInput.model_validate_json(page_input.model_dump_json())
        result = await env.run(acts.backfill_page, page_input)
        result = BackfillPageResult.model_validate_json(result.model_dump_json())
        results.append(result)
        cursor = result.cursor
        if result.done:
            return cursor, results
    raise AssertionError("scope still paging")


def count_rows(engine: Engine, table: type[Projection], **where: Any) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return int(session.execute(query).scalar_one())


def rows(engine: Engine, table: type[Projection], **where: Any) -> list[Any]:
    with session_scope(engine) as session:
        query = select(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return list(session.execute(query).scalars())


RequestLog = Callable[[], list[dict[str, Any]]]
