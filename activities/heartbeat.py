"""Heartbeats while an activity waits on a provider: a slow provider is told from a dead worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(every: float) -> AsyncIterator[None]:
    """Heartbeat every `every` seconds for as long as the block runs (no-op outside activities).

    With a heartbeat timeout on the call, a worker killed mid-request is noticed within that
    timeout and the next attempt starts soon after, instead of after start-to-close.
    """
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
