"""Pause, resume, sync now and full resync, of one binding or of every binding of a provider.

`krate-sync sync ...`, `krate-sync providers ...` and the API's action routes all come here: the
signal to each binding's workflow, the binding's full-resync Schedule paused or resumed with it,
and one audit entry naming the actor and what happened to each binding.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from resources.wire import org_namespace
from starter.reconcile import (
    BindingPlan,
    binding_search_attributes,
    set_schedule_paused,
    stored_plans,
)
from store.audit import record_audit
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow, PauseInput
from workflows.full_resync import FullResyncInput, FullResyncWorkflow, schedule_id

PROVIDER_KIND = "ExternalBackendProvider"
BINDING_KIND = "ExternalBackendBinding"
# Audit actions: `provider.<verb>` for a provider-wide action, `sync.<verb>` for one binding.
VERBS = {"pause": "paused", "resume": "resumed", "now": "now", "resync": "resync"}
NOT_RUNNING = "not running (apply the binding, or start the worker)"


class NotFound(LookupError):
    """No such provider or binding in the org (exit code 1, HTTP 404)."""


@dataclass(frozen=True)
class BindingOutcome:
    binding: str
    workflow_id: str
    result: str

    def document(self) -> dict[str, str]:
        return {"binding": self.binding, "workflowId": self.workflow_id, "result": self.result}


def provider_plans(docs: Sequence[dict[str, Any]], org: str, provider: str) -> list[BindingPlan]:
    """The plans of every binding of `provider` in `org` (stored config `docs`)."""
    namespace = org_namespace(org)
    if not any(
        d["kind"] == PROVIDER_KIND
        and d["metadata"]["name"] == provider
        and d["metadata"].get("namespace") == namespace
        for d in docs
    ):
        raise NotFound(f"provider {provider!r} not found in org {org!r}")
    return [
        plan
        for plan in stored_plans(docs)
        if plan.config.binding.namespace == namespace and plan.config.binding.provider == provider
    ]


def binding_plan(docs: Sequence[dict[str, Any]], org: str, binding: str) -> BindingPlan:
    namespace = org_namespace(org)
    for plan in stored_plans(docs):
        ref = plan.config.binding
        if ref.namespace == namespace and ref.binding == binding:
            return plan
    raise NotFound(f"binding {binding!r} not found in org {org!r} (or its provider is missing)")


def _not_found(error: RPCError) -> bool:
    return error.status == RPCStatusCode.NOT_FOUND


async def pause(client: Client, plan: BindingPlan, reason: str) -> BindingOutcome:
    """An operator's pause: the workflow stops backfill and holds deliveries; the Schedule
    of its full resyncs is paused with it."""
    handle = client.get_workflow_handle(plan.workflow_id)
    try:
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason=reason))
        result = "paused"
    except RPCError as error:
        if not _not_found(error):
            raise
        result = NOT_RUNNING
    schedule = await set_schedule_paused(client, plan, paused=True, reason=reason)
    return BindingOutcome(plan.config.binding.binding, plan.workflow_id, _with(result, schedule))


async def resume(client: Client, plan: BindingPlan) -> BindingOutcome:
    """Lift an operator's pause. A binding the manifests pause (`spec.paused`) stays paused,
    and the outcome says so."""
    handle = client.get_workflow_handle(plan.workflow_id)
    try:
        await handle.signal(BindingSyncWorkflow.resume)
        result = "resumed"
        if plan.config.manifest_paused_reason is not None:
            result = f"still paused: {plan.config.manifest_paused_reason}"
    except RPCError as error:
        if not _not_found(error):
            raise
        result = NOT_RUNNING
    schedule = await set_schedule_paused(client, plan, paused=False)
    return BindingOutcome(plan.config.binding.binding, plan.workflow_id, _with(result, schedule))


async def sync_now(client: Client, plan: BindingPlan) -> BindingOutcome:
    handle = client.get_workflow_handle(plan.workflow_id)
    try:
        await handle.signal(BindingSyncWorkflow.sync_now)
        result = "sync requested"
    except RPCError as error:
        if not _not_found(error):
            raise
        result = NOT_RUNNING
    return BindingOutcome(plan.config.binding.binding, plan.workflow_id, result)


async def resync(client: Client, task_queue: str, plan: BindingPlan) -> BindingOutcome:
    """Start a full resync now: through the binding's Schedule when it has one (so its overlap
    policy and the Web UI's list of runs apply), else as a workflow of its own (backfill
    disabled: an operator's request still runs). A paused binding is skipped."""
    ref = plan.config.binding

    def outcome(result: str) -> BindingOutcome:
        return BindingOutcome(ref.binding, plan.workflow_id, result)

    paused = await _paused_reason(client, plan)
    if paused is not None:
        return outcome(f"skipped: paused ({paused})")
    sid = schedule_id(ref.org, ref.binding)
    schedule = client.get_schedule_handle(sid)
    try:
        description = await schedule.describe()
    except RPCError as error:
        if not _not_found(error):
            raise
        run_id = f"{sid}/manual-{uuid.uuid4().hex[:12]}"
        await client.start_workflow(
            FullResyncWorkflow.run,
            FullResyncInput(config=plan.config),
            id=run_id,
            task_queue=task_queue,
            search_attributes=binding_search_attributes(plan),
        )
        return outcome(f"full resync started: {run_id}")
    running = [
        action.workflow_id
        for action in description.info.running_actions
        if isinstance(action, ScheduleActionExecutionStartWorkflow)
    ]
    if running:
        return outcome(f"a full resync is already running: {running[0]}")
    await schedule.trigger()
    return outcome(f"full resync started by Schedule {sid}")


