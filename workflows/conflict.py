"""ConflictWorkflow (`conflict/{org}/{conflict}`): waits for the resolution of one
ExternalSyncConflict and applies it.

Started when the sync raises the conflict (after the transaction that recorded it commits), or
by `krate-sync conflicts resolve` / the API through update-with-start when that start was lost.
When the sync policy's `conflictPolicy.defaultResolution` is not `manual`, the workflow applies
it itself; otherwise it waits for the `resolve` update. The update's validator refuses an
unknown decision, manual-edit without values, a conflict already closed and a second decision
while one is being applied, so the caller learns at once. Deterministic; all I/O is in the two
activities.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.conflict_models import (
        APPLY_RESOLUTION_ACTIVITY,
        CONFLICT_ACTIVITY_RETRY,
        CONFLICT_ACTIVITY_TIMEOUT,
        DECISIONS,
        LOAD_CONFLICT_ACTIVITY,
        ApplyResolutionInput,
        ConflictRef,
        ConflictStatus,
        ConflictWorkflowInput,
        LoadConflictResult,
        ResolveInput,
        ResolveResult,
    )

from workflows import search_attributes as sa

OPEN = "Open"


@workflow.defn(name="ConflictWorkflow")
class ConflictWorkflow:
    def __init__(self) -> None:
        self._loaded: LoadConflictResult | None = None
        self._name = ""
        # Decisions are applied one at a time, in arrival order; each update waits for its own.
        self._queue: list[tuple[int, ResolveInput, bool]] = []
        self._results: dict[int, ResolveResult] = {}
        self._next = 0
        self._resolving = False
        self._closed = False
        self._last: ResolveResult | None = None
        self._refresh = False

    @workflow.run
    async def run(self, input: ConflictWorkflowInput) -> ResolveResult:
        self._name = input.name
        ref = ConflictRef(org=input.org, namespace=input.namespace, name=input.name)
        loaded: LoadConflictResult = await workflow.execute_activity(
            LOAD_CONFLICT_ACTIVITY,
            ref,
            result_type=LoadConflictResult,
            start_to_close_timeout=CONFLICT_ACTIVITY_TIMEOUT,
            retry_policy=CONFLICT_ACTIVITY_RETRY,
        )
        self._loaded = loaded
        if not loaded.found or loaded.phase != OPEN:
            self._closed = True
            self._last = ResolveResult(
                applied=False,
                phase=loaded.phase or "NotFound",
                message="the conflict is closed already" if loaded.found else "no such conflict",
            )
        elif loaded.default_resolution != "manual":
            # The policy decides: queued ahead of any person's update.
            self._enqueue(
                ResolveInput(decision=loaded.default_resolution, actor="policy:conflictPolicy"),
                automatic=True,
            )
        while not self._closed:
            await workflow.wait_condition(
                lambda: bool(self._queue) or self._closed or self._refresh
            )
            if self._refresh:
                self._refresh = False
                await self._reload(ref)
                continue
            if self._closed:
                break
            seq, request, automatic = self._queue.pop(0)
            self._resolving = True
            result = await self._apply(ref, request, automatic)
            self._resolving = False
            self._results[seq] = result
            self._last = result
            self._closed = result.applied
            if not result.applied and result.phase != OPEN:
                self._closed = True  # closed elsewhere (another path resolved it)
        assert self._last is not None
        # Started with Krate's search attributes (not on every server): keep the phase current.
        if workflow.info().typed_search_attributes.get(sa.KRATE_PHASE) is not None:
            workflow.upsert_search_attributes([sa.KRATE_PHASE.value_set(self._last.phase)])
        # Let each update handler return its result before the run completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._last

    async def _reload(self, ref: ConflictRef) -> None:
        """The sync changed the conflict (new fields) or closed it (the provider now agrees)."""
        loaded: LoadConflictResult = await workflow.execute_activity(
            LOAD_CONFLICT_ACTIVITY,
            ref,
            result_type=LoadConflictResult,
            start_to_close_timeout=CONFLICT_ACTIVITY_TIMEOUT,
            retry_policy=CONFLICT_ACTIVITY_RETRY,
        )
        self._loaded = loaded
        if not loaded.found or loaded.phase != OPEN:
            self._closed = True
            self._last = ResolveResult(
                applied=False,
                phase=loaded.phase or "NotFound",
                message="closed by the sync: the provider's newest version leaves no conflict",
            )

    async def _apply(
        self, ref: ConflictRef, request: ResolveInput, automatic: bool
    ) -> ResolveResult:
        try:
            result: ResolveResult = await workflow.execute_activity(
                APPLY_RESOLUTION_ACTIVITY,
                ApplyResolutionInput(
                    conflict=ref,
                    decision=request.decision,
                    actor=request.actor,
                    values=request.values,
                    note=request.note,
                    automatic=automatic,
                ),
                result_type=ResolveResult,
                start_to_close_timeout=CONFLICT_ACTIVITY_TIMEOUT,
                retry_policy=CONFLICT_ACTIVITY_RETRY,
            )
        except ActivityError as error:
            # Refused by the store (e.g. the object is gone): the conflict stays open.
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(error)
            return ResolveResult(
                applied=False, phase=OPEN, message=message, decision=request.decision
            )
        return result

    def _enqueue(self, request: ResolveInput, *, automatic: bool = False) -> int:
        seq = self._next
        self._next += 1
        self._queue.append((seq, request, automatic))
        return seq

    @workflow.signal
    def refresh(self) -> None:
        """Sent by the sync after it changed or closed this conflict: reload it."""
        self._refresh = True

    @workflow.update
    async def resolve(self, request: ResolveInput) -> ResolveResult:
        seq = self._enqueue(request)
        await workflow.wait_condition(lambda: seq in self._results or self._closed)
        if seq in self._results:
            return self._results.pop(seq)
        # Closed before this decision ran (the policy or an earlier decision won).
        last = self._last
        return ResolveResult(
            applied=False,
            phase=last.phase if last else "Closed",
            message=f"the conflict was closed before this decision: {last.message if last else ''}",
            decision=request.decision,
        )

    @resolve.validator
    def validate_resolve(self, request: ResolveInput) -> None:
        if request.decision not in DECISIONS:
            raise ValueError(
                f"unknown resolution {request.decision!r}; one of {', '.join(DECISIONS)}"
            )
        if request.decision == "manual-edit" and not request.values:
            raise ValueError("manual-edit needs a value for at least one conflicting field")
        if request.decision != "manual-edit" and request.values:
            raise ValueError(f"{request.decision} takes no values (only manual-edit does)")
        if self._loaded is not None and request.values:
            unknown = sorted(set(request.values) - set(self._loaded.fields))
            if unknown:
                raise ValueError(
                    f"{', '.join(unknown)}: not in conflict "
                    f"(fields: {', '.join(self._loaded.fields)})"
                )
        if self._closed:
            raise ValueError(f"conflict {self._name} is closed already")
        if self._resolving or self._queue:
            raise ValueError(f"conflict {self._name} is being resolved; try again shortly")

    @workflow.query
    def status(self) -> ConflictStatus:
        loaded = self._loaded
        return ConflictStatus(
            name=self._name,
            phase=(
                self._last.phase
                if self._last and self._closed
                else (loaded.phase if loaded else None)
            ),
            fields=loaded.fields if loaded else [],
            default_resolution=loaded.default_resolution if loaded else "manual",
            resolving=self._resolving or bool(self._queue),
            last=self._last,
        )
