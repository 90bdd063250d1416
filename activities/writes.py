"""Write-intent activities: the provider write (exactly one effect), its read-back, the intent's
row and audit trail, and the binding's rate-limit state.

Exactly once without provider idempotency keys: creates carry a hidden marker with the intent's
idempotency key in their body, and every attempt reads the provider (all pages) before it
writes. A write that times out or loses its connection is "unknown": the activity reads again
and only reports failure (retried by Temporal, which reads first again) when the marker is not
there. Label, patch and sync operations are idempotent by nature (absolute values, sets), so
repeating them is harmless. Reruns compare the run attempt read before the first attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.backfill import to_application_error
from activities.heartbeat import heartbeating
from activities.provider_factory import ProviderFactory
from activities.secrets import ConfigurationError
from activities.writes_models import (
    CONFIRM_WRITE_ACTIVITY,
    EXECUTE_WRITE_ACTIVITY,
    INTENT_KIND,
    INVALID_WRITE,
    LOCAL_EDIT_SUPERSEDED,
    PREPARE_WRITE_ACTIVITY,
    RECORD_INTENT_ACTIVITY,
    SOURCE_LOCAL_EDIT,
    WRITE_RATE_LIMIT_ACTIVITY,
    ConfirmResult,
    CreateCommentParams,
    CreatePullRequestParams,
    IntentResponse,
    InvalidParameters,
    LabelsParams,
    MergePullRequestParams,
    PrepareResult,
    RateLimitInput,
    RateLimitResult,
    RecordIntentInput,
    RecordIntentResult,
    SyncBranchProtectionParams,
    SyncDeployKeysParams,
    UpdateIssueParams,
    UpdatePullRequestParams,
    WorkflowRunParams,
    WriteCall,
    marker,
    parse_parameters,
    with_marker,
)
from providers.base import (
    BranchProtectionSpec,
    DeployKeySpec,
    ExternalComment,
    ExternalIssue,
    ExternalPullRequest,
    IssuePatch,
    MergeOptions,
    ProviderError,
    ProviderTransientError,
    PullRequestCreate,
    PullRequestPatch,
    RepoRef,
)
from providers.github import GitHubProvider
from providers.github.operations import collect_all
from settings import Settings
from store.audit import record_audit
from store.conflicts import MODEL_OF, local_write_blocker, settle_written
from store.db import session_scope
from store.models.aggregated import SyncState, WriteIntent

HEARTBEAT_EVERY = 2.0


def _repo(call: WriteCall) -> RepoRef:
    return RepoRef(owner=call.owner, name=call.repository)


def _params(call: WriteCall) -> Any:
    try:
        return parse_parameters(call.operation, call.parameters)
    except InvalidParameters as error:
        raise ApplicationError(str(error), type=INVALID_WRITE, non_retryable=True) from None


def _comment_response(comment: ExternalComment, *, already: bool, status: int) -> IntentResponse:
    return IntentResponse(
        status_code=status,
        native_url=comment.external.url,
        native_id=comment.external.native_id,
        summary=f"comment {comment.external.native_id} on #{comment.parent_number}",
        already_applied=already,
    )


def _pull_response(
    pr: ExternalPullRequest, summary: str, *, already: bool = False
) -> IntentResponse:
    return IntentResponse(
        status_code=200,
        native_url=pr.external.url,
        native_id=pr.external.native_id,
        summary=summary,
        already_applied=already,
    )


async def _find_comment(
    gh: GitHubProvider, repo: RepoRef, number: int, key: str
) -> ExternalComment | None:
    """The comment carrying the intent's marker, reading every page of the conversation."""
    mark = marker(key)
    comments = await collect_all(lambda c: gh.list_comments(repo, number, c))
    for comment in comments:
        if mark in comment.body:
            return comment
    return None


async def _find_pull(gh: GitHubProvider, repo: RepoRef, key: str) -> ExternalPullRequest | None:
    mark = marker(key)
    pulls = await collect_all(lambda c: gh.list_pull_requests(repo, c))
    for pr in pulls:
        if pr.body and mark in pr.body:
            return pr
    return None


async def _write_then_find(write: Callable[[], Any], find: Callable[[], Any]) -> tuple[Any, bool]:
    """Write; on an unknown outcome (timeout, reset, 5xx) read again before giving up.

    Returns (object, found_by_reading). A write that did land is found by its marker."""
    try:
        return await write(), False
    except ProviderTransientError:
        found = await find()
        if found is not None:
            return found, True
        raise


