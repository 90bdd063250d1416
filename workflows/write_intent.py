"""WriteIntentWorkflow (`write/{org}/{intent}`): one Krate-originated write, from proposal to
confirmation.

Pending → AwaitingApproval → Approved → Executing → Confirming → Succeeded, or Rejected,
Cancelled, Failed. A failed intent stays open for `retry` (FAILED_RETRY_WINDOW). `approve`,
`reject`, `cancel` and `retry` are Updates whose validators refuse at once what cannot be done
(approving one's own intent, deciding a finished one); `status` is a Query. Every step is
mirrored to the intent's row and audited through the `record_intent` activity.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.backfill_models import RATE_LIMITED
    from activities.writes_models import (
        CONFIRM_WRITE_ACTIVITY,
        EXECUTE_WRITE_ACTIVITY,
        FAILED_RETRY_WINDOW,
        PREPARE_WRITE_ACTIVITY,
        RATE_LIMIT_RECHECK,
        RECORD_INTENT_ACTIVITY,
        RECORD_RETRY,
        RECORD_TIMEOUT,
        WORKFLOW_NAME,
        WRITE_RATE_LIMIT_ACTIVITY,
        WRITE_RETRY,
        WRITE_TIMEOUT,
        ConfirmResult,
        DecisionInput,
        IntentResponse,
        IntentStatus,
        PrepareResult,
        RateLimitInput,
        RateLimitResult,
        RecordIntentInput,
        RecordIntentResult,
        WriteCall,
        WriteIntentInput,
    )
    from resources.phases import WriteIntentPhase as Phase
    from workflows import search_attributes as sa

# A write may not be cancelled once it is on its way to the provider: it may already have landed.
_CANCELLABLE = frozenset({Phase.PENDING, Phase.AWAITING_APPROVAL, Phase.APPROVED, Phase.FAILED})


def workflow_id(org: str, intent: str) -> str:
    return f"write/{org}/{intent}"


def _same_actor(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _reset_of(error: ActivityError) -> datetime | None:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == RATE_LIMITED and cause.details:
        raw = cause.details[0]
        if isinstance(raw, str):
            return datetime.fromisoformat(raw)
    return None


@workflow.defn(name=WORKFLOW_NAME)
class WriteIntentWorkflow:
    @workflow.init
    def __init__(self, input: WriteIntentInput) -> None:
        self._input = input
        self._phase = Phase.PENDING
        self._seq = 0
        self._attempts = 0
        self._decision: str | None = None
        self._decided_by: str | None = None
        self._reason: str | None = None
        self._cancel_requested: DecisionInput | None = None
        self._retry_requested: DecisionInput | None = None
        self._queued_until: datetime | None = None
        self._message: str | None = None
        self._response: IntentResponse | None = None
        self._baseline: dict[str, object] | None = None

    # ------------------------------------------------------------------------------ run

    @workflow.run
    async def run(self, input: WriteIntentInput) -> IntentStatus:
        await self._run(input)
        # A cancel or retry Update may still be waiting to answer: let it, then close.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    async def _run(self, input: WriteIntentInput) -> None:
        await self._enter(Phase.PENDING, "intent.pending", input.actor)
        if input.approval_required:
            await self._enter(Phase.AWAITING_APPROVAL, "intent.awaiting-approval", input.actor)
            await workflow.wait_condition(
                lambda: self._decision is not None or self._cancel_requested is not None
            )
            if await self._closed_by_decision():
                return
        else:
            self._decision, self._decided_by = "approved", "policy"
            self._reason = "the write policy needs no approval for this intent"
            await self._enter(Phase.APPROVED, "intent.approved", "policy")
        while True:
            if await self._closed_by_decision():
                return
            if await self._execute_once():
                return
            # Failed: wait for `retry` (or `cancel`) before trying again.
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._retry_requested is not None or self._cancel_requested is not None,
                    timeout=FAILED_RETRY_WINDOW,
                )
            if self._cancel_requested is not None:
                continue  # _closed_by_decision records it
            retry = self._retry_requested
            if retry is None:
                return  # nobody retried in time: the intent stays Failed
            self._retry_requested = None
            self._message = None
            await self._enter(Phase.APPROVED, "intent.retry", retry.actor, reason=retry.reason)

    async def _closed_by_decision(self) -> bool:
        """Record a rejection or cancellation; True when the intent is finished by it."""
        cancel = self._cancel_requested
        if cancel is not None:
            self._reason = cancel.reason
            await self._enter(
                Phase.CANCELLED, "intent.cancelled", cancel.actor, reason=cancel.reason
            )
            return True
        if self._decision == "rejected" and self._phase != Phase.REJECTED:
            await self._enter(
                Phase.REJECTED,
                "intent.rejected",
                self._decided_by or "unknown",
                decision="rejected",
                reason=self._reason,
            )
            return True
        if self._decision == "approved" and self._phase == Phase.AWAITING_APPROVAL:
            await self._enter(
                Phase.APPROVED,
                "intent.approved",
                self._decided_by or "unknown",
                decision="approved",
                reason=self._reason,
            )
        return False

    async def _wait_for_rate_limit(self) -> bool:
        """Wait (queued, phase Approved) while the binding is rate limited. False if cancelled."""
        while True:
            result: RateLimitResult = await workflow.execute_activity(
                WRITE_RATE_LIMIT_ACTIVITY,
                RateLimitInput(binding=self._input.binding),
                result_type=RateLimitResult,
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
            until = result.until
            if self._queued_until is not None and (until is None or self._queued_until > until):
                until = self._queued_until  # a reset the provider told us about
            if until is None or until <= workflow.now():
                if self._queued_until is not None:
                    self._queued_until = None
                    await self._record("intent.dequeued", "policy", message="rate limit over")
                return True
            if self._queued_until != until:
                self._queued_until = until
                await self._record(
                    "intent.queued",
                    "policy",
                    message=f"{result.reason or 'rate limited'}; waits until {until.isoformat()}",
                )
            # A durable timer to the reset (re-checked now and then: the reset may move).
            wait = min(until - workflow.now(), RATE_LIMIT_RECHECK)
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._cancel_requested is not None,
                    timeout=max(wait, timedelta(seconds=1)),
                )
            if self._cancel_requested is not None:
                return False

    async def _execute_once(self) -> bool:
        """One try at the write. True when the intent is finished (succeeded or cancelled)."""
        while True:
            if not await self._wait_for_rate_limit() or self._cancel_requested is not None:
                return False  # cancelled while queued: the caller records it
            call = self._call()
            if self._baseline is None:
                prepared: PrepareResult = await workflow.execute_activity(
                    PREPARE_WRITE_ACTIVITY,
                    call,
                    result_type=PrepareResult,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    retry_policy=WRITE_RETRY,
                )
                self._baseline = dict(prepared.baseline)
                call = self._call()
            self._attempts += 1
            await self._enter(Phase.EXECUTING, "intent.executing", "krate-sync")
            try:
                response: IntentResponse = await workflow.execute_activity(
                    EXECUTE_WRITE_ACTIVITY,
                    call,
                    result_type=IntentResponse,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    heartbeat_timeout=self._input.write_heartbeat_timeout,
                    retry_policy=WRITE_RETRY,
                )
            except ActivityError as error:
                reset = _reset_of(error)
                if reset is not None:
                    # Nothing was written (the provider refused): queue until the reset.
                    self._queued_until = reset
                    await self._enter(
                        Phase.APPROVED,
                        "intent.rate-limited",
                        "krate-sync",
                        message=f"the provider refused: rate limit until {reset.isoformat()}",
                    )
                    continue
                self._message = str(error.cause or error)
                await self._enter(
                    Phase.FAILED, "intent.failed", "krate-sync", message=self._message
                )
                return False
            self._response = response
            await self._enter(Phase.CONFIRMING, "intent.written", "krate-sync")
            confirmed = await self._confirm(call)
            if confirmed is None:
                return False
            if not confirmed.confirmed:
                self._message = f"read-back did not confirm the write: {confirmed.message}"
                await self._enter(
                    Phase.FAILED, "intent.failed", "krate-sync", message=self._message
                )
                return False
            if confirmed.response is not None:
                # Keep what the write learnt (status code, already applied) with the read URL.
                self._response = response.model_copy(
                    update={
                        "native_url": confirmed.response.native_url or response.native_url,
                        "native_id": confirmed.response.native_id or response.native_id,
                    }
                )
            self._message = None
            await self._enter(Phase.SUCCEEDED, "intent.succeeded", "krate-sync")
            return True

    async def _confirm(self, call: WriteCall) -> ConfirmResult | None:
        """Read the write back; a rate limit only delays the read (the write is done)."""
        while True:
            try:
                confirmed: ConfirmResult = await workflow.execute_activity(
                    CONFIRM_WRITE_ACTIVITY,
                    call,
                    result_type=ConfirmResult,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    heartbeat_timeout=self._input.write_heartbeat_timeout,
                    retry_policy=WRITE_RETRY,
                )
            except ActivityError as error:
                reset = _reset_of(error)
                if reset is not None:
                    await workflow.sleep(max(reset - workflow.now(), timedelta(seconds=1)))
                    continue
                self._message = f"read-back failed: {error.cause or error}"
                await self._enter(
                    Phase.FAILED, "intent.failed", "krate-sync", message=self._message
                )
                return None
            else:
                return confirmed

    def _call(self) -> WriteCall:
        i = self._input
        return WriteCall(
            binding=i.binding,
            operation=i.operation,
            owner=i.owner,
            repository=i.repository,
            parameters=i.parameters,
            idempotency_key=i.idempotency_key,
            baseline=dict(self._baseline or {}),
            source_kind=i.source_kind,
        )

    # ------------------------------------------------------------------ phases and records

    async def _enter(
        self,
        phase: Phase,
        action: str,
        actor: str,
        *,
        decision: str | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        self._phase = phase
        if message is not None:
            self._message = message
        if self._input.search_attributes:
            attributes: list[SearchAttributeUpdate[Any]] = [sa.KRATE_PHASE.value_set(phase.value)]
            if self._seq == 0:
                binding = self._input.binding
                attributes += [
                    sa.KRATE_ORG.value_set(binding.org),
                    sa.KRATE_PROVIDER.value_set(binding.provider),
                    sa.KRATE_BINDING.value_set(binding.binding),
                    sa.KRATE_INTERFACE.value_set([self._input.interface]),
                ]
            workflow.upsert_search_attributes(attributes)
        await self._record(action, actor, decision=decision, reason=reason, message=message)

    async def _record(
        self,
        action: str,
        actor: str,
        *,
        decision: str | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        self._seq += 1
        i = self._input
        await workflow.execute_activity(
            RECORD_INTENT_ACTIVITY,
            RecordIntentInput(
                namespace=i.namespace,
                name=i.name,
                org=i.org,
                provider=i.binding.provider,
                seq=self._seq,
                phase=self._phase.value,
                action=action,
                actor=actor,
                attempts=self._attempts,
                message=message if message is not None else self._message,
                decision=decision,
                decided_by=self._decided_by if decision else None,
                reason=reason,
                queued_until=self._queued_until,
                response=self._response if self._phase == Phase.SUCCEEDED else None,
            ),
            result_type=RecordIntentResult,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    def _status(self) -> IntentStatus:
        i = self._input
        return IntentStatus(
            name=i.name,
            phase=self._phase.value,
            operation=i.operation,
            actor=i.actor,
            approval_required=i.approval_required,
            decided_by=self._decided_by,
            decision=self._decision,
            reason=self._reason,
            attempts=self._attempts,
            queued_until=self._queued_until,
            message=self._message,
            response=self._response,
        )

    # ------------------------------------------------------------------------- messages

    @workflow.query
    def status(self) -> IntentStatus:
        return self._status()

    def _check_decision(self, input: DecisionInput, verb: str) -> None:
        if self._phase.is_final:
            raise ValueError(f"intent {self._input.name} is {self._phase.value}: nothing to {verb}")
        if self._decision is not None or self._phase != Phase.AWAITING_APPROVAL:
            raise ValueError(
                f"intent {self._input.name} is {self._phase.value}, not awaiting approval"
            )
        if _same_actor(input.actor, self._input.actor):
            raise ValueError(
                f"{input.actor} requested intent {self._input.name} and may not {verb} it: "
                "another person must review it"
            )
        approvers = self._input.approvers
        if approvers and not any(_same_actor(input.actor, a) for a in approvers):
            raise ValueError(
                f"{input.actor} is not among the approvers of intent {self._input.name}: "
                + ", ".join(approvers)
            )

    @workflow.update
    async def approve(self, input: DecisionInput) -> IntentStatus:
        """Approve the write (another actor than its requester)."""
        self._decision, self._decided_by, self._reason = "approved", input.actor, input.reason
        await workflow.wait_condition(lambda: self._phase != Phase.AWAITING_APPROVAL)
        return self._status()

    @approve.validator
    def _validate_approve(self, input: DecisionInput) -> None:
        self._check_decision(input, "approve")

    @workflow.update
    async def reject(self, input: DecisionInput) -> IntentStatus:
        """Reject the write; it never reaches the provider."""
        self._decision, self._decided_by, self._reason = "rejected", input.actor, input.reason
        await workflow.wait_condition(lambda: self._phase.is_final)
        return self._status()

    @reject.validator
    def _validate_reject(self, input: DecisionInput) -> None:
        self._check_decision(input, "reject")

    @workflow.update
    async def cancel(self, input: DecisionInput) -> IntentStatus:
        """Withdraw the intent before its write starts (or after it failed)."""
        self._cancel_requested = input
        await workflow.wait_condition(lambda: self._phase.is_final)
        return self._status()

    @cancel.validator
    def _validate_cancel(self, input: DecisionInput) -> None:
        if self._phase not in _CANCELLABLE or self._cancel_requested is not None:
            raise ValueError(
                f"intent {self._input.name} is {self._phase.value}: it can be cancelled only "
                "before its write starts or after it failed"
            )

    @workflow.update
    async def retry(self, input: DecisionInput) -> IntentStatus:
        """Try a failed write again (it reads first, so nothing is written twice)."""
        self._retry_requested = input
        await workflow.wait_condition(lambda: self._phase != Phase.FAILED)
        return self._status()

    @retry.validator
    def _validate_retry(self, input: DecisionInput) -> None:
        if self._phase != Phase.FAILED or self._retry_requested is not None:
            raise ValueError(
                f"intent {self._input.name} is {self._phase.value}: only a Failed intent is retried"
            )
