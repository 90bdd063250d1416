"""The conflict activities (`load_conflict`, `apply_resolution`) and what starts ConflictWorkflows.

A conflict is raised inside the sync's own transaction (store/conflicts.py `merge_incoming`);
its workflow is started once that transaction commits, by `WorkflowStarter`, so a workflow never
exists for a conflict that was rolled back. When Temporal cannot be reached then, the conflict
is still stored and visible; `krate-sync conflicts resolve` (update-with-start) and
`krate-sync conflicts reconcile` start the workflow later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.conflict_models import (
    APPLY_RESOLUTION_ACTIVITY,
    LOAD_CONFLICT_ACTIVITY,
    ApplyResolutionInput,
    ConflictRef,
    ConflictWorkflowInput,
    LoadConflictResult,
    ResolveResult,
    conflict_workflow_id,
)
from activities.writes_models import SOURCE_CONFLICT
from starter import intents
from store import conflicts
from store.conflicts import ConflictError, ConflictStart, WriteIntentCreator, WriteIntentRequest
from store.db import session_scope
from workflows import search_attributes as sa

log = logging.getLogger(__name__)

CONFLICT_WORKFLOW = "ConflictWorkflow"


class WorkflowStarter:
    """Starts ConflictWorkflows from a synchronous context (after a commit, in a worker thread).

    It connects per batch: conflicts are rare, and a client bound to another thread's event loop
    cannot be used here. Failures are logged, never raised: the sync that raised the conflict
    has committed and must not be retried for this.
    """

    def __init__(
        self, address: str, namespace: str, task_queue: str, *, search_attributes: bool = True
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.task_queue = task_queue
        # False against a server that cannot index Krate's attributes (the time-skipping one).
        self.search_attributes = search_attributes

    def __call__(self, starts: list[ConflictStart]) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._run(starts)
            return
        # Called on a thread that runs an event loop: start from a thread of our own.
        thread = threading.Thread(target=self._run, args=(starts,), daemon=True)
        thread.start()
        thread.join(timeout=30)

    def _run(self, starts: list[ConflictStart]) -> None:
        try:
            asyncio.run(self.start(starts))
        except Exception:
            log.warning(
                "could not start the workflow of conflict(s) %s; "
                "`krate-sync conflicts reconcile` starts them",
                ", ".join(s.name for s in starts),
                exc_info=True,
            )

    async def start(self, starts: Sequence[ConflictStart]) -> None:
        client = await Client.connect(
            self.address, namespace=self.namespace, data_converter=pydantic_data_converter
        )
        for s in starts:
            if s.action == "refresh":
                await refresh_conflict_workflow(client, s.org, s.name)
            else:
                attributes = (
                    sa.for_object(s.org, "Open", s.provider_ref, s.binding_ref, s.interface)
                    if self.search_attributes
                    else None
                )
                await start_conflict_workflow(
                    client, self.task_queue, s.org, s.namespace, s.name, attributes
                )


async def start_conflict_workflow(
    client: Client,
    task_queue: str,
    org: str,
    namespace: str,
    name: str,
    search_attributes: TypedSearchAttributes | None = None,
) -> bool:
    """Start `conflict/{org}/{name}`; False when it is already running. `search_attributes`
    (workflows.search_attributes.for_object) let the Web UI list conflicts by org and phase."""
    try:
        await client.start_workflow(
            CONFLICT_WORKFLOW,
            ConflictWorkflowInput(org=org, namespace=namespace, name=name),
            id=conflict_workflow_id(org, name),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=search_attributes,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


def conflict_search_attributes(doc: dict[str, Any]) -> TypedSearchAttributes:
    """The search attributes of a stored conflict's workflow (its manifest as listed)."""
    spec = doc.get("spec") or {}
    return sa.for_object(
        str(spec.get("organizationRef")),
        str((doc.get("status") or {}).get("phase") or "Open"),
        spec.get("providerRef"),
        spec.get("bindingRef"),
        spec.get("interface"),
    )


async def refresh_conflict_workflow(client: Client, org: str, name: str) -> bool:
    """Tell a running ConflictWorkflow its conflict changed; False when none is running."""
    try:
        await client.get_workflow_handle(conflict_workflow_id(org, name)).signal("refresh")
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


class WriteIntents(Protocol):
    """apply-krate's access to write intents: create one inside the resolution's transaction,
    start its workflow once that transaction has committed."""

    def create(self, session: Session, request: WriteIntentRequest, created: list[Any]) -> str: ...

    async def start(self, created: list[Any]) -> None: ...


# updateIssue / updatePullRequest parameters a conflict field maps to (starter/intents.py
# OPERATIONS); a field outside these cannot be written back (ignore-unsupported exists for it).
WRITABLE = {
    "Issue": ("issue", frozenset({"title", "body", "state", "labels", "assignees"})),
    "PullRequest": ("pull", frozenset({"title", "body", "state", "base"})),
}


