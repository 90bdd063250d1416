"""Per-app dependencies of the webhook receiver and the API: the engine, the Temporal signaler,
the API tokens and the background sweeper. Built on first use, so importing or creating the app
connects to nothing (the app factory belongs to another module)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from starlette.applications import Starlette

from ingress.auth import TokenStore, load_token_store
from ingress.signaler import WorkflowSignaler
from settings import Settings
from store.db import make_engine

log = logging.getLogger("krate_sync.ingress")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    signaler: WorkflowSignaler
    tokens: TokenStore
    sweeper_interval: float = 5.0
    start_sweeper: bool = True
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

    def ensure_sweeper(self) -> None:
        """Start the background sweeper once, on the running loop (the first request's)."""
        if not self.start_sweeper or (self._sweeper is not None and not self._sweeper.done()):
            return
        from ingress.sweeper import run_sweeper

        self._sweeper = asyncio.get_running_loop().create_task(
            run_sweeper(self.engine, self.signaler, interval=self.sweeper_interval)
        )

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        self.engine.dispose()


def runtime(app: Starlette) -> Runtime:
    """The app's runtime, built from `app.state.settings` the first time it is needed.

    Tests (and embedders) may set `app.state.krate_runtime` themselves beforehand.
    """
    existing = getattr(app.state, "krate_runtime", None)
    if isinstance(existing, Runtime):
        return existing
    settings: Settings = app.state.settings
    built = Runtime(
        settings=settings,
        engine=make_engine(settings.sqlalchemy_database_url, pool_size=10, max_overflow=20),
        signaler=WorkflowSignaler(settings),
        tokens=load_token_store(settings.api_tokens_file),
    )
    app.state.krate_runtime = built
    return built