class WriteActivities:
    def __init__(self, engine: Callable[[], Engine], providers: ProviderFactory) -> None:
        self._engine = engine
        self._providers = providers

    # ----------------------------------------------------------------------- provider calls

    @activity.defn(name=PREPARE_WRITE_ACTIVITY)
    async def prepare_write(self, call: WriteCall) -> PrepareResult:
        """What must be known before the first attempt (the run attempt a rerun starts from)."""
        params = _params(call)
        if call.operation != "rerunWorkflowRun":
            return PrepareResult()
        assert isinstance(params, WorkflowRunParams)
        try:
            gh = self._providers.github(call.binding)
            run = await gh.get_pipeline(_repo(call), str(params.run_id))
        except (ProviderError, ConfigurationError) as error:
            raise to_application_error(error) from None
        return PrepareResult(baseline={"runAttempt": run.run_attempt or 1})

    @activity.defn(name=EXECUTE_WRITE_ACTIVITY)
    async def execute_write(self, call: WriteCall) -> IntentResponse:
        """Perform the write once: read, and write only when the effect is not there yet."""
        params = _params(call)
        if call.source_kind == SOURCE_LOCAL_EDIT:
            await asyncio.to_thread(self._refuse_over_conflict, call)
        try:
            gh = self._providers.github(call.binding)
            async with heartbeating(HEARTBEAT_EVERY):
                return await self._execute(gh, call, params)
        except (ProviderError, ConfigurationError) as error:
            raise to_application_error(error) from None

    async def _execute(self, gh: GitHubProvider, call: WriteCall, params: Any) -> IntentResponse:
        repo = _repo(call)
        key = call.idempotency_key
        if isinstance(params, CreateCommentParams):
            number = params.issue
            existing = await _find_comment(gh, repo, number, key)
            if existing is not None:
                return _comment_response(existing, already=True, status=200)
            comment, found = await _write_then_find(
                lambda: gh.create_comment(repo, number, with_marker(params.body, key)),
                lambda: _find_comment(gh, repo, number, key),
            )
            return _comment_response(comment, already=found, status=200 if found else 201)
        if isinstance(params, CreatePullRequestParams):
            pr = await _find_pull(gh, repo, key)
            if pr is not None:
                return _pull_response(pr, f"pull request #{pr.number} exists", already=True)
            request = PullRequestCreate(
                title=params.title,
                head=params.head,
                base=params.base,
                body=with_marker(params.body, key),
                draft=params.draft,
            )
            pr, found = await _write_then_find(
                lambda: gh.create_pull_request(repo, request), lambda: _find_pull(gh, repo, key)
            )
            return _pull_response(pr, f"pull request #{pr.number} opened", already=found)
        if isinstance(params, UpdateIssueParams):
            patch = IssuePatch(**params.model_dump(exclude_unset=True, exclude={"issue"}))
            issue = await gh.update_issue(repo, params.issue, patch)
            return IntentResponse(
                status_code=200,
                native_url=issue.external.url,
                native_id=issue.external.native_id,
                summary=f"issue #{issue.number} updated ({', '.join(sorted(patch.model_fields_set))})",
            )
        if isinstance(params, LabelsParams):
            if call.operation == "addLabels":
                labels = await gh.add_labels(repo, params.issue, params.labels)
            else:
                labels = await gh.remove_labels(repo, params.issue, params.labels)
            return IntentResponse(
                status_code=200,
                summary=f"#{params.issue} labels now: {', '.join(labels) or '(none)'}",
            )
        if isinstance(params, UpdatePullRequestParams):
            pr_patch = PullRequestPatch(**params.model_dump(exclude_unset=True, exclude={"pull"}))
            pr = await gh.update_pull_request(repo, params.pull, pr_patch)
            return _pull_response(pr, f"pull request #{pr.number} updated")
        if isinstance(params, MergePullRequestParams):
            pr = await gh.get_pull_request(repo, params.pull)
            if pr.merged:
                return _pull_response(pr, f"pull request #{pr.number} already merged", already=True)
            options = MergeOptions(
                method=params.method,
                commit_title=params.commit_title,
                commit_message=params.commit_message,
                expected_head_sha=params.expected_head_sha,
            )
            try:
                pr = await gh.merge_pull_request(repo, params.pull, options)
            except ProviderTransientError:
                pr = await gh.get_pull_request(repo, params.pull)
                if not pr.merged:
                    raise
            return _pull_response(pr, f"pull request #{pr.number} merged ({pr.merge_commit_sha})")
        if isinstance(params, WorkflowRunParams):
            return await self._run_action(gh, call, params)
        if isinstance(params, SyncDeployKeysParams):
            desired = [
                DeployKeySpec(title=k.title, key=k.key, read_only=k.read_only) for k in params.keys
            ]
            result = await gh.sync_deploy_keys(repo, desired)
            return IntentResponse(status_code=200, summary=_sync_summary("deploy keys", result))
        if isinstance(params, SyncBranchProtectionParams):
            spec = (
                BranchProtectionSpec.model_validate(params.protection)
                if params.protection is not None
                else None
            )
            result = await gh.sync_branch_protection(repo, params.branch, spec)
            return IntentResponse(
                status_code=200, summary=_sync_summary(f"protection of {params.branch}", result)
            )
        raise ApplicationError(
            f"no executor for {call.operation}", type=INVALID_WRITE, non_retryable=True
        )

    async def _run_action(
        self, gh: GitHubProvider, call: WriteCall, params: WorkflowRunParams
    ) -> IntentResponse:
        repo = _repo(call)
        run_id = str(params.run_id)
        run = await gh.get_pipeline(repo, run_id)
        if call.operation == "cancelWorkflowRun":
            if run.status == "completed":
                return IntentResponse(
                    status_code=200,
                    native_url=run.external.url,
                    native_id=run_id,
                    summary=f"run {run_id} already completed ({run.conclusion})",
                    already_applied=True,
                )
            try:
                await gh.cancel(repo, run_id)
            except ProviderTransientError:
                if (await gh.get_pipeline(repo, run_id)).status != "completed":
                    raise
            return IntentResponse(
                status_code=202,
                native_url=run.external.url,
                native_id=run_id,
                summary=f"run {run_id} cancelled",
            )
        baseline = int(call.baseline.get("runAttempt") or 1)
        if (run.run_attempt or 1) > baseline:
            return IntentResponse(
                status_code=200,
                native_url=run.external.url,
                native_id=run_id,
                summary=f"run {run_id} already re-run (attempt {run.run_attempt})",
                already_applied=True,
            )
        try:
            await gh.rerun(repo, run_id, failed_only=params.failed_only)
        except ProviderTransientError:
            if ((await gh.get_pipeline(repo, run_id)).run_attempt or 1) <= baseline:
                raise
        return IntentResponse(
            status_code=201,
            native_url=run.external.url,
            native_id=run_id,
            summary=f"run {run_id} re-run requested",
        )

    @activity.defn(name=CONFIRM_WRITE_ACTIVITY)
    async def confirm_write(self, call: WriteCall) -> ConfirmResult:
        """Read back (GET) what the write should have produced."""
        params = _params(call)
        repo = _repo(call)
        try:
            gh = self._providers.github(call.binding)
            async with heartbeating(HEARTBEAT_EVERY):
                return await self._confirm(gh, call, params, repo)
        except (ProviderError, ConfigurationError) as error:
            raise to_application_error(error) from None

    async def _confirm(
        self, gh: GitHubProvider, call: WriteCall, params: Any, repo: RepoRef
    ) -> ConfirmResult:
        key = call.idempotency_key
        if isinstance(params, CreateCommentParams):
            comment = await _find_comment(gh, repo, params.issue, key)
            if comment is None:
                return ConfirmResult(confirmed=False, message="the comment is not on the issue")
            return ConfirmResult(
                confirmed=True, response=_comment_response(comment, already=False, status=200)
            )
        if isinstance(params, CreatePullRequestParams):
            pr = await _find_pull(gh, repo, key)
            if pr is None:
                return ConfirmResult(confirmed=False, message="no pull request carries the marker")
            return ConfirmResult(
                confirmed=True, response=_pull_response(pr, f"pull request #{pr.number} open")
            )
        if isinstance(params, UpdateIssueParams):
            issue = await gh.get_issue(repo, params.issue)
            wanted = params.model_dump(exclude_unset=True, exclude={"issue", "state_reason"})
            actual = {
                "title": issue.title,
                "body": issue.body,
                "state": issue.state,
                "labels": sorted(getattr(issue, "labels", []) or []),
                "assignees": sorted(getattr(issue, "assignees", []) or []),
            }
            wrong = [
                f
                for f, v in wanted.items()
                if (sorted(v) if isinstance(v, list) else v) != actual.get(f)
            ]
            if wrong:
                return ConfirmResult(
                    confirmed=False, message=f"fields differ on read-back: {', '.join(wrong)}"
                )
            return ConfirmResult(confirmed=True, response=_issue_response(issue))
        if isinstance(params, LabelsParams):
            issue = await gh.get_issue(repo, params.issue)
            present = set(getattr(issue, "labels", []) or [])
            wanted_set = set(params.labels)
            ok = (
                wanted_set <= present
                if call.operation == "addLabels"
                else not (wanted_set & present)
            )
            return ConfirmResult(
                confirmed=ok,
                response=_issue_response(issue),
                message=None if ok else f"labels on read-back: {sorted(present)}",
            )
        if isinstance(params, UpdatePullRequestParams):
            pr = await gh.get_pull_request(repo, params.pull)
            wanted = params.model_dump(exclude_unset=True, exclude={"pull"})
            actual = {"title": pr.title, "body": pr.body, "state": pr.state, "base": pr.base}
            wrong = [f for f, v in wanted.items() if v != actual.get(f)]
            return ConfirmResult(
                confirmed=not wrong,
                message=f"fields differ on read-back: {', '.join(wrong)}" if wrong else None,
            )
        if isinstance(params, MergePullRequestParams):
            pr = await gh.get_pull_request(repo, params.pull)
            return ConfirmResult(
                confirmed=pr.merged,
                response=_pull_response(pr, f"pull request #{pr.number} merged")
                if pr.merged
                else None,
                message=None if pr.merged else "the pull request is not merged",
            )
        if isinstance(params, WorkflowRunParams):
            run = await gh.get_pipeline(repo, str(params.run_id))
            if call.operation == "cancelWorkflowRun":
                ok = run.status == "completed"
            else:
                ok = (run.run_attempt or 1) > int(call.baseline.get("runAttempt") or 1)
            return ConfirmResult(
                confirmed=ok,
                message=None if ok else f"run status {run.status}, attempt {run.run_attempt}",
            )
        if isinstance(params, SyncDeployKeysParams):
            keys = await collect_all(lambda c: gh.list_deploy_keys(repo, c))
            have = {(k.title, k.read_only) for k in keys}
            missing = [k.title for k in params.keys if (k.title, k.read_only) not in have]
            return ConfirmResult(
                confirmed=not missing,
                message=f"deploy keys missing on read-back: {', '.join(missing)}"
                if missing
                else None,
            )
        if isinstance(params, SyncBranchProtectionParams):
            found = await gh.get_branch_protection(repo, params.branch)
            ok = (found is None) == (params.protection is None)
            return ConfirmResult(
                confirmed=ok, message=None if ok else "protection differs on read-back"
            )
        return ConfirmResult(confirmed=False, message=f"no read-back for {call.operation}")

    # ---------------------------------------------------------------------- database side

    def _refuse_over_conflict(self, call: WriteCall) -> None:
        """A local edit's write re-checks the store just before it goes out (approval can take
        days): the provider may have changed the field meanwhile (a conflict is open) or the
        edit may be gone. Then the intent fails instead of overwriting; the conflict's
        resolution decides (apply-krate writes Krate's value through an intent of its own)."""
        update = _UPDATES.get(call.operation)
        if update is None:
            return
        kind, _, param = update
        written = {k: v for k, v in call.parameters.items() if k != param}
        identity = {
            "org": call.binding.org,
            "provider_ref": call.binding.provider,
            "repository": f"{call.owner}/{call.repository}",
            "number": int(call.parameters[param]),
        }
        with session_scope(self._engine()) as session:
            reason = local_write_blocker(session, MODEL_OF[kind], identity, written)
        if reason is not None:
            raise ApplicationError(reason, type=LOCAL_EDIT_SUPERSEDED, non_retryable=True)

    @activity.defn(name=RECORD_INTENT_ACTIVITY)
    async def record_intent(self, input: RecordIntentInput) -> RecordIntentResult:
        """Mirror one step to the intent's row and append its audit entry (once per step)."""
        return await asyncio.to_thread(self._record, input)

    def _record(self, input: RecordIntentInput) -> RecordIntentResult:
        with session_scope(self._engine()) as session:
            row = session.exec(
                select(WriteIntent)
                .where(WriteIntent.namespace == input.namespace, WriteIntent.name == input.name)
                .with_for_update()
            ).first()
            if row is None:
                raise ApplicationError(
                    f"write intent {input.namespace}/{input.name} is not in the store",
                    type=INVALID_WRITE,
                    non_retryable=True,
                )
            status = dict(row.status_extra or {})
            if int(status.get("seq", 0)) >= input.seq:
                return RecordIntentResult(written=False)  # a retry of a step already recorded
            status["seq"] = input.seq
            status["attempts"] = input.attempts
            status["message"] = input.message
            status["queuedUntil"] = input.queued_until.isoformat() if input.queued_until else None
            if input.decision is not None:
                status["approval"] = {
                    "decision": input.decision,
                    "decidedBy": input.decided_by,
                    "decidedAt": datetime.now(UTC).isoformat(),
                    "reason": input.reason,
                }
            if input.response is not None:
                status["response"] = {
                    "statusCode": input.response.status_code,
                    "nativeUrl": input.response.native_url,
                    "nativeId": input.response.native_id,
                    "summary": input.response.summary,
                    "alreadyApplied": input.response.already_applied,
                }
            row.status_extra = status
            row.phase = input.phase
            row.updated_at = datetime.now(UTC)
            session.add(row)
            if input.phase == "Succeeded":
                _settle_projection(session, row)
            record_audit(
                session,
                actor=input.actor,
                action=input.action,
                subject_kind=INTENT_KIND,
                subject_namespace=input.namespace,
                subject_name=input.name,
                org=input.org,
                provider_ref=input.provider,
                details={
                    "phase": input.phase,
                    "attempts": input.attempts,
                    **({"message": input.message} if input.message else {}),
                    **({"reason": input.reason} if input.reason else {}),
                    **(
                        {"response": input.response.model_dump(mode="json")}
                        if input.response
                        else {}
                    ),
                    **input.details,
                },
            )
        return RecordIntentResult(written=True)

    @activity.defn(name=WRITE_RATE_LIMIT_ACTIVITY)
    async def write_rate_limit(self, input: RateLimitInput) -> RateLimitResult:
        """Until when the binding is rate limited, from its mirrored ExternalSyncState rows."""
        return await asyncio.to_thread(self._rate_limit, input)

    def _rate_limit(self, input: RateLimitInput) -> RateLimitResult:
        ref = input.binding
        now = datetime.now(UTC)
        until: datetime | None = None
        with session_scope(self._engine()) as session:
            rows = session.exec(
                select(SyncState).where(
                    SyncState.namespace == ref.namespace, SyncState.binding_ref == ref.binding
                )
            ).all()
            for row in rows:
                raw = (row.status_extra or {}).get("rateLimitedUntil")
                if not isinstance(raw, str):
                    continue
                try:
                    moment = datetime.fromisoformat(raw)
                except ValueError:
                    continue
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                if moment > now and (until is None or moment > until):
                    until = moment
        if until is None:
            return RateLimitResult()
        return RateLimitResult(until=until, reason=f"binding {ref.binding} is rate limited")


