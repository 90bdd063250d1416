"""Write intents across the Temporal boundary: the operation catalogue, workflow and activity
inputs and results, timeouts and retry policies.

Pure pydantic (no httpx, no database): the workflow, the activities and the create/approve logic
of the command line and the API all import it. Parameters are small and never credentials.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.common import RetryPolicy

from activities.backfill_models import (
    CONFIGURATION_ERROR,
    PROVIDER_AUTH_ERROR,
    PROVIDER_NOT_FOUND,
    PROVIDER_VALIDATION_ERROR,
    RATE_LIMITED,
    BindingRef,
)

# Activity names.
EXECUTE_WRITE_ACTIVITY = "execute_write"
CONFIRM_WRITE_ACTIVITY = "confirm_write"
PREPARE_WRITE_ACTIVITY = "prepare_write"
RECORD_INTENT_ACTIVITY = "record_intent"
WRITE_RATE_LIMIT_ACTIVITY = "write_rate_limit"

WORKFLOW_NAME = "WriteIntentWorkflow"
INTENT_KIND = "ExternalWriteIntent"

# The hidden marker that makes a create findable again: GitHub has no idempotency keys, so a
# retried create first looks for a comment or pull request whose body carries its key.
MARKER_PREFIX = "<!-- krate-intent: "
MARKER_SUFFIX = " -->"


def marker(idempotency_key: str) -> str:
    return f"{MARKER_PREFIX}{idempotency_key}{MARKER_SUFFIX}"


def with_marker(body: str | None, idempotency_key: str) -> str:
    """`body` with the intent's marker appended on a line of its own (invisible on GitHub)."""
    text = body or ""
    mark = marker(idempotency_key)
    if mark in text:
        return text
    return f"{text}\n\n{mark}" if text else mark


# One provider call plus a read-back of every page; the call heartbeats, so a worker that dies
# mid-call is noticed after the heartbeat timeout, not the start-to-close one.
WRITE_TIMEOUT = timedelta(minutes=2)
WRITE_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Retried until it is known whether the write landed: every attempt reads before it writes,
# so a retry never duplicates. Fatal provider answers and rate limits go back to the workflow.
PROVIDER_CONFLICT = "ProviderConflict"
PROVIDER_PERMISSION_ERROR = "ProviderPermissionError"
PROVIDER_REQUEST_ERROR = "ProviderRequestError"
PROVIDER_PROTOCOL_ERROR = "ProviderProtocolError"
INVALID_WRITE = "InvalidWrite"
LOCAL_EDIT_SUPERSEDED = "LocalEditSuperseded"

# Who proposed an intent (spec: source.kind).
SOURCE_USER = "UserAction"
SOURCE_AGENT = "AgentAction"
SOURCE_LOCAL_EDIT = "LocalEdit"
SOURCE_CONFLICT = "ConflictResolution"
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    # Short: an attempt only costs reads when the write already landed.
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=50,
    non_retryable_error_types=[
        RATE_LIMITED,
        PROVIDER_AUTH_ERROR,
        PROVIDER_NOT_FOUND,
        PROVIDER_VALIDATION_ERROR,
        PROVIDER_CONFLICT,
        PROVIDER_PERMISSION_ERROR,
        PROVIDER_REQUEST_ERROR,
        PROVIDER_PROTOCOL_ERROR,
        "PaginationLoopError",
        CONFIGURATION_ERROR,
        INVALID_WRITE,
    ],
)
# Bookkeeping in our own database: short, retried until the database answers.
RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=100,
    non_retryable_error_types=[CONFIGURATION_ERROR],
)
# A failed intent stays open this long for `retry` before the workflow closes.
FAILED_RETRY_WINDOW = timedelta(days=7)
# How often a queued intent re-reads the binding's rate-limit state while it waits.
RATE_LIMIT_RECHECK = timedelta(minutes=5)


# --- operations ------------------------------------------------------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CreateCommentParams(_Params):
    issue: int = Field(gt=0, description="Issue or pull request number.")
    body: str = Field(min_length=1)


class UpdateIssueParams(_Params):
    issue: int = Field(gt=0)
    title: str | None = None
    body: str | None = None
    state: Literal["open", "closed"] | None = None
    state_reason: str | None = None
    labels: list[str] | None = None
    assignees: list[str] | None = None


