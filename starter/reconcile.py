"""From applied manifests to running workflows: each binding gets its BindingSyncWorkflow.

`krate-sync apply` calls this after storing; the worker calls it for every stored binding when it
starts, so a binding applied while Temporal was down still gets its workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.backfill_models import BindingRef
from resources.config import (
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
)
from resources.kinds import KINDS
from resources.loader import Manifest, manifest_from_dict
from resources.wire import org_namespace
from workflows import search_attributes as sa
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    InterfaceConfig,
    workflow_id,
)
from workflows.full_resync import FullResyncInput, FullResyncWorkflow, schedule_id


@dataclass(frozen=True)
class BindingPlan:
    """What one binding's workflow should be running with."""

    workflow_id: str
    config: BindingSyncConfig
    full_resync_interval: timedelta | None


def plan_binding(
    binding: ExternalBackendBinding,
    provider: ExternalBackendProvider,
    policy: ExternalBackendSyncPolicy | None,
    *,
    generation: int = 1,
) -> BindingPlan:
    """The workflow configuration for a binding, its provider and the provider's sync policy."""
    spec = binding.spec
    secret = provider.spec.auth_ref.secret_ref
    org = spec.organization_ref
    namespace = binding.metadata.namespace or org_namespace(org)
    ref = BindingRef(
        org=org,
        namespace=namespace,
        binding=binding.metadata.name,
        provider=provider.metadata.name,
        provider_type=provider.spec.provider_type,
        api_base_url=provider.spec.api_base_url,
        auth_secret=secret.name,
        auth_secret_namespace=secret.namespace or namespace,
        installation_id=spec.external_ref.installation_id,
    )
    interfaces = [
        InterfaceConfig(name=str(interface), mode=str(choice.mode))
        for interface, choice in spec.interfaces.enabled().items()
    ]
    repositories: list[tuple[str, str]] = []
    owner_wide = owner_wide_owner(binding)
    if owner_wide is None and spec.external_ref.owner and spec.external_ref.repository:
        repositories.append((spec.external_ref.owner, spec.external_ref.repository))
    config = BindingSyncConfig(
        binding=ref,
        interfaces=interfaces,
        repositories=repositories,
        generation=generation,
        manifest_paused_reason=manifest_pause(binding, provider),
        owner_wide=owner_wide,
    )
    full: timedelta | None = None
    if policy is not None:
        backfill = policy.spec.backfill
        config.backfill_interval = backfill.interval
        config.webhook_first = policy.spec.webhook_first
        config.backfill_enabled = backfill.enabled
        full = backfill.full_resync_interval if backfill.enabled else None
    return BindingPlan(workflow_id(org, binding.metadata.name), config, full)


# `externalRef.repository: "*"` says "every repository of the owner" in so many words; leaving
# the repository out says the same.
ALL_REPOSITORIES = "*"


def owner_wide_owner(binding: ExternalBackendBinding) -> str | None:
    """The owner whose every repository the binding syncs (issue 9), or None when it names one
    repository: `externalRef.owner` with no `repository`, or with `repository: "*"`."""
    ref = binding.spec.external_ref
    if not ref.owner or ref.repository not in (None, "", ALL_REPOSITORIES):
        return None
    return ref.owner


def manifest_pause(
    binding: ExternalBackendBinding, provider: ExternalBackendProvider
) -> str | None:
    """Why the manifests pause the binding (`spec.paused` on it or on its provider), or None."""
    reasons = []
    if provider.spec.paused:
        reasons.append(
            f"spec.paused is true on provider {provider.metadata.name} (all its bindings)"
        )
    if binding.spec.paused:
        reasons.append(f"spec.paused is true on binding {binding.metadata.name}")
    return "; ".join(reasons) or None


def _typed(manifest: Manifest) -> Any:
    return manifest.model


def plans_for(known: Sequence[Manifest]) -> list[BindingPlan]:
    """A plan for every binding among `known` whose provider is known too."""
    providers = {
        (m.effective_namespace, m.name): _typed(m)
        for m in known
        if m.kind == "ExternalBackendProvider"
    }
    policies: dict[tuple[str, str], ExternalBackendSyncPolicy] = {}
    for m in known:
        if m.kind == "ExternalBackendSyncPolicy":
            policies.setdefault((m.effective_namespace, _typed(m).spec.provider_ref), _typed(m))
    plans = []
    for m in known:
        if m.kind != "ExternalBackendBinding":
            continue
        binding: ExternalBackendBinding = _typed(m)
        key = (m.effective_namespace, binding.spec.provider_ref)
        provider = providers.get(key)
        if provider is None:
            continue  # validation warned already; the binding waits for its provider
        generation = int(m.raw.get("metadata", {}).get("generation") or 1)
        plans.append(plan_binding(binding, provider, policies.get(key), generation=generation))
    return plans


def stored_plans(docs: Sequence[dict[str, Any]]) -> list[BindingPlan]:
    return plans_for([manifest_from_dict(doc, source="stored") for doc in docs])


def stored_config_docs(session: Session) -> list[dict[str, Any]]:
    """Every applied provider, binding and sync policy, as manifests."""
    from store.resources import get_resources

    return [doc for info in KINDS if info.config for doc in get_resources(session, info.kind)]


