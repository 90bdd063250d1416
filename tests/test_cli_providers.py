"""`krate-sync providers pause|resume|resync`, and `spec.paused` / `backfill.enabled` applied
with `krate-sync apply`: real Temporal dev server (workflows and Schedules), real PostgreSQL,
scripted backfill activities."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, ScheduleHandle, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import SPEC_EXAMPLES
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_cli_sync import _env
from tests.test_full_resync_workflow import ScriptedResync
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow
from workflows.full_resync import FullResyncWorkflow

PROVIDER = "github-a5c"


@dataclass
class Stack:
    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str | None]
    client: Client
    folder: Path
    bindings: list[str]

    async def cli(self, *args: str) -> Result:
        result = await asyncio.to_thread(run_cli, self.monkeypatch, *args, env=self.env)
        assert result.code == 0, result.stderr
        return result

    async def outcomes(self, *args: str) -> dict[str, str]:
        shown = await self.cli(*args, "-o", "json")
        return {o["binding"]: o["result"] for o in _items(shown.stdout)}

    def workflow(self, binding: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(f"sync/a5c/{binding}")

    def schedule(self, binding: str) -> ScheduleHandle:
        return self.client.get_schedule_handle(f"resync/a5c/{binding}")

    async def status(self, binding: str) -> BindingSyncStatus:
        status: BindingSyncStatus = await self.workflow(binding).query(BindingSyncWorkflow.status)
        return status

    async def until(self, binding: str, check: Any) -> BindingSyncStatus:
        for _ in range(300):
            status = await self.status(binding)
            if check(status):
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"never held for {binding}: {status!r}")

    def edit(self, name: str, change: Any) -> Path:
        path = self.folder / name
        doc = yaml.safe_load(path.read_text())
        change(doc["spec"])
        path.write_text(yaml.safe_dump(doc))
        return path


def _items(text: str) -> list[dict[str, Any]]:
    found = json.loads(text)
    return list(found["items"] if isinstance(found, dict) else found)


@asynccontextmanager
async def _stack(
    monkeypatch: pytest.MonkeyPatch, database: str, env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The examples applied with two bindings of the provider, and a worker for them."""
    task_queue = f"test-{uuid.uuid4()}"
    suffix = uuid.uuid4().hex[:6]
    bindings = [f"gh-one-{suffix}", f"gh-two-{suffix}"]
    for source in SPEC_EXAMPLES.glob("*.yaml"):
        doc = yaml.safe_load(source.read_text())
        if doc.get("kind") != "ExternalBackendBinding":
            (tmp_path / source.name).write_text(yaml.safe_dump(doc))
            continue
        for index, name in enumerate(bindings):
            doc["metadata"]["name"] = name
            doc["spec"]["externalRef"]["repository"] = f"krate-{index}"
            (tmp_path / f"binding-{index}.yaml").write_text(yaml.safe_dump(doc))
    provider = ScriptedResync(pages=1)
    stack = Stack(monkeypatch, _env(database, env, task_queue), env.client, tmp_path, bindings)
    async with new_worker(
        env.client,
        BindingSyncWorkflow,
        FullResyncWorkflow,
        activities=[provider.backfill_page, provider.tombstone_unseen, mirror_noop()],
        task_queue=task_queue,
    ):
        await stack.cli("apply", "-f", str(tmp_path))
        try:
            yield stack
        finally:
            for binding in bindings:
                await stack.cli("delete", "binding", binding)


