"""Signal-with-start of a binding's workflow with one delivery id; Temporal outages are expected.

The ingress never depends on Temporal to acknowledge: the delivery row is durable first. When
Temporal cannot be reached the row stays `Queued` without `status.signaledAt`, and the sweeper
signals it later.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.deliveries_models import NewDeliveryInput
from settings import Settings
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    workflow_id,
)

CONNECT_TIMEOUT = 3.0
RPC_TIMEOUT = timedelta(seconds=5)


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
        """Signal `new_delivery` to `sync/{org}/{binding}`, starting the workflow if needed."""
        client = await self.client()
        binding = config.binding
        try:
            await client.start_workflow(
                BindingSyncWorkflow.run,
                BindingSyncInput(config=config),
                id=workflow_id(binding.org, binding.binding),
                task_queue=self.settings.task_queue,
                start_signal="new_delivery",
                start_signal_args=[NewDeliveryInput(delivery_id=delivery_id)],
                rpc_timeout=RPC_TIMEOUT,
            )
        except Exception as error:  # RPCError, timeouts, a closed connection
            if self._client is client and _connection_lost(error):
                self._client = None  # the next call reconnects
            raise TemporalUnavailable(f"signal-with-start failed: {error}") from error


def _connection_lost(error: Exception) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(error, RPCError):
        return error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
    return True