async def reconcile_stored(client: Client, task_queue: str, database_url: str) -> list[str]:
    """Ensure every stored binding's workflow runs with its stored configuration.

    The worker runs this when it starts, so bindings applied while Temporal was down catch up.
    """
    from store.db import make_engine, session_scope

    def load() -> list[BindingPlan]:
        engine = make_engine(database_url)
        try:
            with session_scope(engine) as session:
                return stored_plans(stored_config_docs(session))
        finally:
            engine.dispose()

    plans = await asyncio.to_thread(load)
    for plan in plans:
        await ensure_binding_workflow(client, task_queue, plan)
    return [plan.workflow_id for plan in plans]


async def ensure_binding_workflow(client: Client, task_queue: str, plan: BindingPlan) -> None:
    """Start the binding's workflow, or hand the running one its new configuration.

    Signal-with-start: one call, no race between "is it running?" and "start it". The
    binding's full-resync Schedule is brought in line at the same time.
    """
    await client.start_workflow(
        BindingSyncWorkflow.run,
        BindingSyncInput(config=plan.config),
        id=plan.workflow_id,
        task_queue=task_queue,
        start_signal="reconfigure",
        start_signal_args=[plan.config],
        search_attributes=binding_search_attributes(plan),
    )
    await ensure_full_resync_schedule(client, task_queue, plan)


def binding_search_attributes(plan: BindingPlan) -> TypedSearchAttributes:
    ref = plan.config.binding
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.KRATE_ORG, ref.org),
            SearchAttributePair(sa.KRATE_PROVIDER, ref.provider),
            SearchAttributePair(sa.KRATE_BINDING, ref.binding),
            SearchAttributePair(sa.KRATE_INTERFACE, [i.name for i in plan.config.interfaces]),
        ]
    )


# How a Schedule paused by `krate-sync sync|providers pause` (or the API) is told apart from one
# paused by the manifests: a re-apply keeps an operator's pause (as the workflow does).
OPERATOR_PAUSE_NOTE = "paused by an operator"


def _schedule_state(plan: BindingPlan) -> ScheduleState:
    ref = plan.config.binding
    reason = plan.config.manifest_paused_reason
    if reason is not None:
        return ScheduleState(paused=True, note=f"full resync paused: {reason}")
    return ScheduleState(note=f"full resync of binding {ref.namespace}/{ref.binding}")


def _schedule(plan: BindingPlan, task_queue: str, every: timedelta) -> Schedule:
    ref = plan.config.binding
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FullResyncWorkflow.run,
            FullResyncInput(config=plan.config),
            id=schedule_id(ref.org, ref.binding),
            task_queue=task_queue,
            typed_search_attributes=binding_search_attributes(plan),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every)],
            # Spread many bindings' resyncs instead of hitting providers all at once.
            jitter=min(every / 10, timedelta(minutes=30)),
        ),
        # A resync still running when the next is due: skip the new one, never stack them.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=_schedule_state(plan),
    )


async def ensure_full_resync_schedule(client: Client, task_queue: str, plan: BindingPlan) -> str:
    """Create, update or remove the binding's full-resync Schedule to match its policy."""
    ref = plan.config.binding
    sid = schedule_id(ref.org, ref.binding)
    handle = client.get_schedule_handle(sid)
    if plan.full_resync_interval is None:
        return "removed" if await delete_schedule(client, ref.org, ref.binding) else "none"
    schedule = _schedule(plan, task_queue, plan.full_resync_interval)

    def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        if state.paused and state.note and state.note.startswith(OPERATOR_PAUSE_NOTE):
            schedule.state = ScheduleState(paused=True, note=state.note)
        return ScheduleUpdate(schedule=schedule)

    try:
        await client.create_schedule(sid, schedule)
    except ScheduleAlreadyRunningError:
        await handle.update(updated)
        return "updated"
    return "created"


async def set_schedule_paused(
    client: Client, plan: BindingPlan, *, paused: bool, reason: str = ""
) -> str:
    """An operator's pause or resume of the binding's full-resync Schedule. A resume leaves a
    Schedule that the manifests pause paused. Returns what happened, for the command's line."""
    from temporalio.service import RPCError, RPCStatusCode

    ref = plan.config.binding
    handle = client.get_schedule_handle(schedule_id(ref.org, ref.binding))
    note = f"{OPERATOR_PAUSE_NOTE}: {reason}" if reason else OPERATOR_PAUSE_NOTE
    try:
        if paused:
            await handle.pause(note=note)
            outcome = "paused"
        elif plan.config.manifest_paused_reason is not None:
            await handle.pause(note=_schedule_state(plan).note)
            outcome = "kept paused by the manifests"
        else:
            await handle.unpause(note=_schedule_state(plan).note)
            outcome = "resumed"
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "none"
        raise
    return outcome


async def delete_schedule(client: Client, org: str, binding: str) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.get_schedule_handle(schedule_id(org, binding)).delete()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def stop_binding_workflow(client: Client, org: str, binding: str) -> bool:
    """Terminate a deleted binding's workflow; False when none was running."""
    from temporalio.service import RPCError, RPCStatusCode

    await delete_schedule(client, org, binding)
    handle = client.get_workflow_handle(workflow_id(org, binding))
    try:
        await handle.terminate(reason="binding deleted")
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