# What an update writes, by operation: the projection kind and the parameter naming the number.
_UPDATES = {
    "updateIssue": ("Issue", "issueNumber", "issue"),
    "updatePullRequest": ("PullRequest", "pullNumber", "pull"),
}


def _settle_projection(session: Any, row: WriteIntent) -> None:
    """The provider holds what the update wrote: settle the matching local changes of the
    projected object (store.conflicts.settle_written), in the transaction of the Succeeded step."""
    update = _UPDATES.get(row.operation)
    native = row.native_target or {}
    if update is None:
        return
    kind, native_key, param = update
    written = {k: v for k, v in dict(row.spec_extra.get("parameters") or {}).items() if k != param}
    number = native.get(native_key)
    if number is None or not native.get("owner") or not native.get("repository"):
        return
    settle_written(
        session,
        MODEL_OF[kind],
        {
            "org": row.org,
            "provider_ref": row.provider_ref,
            "repository": f"{native['owner']}/{native['repository']}",
            "number": int(number),
        },
        written,
        actor="system:write-intent",
        intent=row.name,
    )


def _issue_response(issue: ExternalIssue) -> IntentResponse:
    return IntentResponse(
        status_code=200,
        native_url=issue.external.url,
        native_id=issue.external.native_id,
        summary=f"#{issue.number} read back",
    )


def _sync_summary(what: str, result: Any) -> str:
    return (
        f"{what}: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.deleted)} deleted, {len(result.unchanged)} unchanged"
    )


def write_activities(settings: Settings, engine: Callable[[], Engine]) -> list[Callable[..., Any]]:
    """The write-intent activities, for `activities.build_activities`."""
    acts = WriteActivities(engine, ProviderFactory(settings.secrets_dir))
    return [
        acts.prepare_write,
        acts.execute_write,
        acts.confirm_write,
        acts.record_intent,
        acts.write_rate_limit,
    ]