async def _paused_reason(client: Client, plan: BindingPlan) -> str | None:
    if plan.config.manifest_paused_reason is not None:
        return plan.config.manifest_paused_reason
    try:
        status: BindingSyncStatus = await client.get_workflow_handle(plan.workflow_id).query(
            BindingSyncWorkflow.status
        )
    except RPCError as error:
        if not _not_found(error):
            raise
        return None  # no workflow: nothing paused it; the resync tells nobody, and that is fine
    return status.paused_reason


def _with(result: str, schedule: str) -> str:
    return result if schedule == "none" else f"{result}; full-resync Schedule {schedule}"


async def act(
    client: Client,
    task_queue: str,
    plans: Sequence[BindingPlan],
    verb: str,
    reason: str = "",
) -> list[BindingOutcome]:
    """`verb` (pause, resume, now, resync) on every plan, in order."""
    outcomes = []
    for plan in plans:
        if verb == "pause":
            outcomes.append(await pause(client, plan, reason))
        elif verb == "resume":
            outcomes.append(await resume(client, plan))
        elif verb == "now":
            outcomes.append(await sync_now(client, plan))
        elif verb == "resync":
            outcomes.append(await resync(client, task_queue, plan))
        else:
            raise ValueError(f"unknown action {verb!r}; one of {', '.join(VERBS)}")
    return outcomes


def record(
    session: Session,
    *,
    org: str,
    actor: str,
    verb: str,
    outcomes: Sequence[BindingOutcome],
    provider: str,
    binding: str | None = None,
    reason: str = "",
) -> None:
    """One audit entry: against the provider for a provider-wide action, else the binding."""
    details: dict[str, Any] = {"bindings": {o.binding: o.result for o in outcomes}}
    if reason:
        details["reason"] = reason
    record_audit(
        session,
        actor=actor,
        action=f"{'sync' if binding else 'provider'}.{VERBS[verb]}",
        subject_kind=BINDING_KIND if binding else PROVIDER_KIND,
        subject_namespace=org_namespace(org),
        subject_name=binding or provider,
        org=org,
        provider_ref=provider,
        details=details,
    )