class LabelsParams(_Params):
    issue: int = Field(gt=0)
    labels: list[str] = Field(min_length=1)


class CreatePullRequestParams(_Params):
    title: str = Field(min_length=1)
    head: str = Field(min_length=1)
    base: str = Field(min_length=1)
    body: str | None = None
    draft: bool = False


class UpdatePullRequestParams(_Params):
    pull: int = Field(gt=0)
    title: str | None = None
    body: str | None = None
    state: Literal["open", "closed"] | None = None
    base: str | None = None


class MergePullRequestParams(_Params):
    pull: int = Field(gt=0)
    method: Literal["merge", "squash", "rebase"] = "merge"
    commit_title: str | None = None
    commit_message: str | None = None
    expected_head_sha: str | None = None


class WorkflowRunParams(_Params):
    run_id: int = Field(gt=0)
    failed_only: bool = False


class DeployKeyParams(_Params):
    title: str = Field(min_length=1)
    key: str = Field(min_length=1, description="The public key (never a private one).")
    read_only: bool = True


class SyncDeployKeysParams(_Params):
    keys: list[DeployKeyParams]


class SyncBranchProtectionParams(_Params):
    branch: str = Field(min_length=1)
    protection: dict[str, Any] | None = Field(
        default=None, description="A BranchProtectionSpec (camelCase or snake_case); null removes."
    )


class OperationSpec(BaseModel):
    interface: str
    target_kind: str
    params: type[_Params]
    how_idempotent: str


OPERATIONS: dict[str, OperationSpec] = {
    "createComment": OperationSpec(
        interface="issueTracking",
        target_kind="Issue",
        params=CreateCommentParams,
        how_idempotent="marker in the body; every comment page read before posting",
    ),
    "updateIssue": OperationSpec(
        interface="issueTracking",
        target_kind="Issue",
        params=UpdateIssueParams,
        how_idempotent="PATCH of absolute values: repeating it leaves the same state",
    ),
    "addLabels": OperationSpec(
        interface="issueTracking",
        target_kind="Issue",
        params=LabelsParams,
        how_idempotent="labels are a set: adding a present label changes nothing",
    ),
    "removeLabels": OperationSpec(
        interface="issueTracking",
        target_kind="Issue",
        params=LabelsParams,
        how_idempotent="labels are a set: removing an absent label changes nothing",
    ),
    "createPullRequest": OperationSpec(
        interface="gitForge",
        target_kind="PullRequest",
        params=CreatePullRequestParams,
        how_idempotent="marker in the body; every pull request page read before creating",
    ),
    "updatePullRequest": OperationSpec(
        interface="gitForge",
        target_kind="PullRequest",
        params=UpdatePullRequestParams,
        how_idempotent="PATCH of absolute values",
    ),
    "mergePullRequest": OperationSpec(
        interface="gitForge",
        target_kind="PullRequest",
        params=MergePullRequestParams,
        how_idempotent="read first: an already merged pull request is not merged again",
    ),
    "rerunWorkflowRun": OperationSpec(
        interface="cicd",
        target_kind="Pipeline",
        params=WorkflowRunParams,
        how_idempotent="the run attempt is read before and compared: a newer attempt means done",
    ),
    "cancelWorkflowRun": OperationSpec(
        interface="cicd",
        target_kind="Pipeline",
        params=WorkflowRunParams,
        how_idempotent="read first: a completed run is not cancelled again",
    ),
    "syncDeployKeys": OperationSpec(
        interface="gitForge",
        target_kind="Repository",
        params=SyncDeployKeysParams,
        how_idempotent="declarative: converges on the desired set",
    ),
    "syncBranchProtection": OperationSpec(
        interface="gitForge",
        target_kind="Repository",
        params=SyncBranchProtectionParams,
        how_idempotent="declarative: converges on the desired protection",
    ),
}


class InvalidParameters(ValueError):
    pass