async def test_providers_pause_resume_and_resync_every_binding(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    dev_server_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    async with _stack(monkeypatch, clean_database, dev_server_env, tmp_path) as stack:
        for binding in stack.bindings:
            await stack.until(binding, lambda s: s.passes >= 1)

        paused = await stack.outcomes("providers", "pause", PROVIDER, "--reason", "maintenance")
        assert paused == dict.fromkeys(stack.bindings, "paused; full-resync Schedule paused")
        for binding in stack.bindings:
            status = await stack.until(binding, lambda s: s.phase == "Paused")
            assert status.paused_by == ["operator"]
            assert status.paused_reason == "maintenance"
            state = (await stack.schedule(binding).describe()).schedule.state
            assert state.paused
            assert state.note == "paused by an operator: maintenance"

        skipped = await stack.outcomes("providers", "resync", PROVIDER)
        assert skipped == dict.fromkeys(stack.bindings, "skipped: paused (maintenance)")

        resumed = await stack.outcomes("providers", "resume", PROVIDER)
        assert resumed == dict.fromkeys(stack.bindings, "resumed; full-resync Schedule resumed")
        for binding in stack.bindings:
            await stack.until(binding, lambda s: s.phase == "Ready")
            assert not (await stack.schedule(binding).describe()).schedule.state.paused

        started = await stack.outcomes("providers", "resync", PROVIDER)
        for binding in stack.bindings:
            assert started[binding] == f"full resync started by Schedule resync/a5c/{binding}"
            # The resync ran through the Schedule and told the binding's workflow.
            await stack.until(binding, lambda s: s.last_full_resync is not None)

        trail = await stack.cli("audit", "--action", "provider", "-o", "json")
        entries = _items(trail.stdout)
        assert [e["action"] for e in entries] == [
            "provider.resync",
            "provider.resumed",
            "provider.resync",
            "provider.paused",
        ]
        assert {e["actor"] for e in entries} == {"cli"}
        assert {e["object"]["name"] for e in entries} == {PROVIDER}
        assert entries[-1]["details"] == {
            "reason": "maintenance",
            "bindings": dict.fromkeys(stack.bindings, "paused; full-resync Schedule paused"),
        }


async def test_spec_paused_and_backfill_enabled_take_effect_when_applied(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    dev_server_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    async with _stack(monkeypatch, clean_database, dev_server_env, tmp_path) as stack:
        one, two = stack.bindings
        await stack.until(one, lambda s: s.passes >= 1)

        # The provider paused in its manifest: every binding pauses, and so do the Schedules.
        provider_file = stack.edit("provider-github.yaml", lambda spec: spec.update(paused=True))
        await stack.cli("apply", "-f", str(provider_file))
        reason = f"spec.paused is true on provider {PROVIDER} (all its bindings)"
        for binding in stack.bindings:
            status = await stack.until(binding, lambda s: s.phase == "Paused")
            assert status.paused_by == ["manifest"]
            assert status.paused_reason == reason
            state = (await stack.schedule(binding).describe()).schedule.state
            assert state.paused
            assert state.note == f"full resync paused: {reason}"

        # An operator's resume cannot lift it; the command says why.
        resumed = await stack.cli("sync", "resume", one)
        assert f"still paused: {reason}" in resumed.stdout
        assert (await stack.status(one)).phase == "Paused"

        # The binding's own `paused: true` survives the provider's `paused: false`.
        binding_file = stack.edit("binding-1.yaml", lambda spec: spec.update(paused=True))
        await stack.cli("apply", "-f", str(binding_file))
        stack.edit("provider-github.yaml", lambda spec: spec.update(paused=False))
        await stack.cli("apply", "-f", str(provider_file))
        await stack.until(one, lambda s: s.phase != "Paused")
        status = await stack.until(two, lambda s: s.paused_reason != reason)
        assert status.paused_by == ["manifest"]
        assert status.paused_reason == f"spec.paused is true on binding {two}"
        assert not (await stack.schedule(one).describe()).schedule.state.paused
        assert (await stack.schedule(two).describe()).schedule.state.paused

        # backfill.enabled: false: no Schedule, no passes, and the status says webhooks only.
        policy_file = stack.edit(
            "syncpolicy-github.yaml", lambda spec: spec["backfill"].update(enabled=False)
        )
        await stack.cli("apply", "-f", str(policy_file))
        status = await stack.until(one, lambda s: not s.backfill_enabled)
        assert status.sync_mode == "webhooks-only"
        assert status.next_pass_at is None
        for binding in stack.bindings:
            with pytest.raises(RPCError):
                await stack.schedule(binding).describe()
        shown = await stack.cli("sync", "status", one, "-o", "json")
        assert '"sync_mode": "webhooks-only"' in shown.stdout
        assert "BackfillDisabled" in shown.stdout
