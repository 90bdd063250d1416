"""The worker killed with SIGKILL while the write activity runs, 20 times over: every intent
still posts exactly one comment at the (simulated) provider.

`python -m worker` runs as a real process against the dev server, Postgres and the simulator
over a socket, with latency so that a kill lands in the middle of the provider calls (before
the read, between read and write, while the POST is in flight, after it answered). Each round
creates one intent, waits for its `execute_write` attempt to start, kills the worker at a random
moment and starts a new one; the new worker retries the lost attempts, which read first.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.writes_models import EXECUTE_WRITE_ACTIVITY
from providers.github.simulator import RunningSimulator
from providers.github.simulator.server import start_in_thread
from starter.intents import (
    CreatedWriteIntent,
    WriteIntentRequest,
    create_write_intent,
    start_write_intent,
)
from starter.reconcile import stop_binding_workflow
from store.db import make_engine, session_scope
from tests.helpers.worker_process import spawn_worker, worker_env
from tests.test_write_intent_support import (
    BINDING,
    ORG,
    apply_config,
    comments_with_marker,
    first_issue,
    handle_of,
    repository_name,
    requests_log,
    simulator,
    write_secret,
)

ROUNDS = 20
LATENCY_MS = 300


@pytest.fixture
def slow_simulator() -> Iterator[RunningSimulator]:
    running = start_in_thread(simulator(latency_ms=LATENCY_MS))
    try:
        yield running
    finally:
        running.stop()


async def _write_started(client: Client, workflow_id: str, within: float = 60) -> None:
    """Until the intent's execute_write attempt runs on a worker."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        described = await handle.describe()
        for pending in described.raw_description.pending_activities:
            if (
                pending.activity_type.name == EXECUTE_WRITE_ACTIVITY
                and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            ):
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{workflow_id}: the write never started")


@pytest.mark.timeout(900)
async def test_worker_killed_during_writes_posts_each_comment_once(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    slow_simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    client = dev_server_env.client
    base_url = slow_simulator.base_url
    engine = make_engine(clean_database)
    write_secret(tmp_path)
    repo = repository_name(base_url)
    # write-through: a user's intent runs without approval, so each round goes straight to it.
    apply_config(engine, base_url, repo, write_mode="write-through")
    issue = first_issue(base_url, repo)
    task_queue = f"write-kill-{uuid.uuid4().hex}"
    env = worker_env(client, task_queue, clean_database, tmp_path)
    rng = random.Random(20261128)
    intents: list[CreatedWriteIntent] = []
    worker = spawn_worker(env)
    try:
        for round_ in range(ROUNDS):
            with session_scope(engine) as session:
                created = create_write_intent(
                    session,
                    WriteIntentRequest(
                        org=ORG,
                        binding=BINDING,
                        operation="createComment",
                        parameters={"issue": issue, "body": f"round {round_}"},
                        actor="user:alice",
                    ),
                )
            assert not created.input.approval_required
            # A lost attempt is retried after 3 s instead of the production 10 s.
            created = _with_heartbeat(created, timedelta(seconds=3))
            intents.append(created)
            await start_write_intent(client, task_queue, created)
            await _write_started(client, created.workflow_id)
            # Somewhere in the read (one page), the POST, or just after its answer.
            await asyncio.sleep(rng.uniform(0, 3 * LATENCY_MS / 1000))
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            worker = spawn_worker(env)
        found_again = 0
        for created in intents:
            result = await asyncio.wait_for(
                handle_of(client, created.workflow_id).result(), timeout=240
            )
            assert result.phase == "Succeeded", (created.name, result.message)
            assert result.response is not None
            found_again += result.response.already_applied
        # How many kills struck after the POST reached the provider (informative: timing).
        print(f"{found_again} of {ROUNDS} comments were found by their marker on a retry")
        for created in intents:
            key = created.input.idempotency_key
            assert comments_with_marker(base_url, repo, issue, key) == 1, created.name
        posts = [
            r
            for r in requests_log(base_url)
            if r["method"] == "POST" and str(r["path"]).endswith(f"/issues/{issue}/comments")
        ]
        # Every comment needed its POST; a POST that landed before the kill was found again by
        # its marker, so the retries read instead of posting.
        assert len(posts) >= ROUNDS
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        # The worker reconciled the stored binding: stop its sync workflow and schedule.
        await stop_binding_workflow(client, ORG, BINDING)
        engine.dispose()


def _with_heartbeat(created: CreatedWriteIntent, timeout: timedelta) -> CreatedWriteIntent:
    from dataclasses import replace

    return replace(
        created, input=created.input.model_copy(update={"write_heartbeat_timeout": timeout})
    )
