"""`krate-sync apply` starts each binding's sync workflow; `sync` commands signal and query it.
Real Temporal dev server, real PostgreSQL, a scripted backfill activity."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio.client import (
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cli import run_cli
from tests.helpers.paths import SPEC_EXAMPLES
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_binding_sync_workflow import ScriptedProvider
from workflows.binding_sync import BindingSyncWorkflow


def _env(database: str, env: WorkflowEnvironment, task_queue: str) -> dict[str, str | None]:
    return {
        "KRATE_DATABASE_URL": database,
        "KRATE_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "KRATE_TEMPORAL_NAMESPACE": env.client.namespace,
        "KRATE_TASK_QUEUE": task_queue,
    }


async def test_apply_starts_the_binding_workflow_and_sync_commands_reach_it(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    dev_server_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    env = _env(clean_database, dev_server_env, task_queue)
    # The binding name is unique per run: the dev server outlives single tests.
    binding_name = f"github-krate-{uuid.uuid4().hex[:6]}"
    for source in SPEC_EXAMPLES.glob("*.yaml"):
        doc = yaml.safe_load(source.read_text())
        if doc.get("kind") == "ExternalBackendBinding":
            doc["metadata"]["name"] = binding_name
        (tmp_path / source.name).write_text(yaml.safe_dump(doc))

    provider = ScriptedProvider(pages=1)
    async with new_worker(
        dev_server_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
        task_queue=task_queue,
    ):
        applied = await asyncio.to_thread(
            run_cli, monkeypatch, "apply", "-f", str(tmp_path), env=env
        )
        assert applied.code == 0, applied.stderr
        workflow = f"sync/a5c/{binding_name}"
        assert f"workflow {workflow} started or reconfigured" in applied.stdout

        handle = dev_server_env.client.get_workflow_handle(workflow)
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        attrs = {pair.key.name: pair.value for pair in description.typed_search_attributes}
        assert attrs["KrateOrg"] == "a5c"
        assert attrs["KrateBinding"] == binding_name
        assert sorted(attrs["KrateInterface"]) == ["cicd", "gitForge", "issueTracking"]

        status = await handle.query(BindingSyncWorkflow.status)
        assert status.provider == "github-a5c"
        assert status.generation == 1

        # The policy's fullResyncInterval (24h) became a Schedule of FullResyncWorkflow.
        schedule = dev_server_env.client.get_schedule_handle(f"resync/a5c/{binding_name}")
        described = await schedule.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(hours=24)
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "FullResyncWorkflow"

        # Unchanged manifests: nothing is re-sent to the workflow.
        again = await asyncio.to_thread(run_cli, monkeypatch, "apply", "-f", str(tmp_path), env=env)
        assert again.code == 0, again.stderr
        assert "started or reconfigured" not in again.stdout

        # A changed binding reconfigures the running workflow (same run, new generation).
        binding_file = tmp_path / "binding-github-krate.yaml"
        doc = yaml.safe_load(binding_file.read_text())
        doc["spec"]["interfaces"]["cicd"]["enabled"] = False
        binding_file.write_text(yaml.safe_dump(doc))
        changed = await asyncio.to_thread(
            run_cli, monkeypatch, "apply", "-f", str(binding_file), env=env
        )
        assert changed.code == 0, changed.stderr
        for _ in range(100):
            status = await handle.query(BindingSyncWorkflow.status)
            if status.generation == 2:
                break
            await asyncio.sleep(0.1)
        assert status.generation == 2
        assert (await handle.describe()).run_id == description.run_id

        paused = await asyncio.to_thread(
            run_cli, monkeypatch, "sync", "pause", binding_name, "--reason", "maintenance", env=env
        )
        assert paused.code == 0, paused.stderr
        shown = await asyncio.to_thread(
            run_cli, monkeypatch, "sync", "status", binding_name, "-o", "json", env=env
        )
        assert shown.code == 0, shown.stderr
        assert '"phase": "Paused"' in shown.stdout
        assert '"paused_reason": "maintenance"' in shown.stdout

        deleted = await asyncio.to_thread(
            run_cli, monkeypatch, "delete", "binding", binding_name, env=env
        )
        assert deleted.code == 0, deleted.stderr
        assert f"workflow {workflow} stopped" in deleted.stdout
        assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
        with pytest.raises(RPCError):
            await schedule.describe()  # the Schedule went with the binding


async def test_worker_starts_workflows_of_bindings_applied_while_temporal_was_down(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    dev_server_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    from settings import Settings
    from worker import run_worker

    task_queue = f"test-{uuid.uuid4()}"
    binding_name = f"github-krate-{uuid.uuid4().hex[:6]}"
    for source in SPEC_EXAMPLES.glob("*.yaml"):
        doc = yaml.safe_load(source.read_text())
        if doc.get("kind") == "ExternalBackendBinding":
            doc["metadata"]["name"] = binding_name
        (tmp_path / source.name).write_text(yaml.safe_dump(doc))
    down = {
        **_env(clean_database, dev_server_env, task_queue),
        "KRATE_TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    applied = await asyncio.to_thread(run_cli, monkeypatch, "apply", "-f", str(tmp_path), env=down)
    assert applied.code == 0, applied.stderr
    assert "the sync workflows were not started" in applied.stderr

    settings = Settings(
        database_url=clean_database,
        temporal_address=dev_server_env.client.service_client.config.target_host,
        temporal_namespace=dev_server_env.client.namespace,
        task_queue=task_queue,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        handle = dev_server_env.client.get_workflow_handle(f"sync/a5c/{binding_name}")
        for _ in range(100):
            try:
                description = await handle.describe()
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the worker did not start the binding's workflow")
        assert description.status == WorkflowExecutionStatus.RUNNING
        await handle.terminate(reason="test over")
    finally:
        stop.set()
        await running