class KrateWriteIntents:
    """The write-intent side (`starter.intents`): an updateIssue/updatePullRequest
    intent per apply-krate, idempotent per conflict, its WriteIntentWorkflow started on the
    worker's own task queue."""

    def __init__(self, *, search_attributes: bool = True) -> None:
        self.search_attributes = search_attributes

    def create(self, session: Session, request: WriteIntentRequest, created: list[Any]) -> str:
        writable = WRITABLE.get(request.target_kind)
        if writable is None:
            raise ConflictError(f"{request.target_kind} edits are not written back to providers")
        key, allowed = writable
        unsupported = sorted(set(request.fields) - allowed)
        if unsupported:
            raise ConflictError(
                f"{', '.join(unsupported)} cannot be written to the provider "
                f"by {request.operation}; "
                "resolve with ignore-unsupported, keep-external or manual-edit"
            )
        if request.binding_ref is None:
            raise ConflictError("the object has no binding: nothing to write through")
        try:
            intent = intents.create_write_intent(
                session,  # type: ignore[arg-type]  # a sqlmodel Session in practice
                intents.WriteIntentRequest(
                    org=request.org,
                    binding=request.binding_ref,
                    operation=request.operation,
                    parameters={key: request.identity["number"], **request.fields},
                    actor=request.actor,
                    source_kind=SOURCE_CONFLICT,
                    repository=request.identity.get("repository"),
                    # A retried resolution finds the intent it already made.
                    idempotency_key=f"{request.org}:conflict:{request.source}",
                    target_kind=request.target_kind,
                ),
                search_attributes=self.search_attributes,
            )
        except intents.IntentRejected as error:
            raise ConflictError(f"write intent refused: {error}") from error
        created.append(intent)
        return intent.name

    async def start(self, created: list[Any]) -> None:
        client = activity.client()
        for intent in created:
            await intents.start_write_intent(client, activity.info().task_queue, intent)


class ConflictActivities:
    """Bound to the engine and, when available, the write-intent side (apply-krate)."""

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        *,
        write_intents: WriteIntents | None = None,
    ) -> None:
        self._engine = engine
        self.write_intents = write_intents

    @property
    def engine(self) -> Engine:
        return self._engine if isinstance(self._engine, Engine) else self._engine()

    @activity.defn(name=LOAD_CONFLICT_ACTIVITY)
    def load_conflict(self, input: ConflictRef) -> LoadConflictResult:
        with session_scope(self.engine) as session:
            phase, default = conflicts.policy_default(session, input.namespace, input.name)
            row = conflicts.find_conflict(session, input.name, input.org)
            if phase is None or row is None:
                return LoadConflictResult(found=False)
            return LoadConflictResult(
                found=True,
                phase=phase,
                default_resolution=default,
                fields=[str(f["path"]) for f in row.fields],
            )

    @activity.defn(name=APPLY_RESOLUTION_ACTIVITY)
    async def apply_resolution(self, input: ApplyResolutionInput) -> ResolveResult:
        created: list[Any] = []
        side = self.write_intents
        creator: WriteIntentCreator | None = (
            None if side is None else partial(side.create, created=created)
        )

        def run() -> conflicts.Resolution:
            with session_scope(self.engine) as session:
                return conflicts.resolve(
                    session,
                    input.conflict.namespace,
                    input.conflict.name,
                    input.decision,
                    actor=input.actor,
                    values=input.values or None,
                    note=input.note,
                    automatic=input.automatic,
                    create_write_intent=creator,
                )

        try:
            outcome = await asyncio.to_thread(run)
        except ConflictError as error:
            raise ApplicationError(str(error), type="ConflictError", non_retryable=True) from error
        message = outcome.message
        if created and side is not None:
            try:
                await side.start(created)
            except Exception as error:
                # The intent is stored (committed with the decision); only its start failed.
                log.warning("write intent %s stored but not started", outcome.write_intent_ref)
                message += f"; write intent stored, its workflow not started yet: {error}"
        return ResolveResult(
            applied=outcome.applied,
            phase=outcome.phase,
            message=message,
            decision=input.decision,
            write_intent_ref=outcome.write_intent_ref,
        )


def build_conflict_activities(
    settings: Any, engine: Engine | Callable[[], Engine]
) -> list[Callable[..., Any]]:
    """The conflict activities, and the post-commit starter of ConflictWorkflows for the sync."""
    conflicts.set_conflict_starter(
        WorkflowStarter(settings.temporal_address, settings.temporal_namespace, settings.task_queue)
    )
    bound = ConflictActivities(engine, write_intents=KrateWriteIntents())
    return [bound.load_conflict, bound.apply_resolution]
