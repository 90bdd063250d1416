"""Per-app dependencies of the webhook receiver and the API: the engine, the Temporal signaler,
the API tokens, the config cache, the group-commit writer, the signal batcher and the
background sweeper. Built on first use, so importing or creating the app connects to nothing
(the app factory belongs to another module)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from starlette.applications import Starlette

from ingress.auth import TokenStore, load_token_store
from ingress.cache import DEFAULT_TTL, ConfigCache
from ingress.signaler import SIGNAL_WINDOW, SignalBatcher, WorkflowSignaler
from ingress.writer import DEFAULT_LINGER, DEFAULT_MAX_BATCH, GroupCommitWriter
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
    config_ttl: float = DEFAULT_TTL
    commit_linger: float = DEFAULT_LINGER
    commit_max_batch: int = DEFAULT_MAX_BATCH
    signal_window: float = SIGNAL_WINDOW
    # How long closing waits for queued writes and signals before it gives up on them.
    drain_timeout: float = 10.0
    configs: ConfigCache = field(init=False, repr=False)
    writer: GroupCommitWriter = field(init=False, repr=False)
    signals: SignalBatcher = field(init=False, repr=False)
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.configs = ConfigCache(self.engine, self.settings.secrets_dir, ttl=self.config_ttl)
        self.writer = GroupCommitWriter(
            self.engine, max_batch=self.commit_max_batch, linger=self.commit_linger
        )
        self.signals = SignalBatcher(self.signaler, window=self.signal_window)

    def ensure_sweeper(self) -> None:
        """Start the background sweeper once, on the running loop (the first request's)."""
        if not self.start_sweeper or (self._sweeper is not None and not self._sweeper.done()):
            return
        from ingress.sweeper import run_sweeper

        self._sweeper = asyncio.get_running_loop().create_task(
            run_sweeper(self.engine, self.signaler, interval=self.sweeper_interval)
        )

    async def close(self) -> None:
        """Answer the requests waiting for a commit, send the signals collected so far (both
        bounded by `drain_timeout`), then stop the sweeper and release the connections."""
        await self.writer.close(self.drain_timeout)
        await self.signals.close(self.drain_timeout)
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
