"""Signal-with-start of a binding's workflow with delivery ids; Temporal outages are expected.

The ingress never depends on Temporal to acknowledge: the delivery row is durable first. When
Temporal cannot be reached the row stays `Queued` without `status.signaledAt`, and the sweeper
signals it later.

`SignalBatcher` collects the ids stored for one binding over a short window (100 ms) and sends
them in one `new_deliveries` signal-with-start: one Temporal RPC and one workflow task per
window instead of per delivery. Nothing is written back to the rows: the sweeper tells a row
the ingress never signalled from one still being processed by its age (see ingress/sweeper.py),
which spares every delivery a row update on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.deliveries_models import NewDeliveriesInput, NewDeliveryInput
from settings import Settings
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    workflow_id,
)

log = logging.getLogger("krate_sync.ingress.signaler")

CONNECT_TIMEOUT = 3.0
RPC_TIMEOUT = timedelta(seconds=5)
# How long ids for one binding are collected before they are signalled together, and the most
# one signal carries (ids are short; this keeps a signal far below Temporal's payload limits).
# Each signal costs the Temporal server and the worker a workflow task (several milliseconds of
# CPU on the dev server): measured at 300/s, 100 ms instead of 20 ms cut Temporal's CPU per
# delivery from 1.1 to 0.7 ms and lowered both the ack and the projection p99; it adds at most
# 100 ms to a delivery's way to its projection (docs/benchmarks.md).
SIGNAL_WINDOW = 0.1
MAX_IDS_PER_SIGNAL = 500


class TemporalUnavailable(Exception):
    """Temporal did not take the signal (unreachable, timed out, refused)."""


class WorkflowSignaler:
    """One lazily connected client per ingress process; reconnects after a failure."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            self.settings.temporal_address,
                            namespace=self.settings.temporal_namespace,
                            data_converter=pydantic_data_converter,
                        ),
                        CONNECT_TIMEOUT,
                    )
                except (RuntimeError, TimeoutError, OSError) as error:
                    raise TemporalUnavailable(f"cannot reach Temporal: {error}") from error
            return self._client

    async def signal_delivery(self, config: BindingSyncConfig, delivery_id: str) -> None:
        """Signal `new_delivery` (one id) to `sync/{org}/{binding}`, starting it if needed."""
        await self._signal_with_start(
            config, "new_delivery", NewDeliveryInput(delivery_id=delivery_id)
        )

    async def signal_deliveries(self, config: BindingSyncConfig, delivery_ids: list[str]) -> None:
        """Signal `new_deliveries` (a list of ids) to `sync/{org}/{binding}`, starting it if
        needed. Workers must know this signal before an ingress sends it."""
        await self._signal_with_start(
            config, "new_deliveries", NewDeliveriesInput(delivery_ids=list(delivery_ids))
        )

    async def _signal_with_start(self, config: BindingSyncConfig, signal: str, arg: object) -> None:
        client = await self.client()
        binding = config.binding
        try:
            await client.start_workflow(
                BindingSyncWorkflow.run,
                BindingSyncInput(config=config),
                id=workflow_id(binding.org, binding.binding),
                task_queue=self.settings.task_queue,
                start_signal=signal,
                start_signal_args=[arg],
                rpc_timeout=RPC_TIMEOUT,
            )
        except Exception as error:  # RPCError, timeouts, a closed connection
            if self._client is client and _connection_lost(error):
                self._client = None  # the next call reconnects
            raise TemporalUnavailable(f"signal-with-start failed: {error}") from error


@dataclass
class _Pending:
    config: BindingSyncConfig
    since: float
    ids: list[str] = field(default_factory=list)


class SignalBatcher:
    """Batches delivery ids per binding into one signal-with-start at most every `window`
    seconds, and at most one in flight per binding: ids that arrive while a signal is being
    sent wait for it and go together in the next one, so when Temporal is slow the batches
    grow instead of the number of concurrent calls.

    `add` never waits: the request that stored the delivery has already answered (or is about
    to). Ids whose signal failed stay `Queued`, and the sweeper signals them.
    """

    def __init__(
        self,
        signaler: WorkflowSignaler,
        *,
        window: float = SIGNAL_WINDOW,
        max_ids: int = MAX_IDS_PER_SIGNAL,
    ) -> None:
        self.signaler = signaler
        self.window = window
        self.max_ids = max_ids
        self._pending: dict[str, _Pending] = {}
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # For tests and benchmarks.
        self.signals = 0
        self.signalled_ids = 0

    def add(self, config: BindingSyncConfig, delivery_id: str) -> None:
        key = workflow_id(config.binding.org, config.binding.binding)
        pending = self._pending.get(key)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._pending[key] = _Pending(config, loop.time())
            if key not in self._in_flight:
                self._spawn(self._flush_after(key, self.window))
        pending.ids.append(delivery_id)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_after(self, key: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        self._flush(key)

    def _flush(self, key: str) -> None:
        if key in self._in_flight or key not in self._pending:
            return  # sent when the signal in flight returns, or already sent
        pending = self._pending.pop(key)
        self._in_flight.add(key)
        self._spawn(self._send(key, pending))

    async def _send(self, key: str, pending: _Pending) -> None:
        try:
            for start in range(0, len(pending.ids), self.max_ids):
                await self._send_chunk(pending, pending.ids[start : start + self.max_ids])
        finally:
            self._in_flight.discard(key)
            waiting = self._pending.get(key)
            if waiting is not None and not self._closed:
                age = asyncio.get_running_loop().time() - waiting.since
                self._spawn(self._flush_after(key, self.window - age))

    async def _send_chunk(self, pending: _Pending, ids: list[str]) -> None:
        try:
            await self.signaler.signal_deliveries(pending.config, ids)
        except TemporalUnavailable as error:
            log.warning("%d deliveries stay Queued for the sweeper: %s", len(ids), error)
            return
        self.signals += 1
        self.signalled_ids += len(ids)

    async def flush(self) -> None:
        """Send everything collected so far and wait until nothing is in flight."""
        while self._pending or self._tasks:
            for key in list(self._pending):
                self._flush(key)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, within: float = 10.0) -> None:
        """Send what is pending (for at most `within` seconds), then drop the rest: the
        sweeper finds those rows Queued and unsignalled."""
        try:
            await asyncio.wait_for(self.flush(), within)
        except TimeoutError:
            self._closed = True
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            self._pending.clear()


def _connection_lost(error: Exception) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(error, RPCError):
        return error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
    return True
