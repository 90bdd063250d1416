"""Helpers for tests that run workflows: a worker on a task queue of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker


def new_worker(
    client: Client,
    *workflows: type,
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **kwargs: Any,
) -> Worker:
    """A worker on a fresh task queue (a uuid), so tests never steal each other's tasks."""
    return Worker(
        client,
        task_queue=task_queue or f"test-{uuid.uuid4()}",
        workflows=list(workflows),
        activities=list(activities),
        activity_executor=ThreadPoolExecutor(4),
        **kwargs,
    )
