"""The Temporal worker: every workflow and activity of Krate Sync on one task queue.

Run it with `python -m worker` (or `python worker.py`); configuration comes from `KRATE_*`
environment variables (see settings.py). SIGTERM or SIGINT stops polling at once and gives
running activities `GRACEFUL_SHUTDOWN` to finish before they are cancelled.

Exit codes: 0 after a clean stop, 3 when Temporal cannot be reached, 1 on any other failure.
`python -m worker --healthcheck` exits 0 when this host has a worker polling the task queue
(the container health check of docker-compose.yml).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, NoReturn

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from settings import Settings, get_settings
from starter.priority import lower_own_priority

log = logging.getLogger("krate_sync.worker")

# Shorter than the 30 s Kubernetes and `docker compose stop` give before SIGKILL, so running
# activities either finish or are cancelled (and retried elsewhere) while we still own them.
GRACEFUL_SHUTDOWN = timedelta(seconds=25)
# Threads for synchronous activities; asynchronous ones run on the event loop and ignore it.
ACTIVITY_THREADS = 16

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_TEMPORAL_UNREACHABLE = 3


class TemporalUnreachable(RuntimeError):
    """The Temporal frontend did not answer at the configured address."""


async def connect(settings: Settings) -> Client:
    """A client for `settings`, with the pydantic data converter every Krate payload needs."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as err:  # the SDK reports transport failures as RuntimeError
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace!r}); is the server running? "
            f"Set KRATE_TEMPORAL_ADDRESS to change the address. ({err})"
        ) from err


@contextlib.asynccontextmanager
async def _stop_event(stop: asyncio.Event | None) -> AsyncIterator[asyncio.Event]:
    """`stop` if the caller owns stopping; otherwise an event that SIGTERM and SIGINT set."""
    if stop is not None:
        yield stop
        return
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Signal handlers only work in the main thread; elsewhere the caller must pass `stop`.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, event.set)
            installed.append(sig)
    try:
        yield event
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _registered(
    settings: Settings,
    extra_workflows: Sequence[type],
    extra_activities: Sequence[Callable[..., Any]],
) -> tuple[list[type], list[Callable[..., Any]]]:
    from activities import build_activities
    from workflows import WORKFLOWS

    return [*WORKFLOWS, *extra_workflows], [*build_activities(settings), *extra_activities]


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> None:
    """Poll `settings.task_queue` until `stop` is set (or, without `stop`, SIGTERM/SIGINT).

    Raises TemporalUnreachable when the server does not answer. `extra_workflows` and
    `extra_activities` are registered beside the project's own (tests use them).
    """
    client = await connect(settings)
    workflows, activities = _registered(settings, extra_workflows, extra_activities)
    async with _stop_event(stop) as stopping:
        if not workflows and not activities:
            # Temporal refuses a worker with nothing to run; stay up so supervisors see a
            # healthy process, and exit cleanly when asked.
            log.warning("no workflows or activities are registered; idling until stopped")
            await stopping.wait()
            return
        with ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="activity") as executor:
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=workflows,
                activities=activities,
                activity_executor=executor,
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            )
            log.info(
                "worker polling task queue %r on %s (namespace %r): %d workflows, %d activities",
                settings.task_queue,
                settings.temporal_address,
                settings.temporal_namespace,
                len(workflows),
                len(activities),
            )
            running = asyncio.create_task(worker.run(), name="temporal-worker")
            reconciling = asyncio.create_task(_reconcile(client, settings), name="reconcile")
            stopped = asyncio.create_task(stopping.wait(), name="worker-stop")
            try:
                await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this coroutine is cancelled: never leave the worker polling
                stopped.cancel()
                reconciling.cancel()
                if not running.done():
                    log.info(
                        "stopping: no new tasks; waiting up to %s for running activities",
                        GRACEFUL_SHUTDOWN,
                    )
                    await worker.shutdown()
            await running  # a fatal worker error surfaces here
            log.info("worker stopped")


async def _reconcile(client: Client, settings: Settings) -> None:
    """Start the workflow of every stored binding that has none, and of every write intent
    stored while Temporal was down (best effort, logged)."""
    if not settings.database_url:
        return
    from starter.intents import reconcile_pending_intents
    from starter.reconcile import reconcile_stored
    from store.db import make_engine

    try:
        started = await reconcile_stored(client, settings.task_queue, settings.database_url)
    except Exception:  # the worker itself must keep running; `krate-sync sync reconcile` retries
        log.exception("could not reconcile stored bindings with their workflows")
    else:
        log.info("reconciled %d binding workflow(s): %s", len(started), ", ".join(started))
    engine = make_engine(settings.sqlalchemy_database_url)
    try:
        intents = await reconcile_pending_intents(engine, client, settings.task_queue)
    except Exception:  # `krate-sync intents reconcile` retries
        log.exception("could not start the workflows of pending write intents")
    else:
        if intents:
            log.info("started %d pending write intent(s): %s", len(intents), ", ".join(intents))
    finally:
        engine.dispose()


async def healthcheck(settings: Settings) -> bool:
    """True when a worker on this host polls the task queue (or there is nothing to poll for)."""
    client = await connect(settings)
    workflows, activities = _registered(settings, (), ())
    if not workflows and not activities:
        return True
    kind = (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        if workflows
        else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    )
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=kind,
        )
    )
    # The SDK's default identity is "<pid>@<hostname>"; in a container the hostname is unique.
    suffix = f"@{socket.gethostname()}"
    return any(poller.identity.endswith(suffix) for poller in response.pollers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help="exit 0 if a worker on this host is polling the task queue, 1 otherwise",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    try:
        if args.healthcheck:
            return EXIT_OK if asyncio.run(healthcheck(settings)) else EXIT_FAILURE
        lower_own_priority(settings.worker_priority)  # before any thread starts
        asyncio.run(run_worker(settings))
    except TemporalUnreachable as err:
        print(f"krate-sync worker: {err}", file=sys.stderr)
        return EXIT_TEMPORAL_UNREACHABLE
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return EXIT_OK
    return EXIT_OK


def exit_without_finalizing(code: int) -> NoReturn:
    """Flush and leave at once, skipping interpreter finalization.

    The Temporal SDK's Rust core keeps threads that may touch the interpreter while it is being
    torn down, which aborts the process ("PyGILState_Release ... finalizing", SIGABRT) after an
    otherwise clean stop (temporalio/sdk-python#300). Nothing of ours needs atexit handlers.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_finalizing(main())