def parse_parameters(operation: str, parameters: dict[str, Any]) -> _Params:
    """The operation's parameters, checked; InvalidParameters names the field and the fix."""
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise InvalidParameters(
            f"operation {operation!r} has no write-intent executor; one of: "
            + ", ".join(OPERATIONS)
        )
    try:
        return spec.params.model_validate(parameters)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
            for e in error.errors()
        )
        raise InvalidParameters(f"{operation}: {problems}") from None


_KEBAB = re.compile(r"(?<!^)(?=[A-Z])")


def kebab(operation: str) -> str:
    return _KEBAB.sub("-", operation).lower()


def target_name(operation: str, params: _Params, repository: str) -> str:
    """The Krate object the write is about (`issue-42`, `pr-7`, `run-123`, the repository)."""
    repo = repository.split("/")[-1].lower()
    if isinstance(params, (CreateCommentParams, UpdateIssueParams, LabelsParams)):
        return f"issue-{params.issue}"
    if isinstance(params, (UpdatePullRequestParams, MergePullRequestParams)):
        return f"pr-{params.pull}"
    if isinstance(params, WorkflowRunParams):
        return f"run-{params.run_id}"
    return repo


def native_target(operation: str, params: _Params, owner: str, repository: str) -> dict[str, Any]:
    """The provider's address of the target (spec: nativeTarget)."""
    found: dict[str, Any] = {"owner": owner, "repository": repository}
    if isinstance(params, (CreateCommentParams, UpdateIssueParams, LabelsParams)):
        found["issueNumber"] = params.issue
    elif isinstance(params, (UpdatePullRequestParams, MergePullRequestParams)):
        found["pullNumber"] = params.pull
    elif isinstance(params, WorkflowRunParams):
        found["runId"] = params.run_id
    elif isinstance(params, SyncBranchProtectionParams):
        found["branch"] = params.branch
    return found


# --- workflow --------------------------------------------------------------------------------


class WriteIntentInput(BaseModel):
    """Everything the workflow needs; Secret refs only (in `binding`), never values."""

    org: str
    namespace: str
    name: str
    binding: BindingRef
    interface: str
    operation: str
    owner: str
    repository: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    actor: str
    source_kind: str = "UserAction"
    approval_required: bool = True
    approvers: list[str] = Field(default_factory=list)
    idempotency_key: str
    request_digest: str
    search_attributes: bool = True
    # How soon a write lost with its worker is retried (tests shorten it).
    write_heartbeat_timeout: timedelta = WRITE_HEARTBEAT_TIMEOUT


class DecisionInput(BaseModel):
    """Input of the `approve`, `reject`, `cancel` and `retry` updates."""

    actor: str = Field(min_length=1)
    reason: str | None = None


class IntentResponse(BaseModel):
    """What the provider said, kept for the UI: native URL, status and a one-line summary."""

    status_code: int | None = None
    native_url: str | None = None
    native_id: str | None = None
    summary: str | None = None
    already_applied: bool = False


class IntentStatus(BaseModel):
    """The `status` query and the answer of every update."""

    name: str
    phase: str
    operation: str
    actor: str
    approval_required: bool
    decided_by: str | None = None
    decision: str | None = None
    reason: str | None = None
    attempts: int = 0
    queued_until: datetime | None = None
    message: str | None = None
    response: IntentResponse | None = None


# --- activities ------------------------------------------------------------------------------


class WriteCall(BaseModel):
    binding: BindingRef
    operation: str
    owner: str
    repository: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="What prepare_write read before the first attempt."
    )
    source_kind: str | None = None


class PrepareResult(BaseModel):
    baseline: dict[str, Any] = Field(default_factory=dict)


class ConfirmResult(BaseModel):
    confirmed: bool
    response: IntentResponse | None = None
    message: str | None = None


class RecordIntentInput(BaseModel):
    """One step of an intent: the row's phase and status, and one audit entry."""

    namespace: str
    name: str
    org: str
    provider: str
    seq: int = Field(description="Step number: a retried record of the same step is a no-op.")
    phase: str
    action: str
    actor: str
    attempts: int = 0
    message: str | None = None
    decision: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    queued_until: datetime | None = None
    response: IntentResponse | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class RecordIntentResult(BaseModel):
    written: bool


class RateLimitInput(BaseModel):
    binding: BindingRef


class RateLimitResult(BaseModel):
    until: datetime | None = None
    reason: str | None = None
