"""Provider-neutral contracts shared by every adapter.

An adapter turns one provider's API into these shapes: a protocol per interface (issue tracking,
CI/CD, git forge), a `Page` per list call, normalized `External*` models that carry the common
external envelope of the object-mapping spec, and a small family of error classes whose *names*
the activities hand to Temporal (`non_retryable_error_types` matches class names exactly, so every
distinct outcome has its own class).

Nothing here knows about Temporal or Postgres.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from providers.phases import (
    IssuePhase,
    PipelinePhase,
    PullRequestPhase,
    RepositoryPhase,
    issue_phase,
    pull_request_phase,
    repository_phase,
)
from providers.rich_text import MARKDOWN, RichText, rich_text

# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Base for every exchanged model: snake_case in Python, camelCase (the spec's) on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


Interface = Literal["gitForge", "issueTracking", "cicd"]


class Extensions(_Model):
    """Provider fields without a normalized home, kept so that sync stays loss-aware."""

    provider_type: str
    schema_version: str
    fields: dict[str, Any] = Field(default_factory=dict)


class ExternalEnvelope(_Model):
    """The common external envelope every synced object carries (external-object-mapping.md)."""

    provider_ref: str | None = None
    binding_ref: str | None = None
    interface: Interface
    native_kind: str
    native_id: str
    native_number: int | None = None
    node_id: str | None = None
    url: str | None = None
    api_url: str | None = None
    etag: str | None = None
    updated_at: datetime | None = None
    sha: str | None = None
    extensions: Extensions


class RepoRef(_Model):
    """A repository (forges, CI) or project (trackers) on the provider: `owner/name`."""

    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        owner, sep, name = full_name.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ValueError(f"expected 'owner/name', got {full_name!r}")
        return cls(owner=owner, name=name)


class ExternalUser(_Model):
    """A provider account as referenced from another object (author, assignee, reviewer)."""

    login: str
    native_id: str | None = None
    node_id: str | None = None
    type: str | None = None


class ExternalObject(_Model):
    """Anything synced: normalized fields plus the `external` envelope."""

    external: ExternalEnvelope
    absent_fields: list[str] = Field(default_factory=list)
    """Normalized fields the source did not carry (some webhook payloads are partial): their
    values here are placeholders, so projections must not write them over stored ones. Reads
    of whole objects (REST, GraphQL) leave it empty."""

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Normalized field -> the fields computed from it (a phase from a state, a rich body from
    a body): when the source lacked the field, what was computed from it is a placeholder too."""

    @classmethod
    def with_derived(cls, absent: list[str]) -> list[str]:
        """`absent` plus every field computed from one of them (sorted)."""
        return sorted({*absent, *(d for f in absent for d in cls.derived_fields.get(f, ()))})


class CloneUrls(_Model):
    https: str | None = None
    ssh: str | None = None


class ExternalRepository(ExternalObject):
    owner: str
    name: str
    full_name: str
    description: str | None = None
    visibility: Literal["public", "private", "internal"] | None = None
    default_branch: str | None = None
    archived: bool = False
    disabled: bool = False
    fork: bool = False
    clone_urls: CloneUrls = Field(default_factory=CloneUrls)
    created_at: datetime | None = None
    pushed_at: datetime | None = None
    phase: RepositoryPhase | None = None  # from archived/disabled when the adapter leaves it

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "archived": ("phase",),
        "disabled": ("phase",),
    }

    @model_validator(mode="after")
    def _derive(self) -> ExternalRepository:
        if self.phase is None:
            self.phase = repository_phase(archived=self.archived, disabled=self.disabled)
        return self


ItemKind = Literal["issue", "pull_request"]


class ExternalIssue(ExternalObject):
    """An issue. On providers where pull requests share the issue namespace (GitHub), a listing
    also yields pull requests: `kind` says which, so sync links them to the pull request record
    instead of creating a second record for the same number."""

    kind: ItemKind = "issue"
    repository: str
    number: int
    title: str
    body: str | None = None
    body_format: str = "markdown"
    state: Literal["open", "closed"]
    state_reason: str | None = None
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)
    milestone: str | None = None
    author: ExternalUser | None = None
    locked: bool = False
    comments_count: int = 0
    created_at: datetime | None = None
    closed_at: datetime | None = None
    pull_request_api_url: str | None = None
    phase: IssuePhase | None = None  # from state when the adapter leaves it
    rich_body: RichText | None = None  # from body and body_format when the adapter leaves it

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "state": ("phase",),
        "body": ("rich_body",),
    }

    @model_validator(mode="after")
    def _derive(self) -> ExternalIssue:
        if self.phase is None:
            self.phase = issue_phase(self.state)
        if self.rich_body is None:
            self.rich_body = rich_text(self.body, self.body_format)
        return self


class ExternalPullRequest(ExternalObject):
    repository: str
    number: int
    title: str
    body: str | None = None
    body_format: str = "markdown"
    state: Literal["open", "closed"]
    merged: bool = False
    draft: bool = False
    head: str
    head_sha: str | None = None
    head_repository: str | None = None
    base: str
    base_sha: str | None = None
    merge_state: str | None = None
    mergeable: bool | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)
    requested_reviewers: list[str] = Field(default_factory=list)
    author: ExternalUser | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    phase: PullRequestPhase | None = None  # from state, merged and draft
    rich_body: RichText | None = None

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "state": ("phase",),
        "merged": ("phase",),
        "draft": ("phase",),
        "body": ("rich_body",),
    }

    @model_validator(mode="after")
    def _derive(self) -> ExternalPullRequest:
        if self.phase is None:
            self.phase = pull_request_phase(self.state, merged=self.merged, draft=self.draft)
        if self.rich_body is None:
            self.rich_body = rich_text(self.body, self.body_format)
        return self


class ExternalReview(ExternalObject):
    repository: str
    pull_number: int
    state: str
    body: str | None = None
    body_format: str = MARKDOWN
    author: ExternalUser | None = None
    commit_id: str | None = None
    submitted_at: datetime | None = None
    rich_body: RichText | None = None

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {"body": ("rich_body",)}

    @model_validator(mode="after")
    def _derive(self) -> ExternalReview:
        if self.rich_body is None:
            self.rich_body = rich_text(self.body, self.body_format)
        return self


class ExternalComment(ExternalObject):
    """A comment on an issue or pull request conversation, or on a pull request diff (then
    `path`, `line` and `commit_id` say where)."""

    repository: str
    parent_kind: Literal["issue", "pull_request"]
    parent_number: int | None = None
    body: str
    body_format: str = "markdown"
    author: ExternalUser | None = None
    created_at: datetime | None = None
    path: str | None = None
    line: int | None = None
    commit_id: str | None = None
    in_reply_to: str | None = None
    review_id: str | None = None
    rich_body: RichText | None = None

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {"body": ("rich_body",)}

    @model_validator(mode="after")
    def _derive(self) -> ExternalComment:
        if self.rich_body is None:
            self.rich_body = rich_text(self.body, self.body_format)
        return self


class ExternalPipeline(ExternalObject):
    repository: str
    workflow: str | None = None
    workflow_id: str | None = None
    ref: str | None = None
    sha: str | None = None
    event: str | None = None
    status: str | None = None
    conclusion: str | None = None
    phase: PipelinePhase
    run_number: int | None = None
    run_attempt: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "status": ("phase",),
        "conclusion": ("phase",),
    }


class ExternalJob(ExternalObject):
    repository: str
    pipeline_id: str
    name: str
    status: str | None = None
    conclusion: str | None = None
    phase: PipelinePhase
    started_at: datetime | None = None
    completed_at: datetime | None = None
    runner_name: str | None = None
    labels: list[str] = Field(default_factory=list)

    derived_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "status": ("phase",),
        "conclusion": ("phase",),
    }


class ExternalRef(ExternalObject):
    repository: str
    name: str
    ref: str
    kind: Literal["branch", "tag"]
    sha: str
    protected: bool | None = None


class GitSignature(_Model):
    name: str | None = None
    email: str | None = None
    date: datetime | None = None


class ExternalCommit(ExternalObject):
    repository: str
    sha: str
    message: str
    author: GitSignature | None = None
    committer: GitSignature | None = None
    author_login: str | None = None
    parents: list[str] = Field(default_factory=list)
    tree_sha: str | None = None


class DeployKeySpec(_Model):
    """A deploy key as Krate wants it. Keys are matched on the key material (type and base64
    body; the trailing comment is ignored)."""

    title: str
    key: str
    read_only: bool = True


class ExternalDeployKey(ExternalObject):
    repository: str
    title: str
    key: str
    read_only: bool
    verified: bool | None = None
    created_at: datetime | None = None


class ExternalCollaborator(ExternalObject):
    repository: str
    login: str
    permission: str | None = None
    permissions: dict[str, bool] = Field(default_factory=dict)
    user: ExternalUser


class ExternalTeamPermission(ExternalObject):
    """A team's access to a repository; `permission` is the role name, as for collaborators."""

    repository: str
    slug: str
    name: str | None = None
    permission: str | None = None
    permissions: dict[str, bool] = Field(default_factory=dict)


class StatusChecks(_Model):
    strict: bool = False
    contexts: list[str] = Field(default_factory=list)


class ReviewRules(_Model):
    required_approving_review_count: int = 1
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    require_last_push_approval: bool = False


class PushRestrictions(_Model):
    users: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    apps: list[str] = Field(default_factory=list)


class BranchProtectionSpec(_Model):
    """The overlap of branch protection settings between forges; what Krate reads and writes.
    None means "off" for the nested rule sets, as on GitHub."""

    required_status_checks: StatusChecks | None = None
    enforce_admins: bool = False
    required_pull_request_reviews: ReviewRules | None = None
    restrictions: PushRestrictions | None = None
    required_linear_history: bool = False
    allow_force_pushes: bool = False
    allow_deletions: bool = False
    required_conversation_resolution: bool = False


class ExternalBranchProtection(ExternalObject):
    repository: str
    branch: str
    spec: BranchProtectionSpec


class ExternalRefPolicy(ExternalObject):
    """What a branch protection rule asks of the refs it matches, in Krate's terms: the fields
    every forge's protection has in some form (providers.ref_policies builds it)."""

    repository: str
    pattern: str
    ref_kind: Literal["branch", "tag"] = "branch"
    required_approvals: int = 0
    require_code_owner_review: bool = False
    dismiss_stale_reviews: bool = False
    require_last_push_approval: bool = False
    required_checks: list[str] = Field(default_factory=list)
    require_up_to_date: bool = False
    enforce_admins: bool = False
    allow_force_push: bool = False
    allow_deletion: bool = False
    require_linear_history: bool = False
    require_conversation_resolution: bool = False
    push_allowed: list[str] | None = None
    """Who may push (users, `team:slug`, `app:slug`); None when anyone with write access may."""


class ExternalLabel(ExternalObject):
    """A repository's (or project's) label: what issue and pull request label lists name."""

    repository: str
    name: str
    color: str | None = None
    description: str | None = None
    default: bool = False


class ExternalWebhookSubscription(ExternalObject):
    """A webhook the provider delivers from a repository. The secret is never read: providers
    mask it, and Krate records only whether one is set."""

    repository: str
    name: str | None = None
    active: bool = True
    events: list[str] = Field(default_factory=list)
    target_url: str | None = None
    content_type: str | None = None
    insecure_ssl: bool = False
    secret_set: bool = False
    created_at: datetime | None = None


class SyncResult(_Model):
    """What a sync call changed on the provider, by native id or name."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


# Write inputs -------------------------------------------------------------------------------


class IssuePatch(_Model):
    """Fields to change on an issue; unset fields are left alone (sent with exclude_unset)."""

    title: str | None = None
    body: str | None = None
    state: Literal["open", "closed"] | None = None
    state_reason: str | None = None
    labels: list[str] | None = None
    assignees: list[str] | None = None


class PullRequestCreate(_Model):
    title: str
    head: str
    base: str
    body: str | None = None
    draft: bool = False


class PullRequestPatch(_Model):
    """Fields to change on a pull request; unset fields are left alone."""

    title: str | None = None
    body: str | None = None
    state: Literal["open", "closed"] | None = None
    base: str | None = None


class MergeOptions(_Model):
    method: Literal["merge", "squash", "rebase"] = "merge"
    commit_title: str | None = None
    commit_message: str | None = None
    expected_head_sha: str | None = None


# --------------------------------------------------------------------------------------------
# Pages and cursors
# --------------------------------------------------------------------------------------------


class RateLimitBudget(_Model):
    """The provider's rate-limit counters as of the last response."""

    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset_at: datetime | None = None
    resource: str | None = None


class Cursor(_Model):
    """Where the next page of a listing starts. Small and JSON-serializable: a workflow keeps it
    in its state and hands it back to the next activity.

    `next_url` is the provider's own continuation (for Link-header providers the rel="next" URL);
    `since` is the watermark the listing started from, kept so a resumed listing filters the same
    way; `phase` names the endpoint of a listing that chains several (refs: branches, then tags);
    `visited` holds the last few page URLs, for loop detection across activities.
    """

    next_url: str | None = None
    since: datetime | None = None
    phase: str | None = None
    visited: list[str] = Field(default_factory=list)


T = TypeVar("T")


class Page(_Model, Generic[T]):
    """One page of a listing. On a conditional hit (`not_modified`) `items` is empty and the
    stored ETag is still valid; `next_cursor` is None when there is nothing more to read."""

    items: list[T] = Field(default_factory=list)
    next_cursor: Cursor | None = None
    etag: str | None = None
    not_modified: bool = False
    rate_limit: RateLimitBudget = Field(default_factory=RateLimitBudget)

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


class Paginator(Protocol):
    """Follows one listing page by page (meltano-style): `get_next` reads the continuation from a
    response, `advance` moves to it (refusing to revisit a page), `has_more` says when to stop."""

    @property
    def has_more(self) -> bool: ...

    @property
    def current_url(self) -> str | None: ...

    def get_next(self, response: Any) -> str | None: ...

    def advance(self, response: Any) -> None: ...


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """How a response or transport failure is to be treated."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    RATE_LIMITED = "rate_limited"
    RETRIABLE = "retriable"
    FATAL = "fatal"


class ProviderError(Exception):
    """Base of every adapter error. `status` is the HTTP status when there was a response;
    `message` is the provider's own message, kept verbatim for the user."""

    verdict: Verdict = Verdict.FATAL

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        documentation_url: str | None = None,
        request_id: str | None = None,
        details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.documentation_url = documentation_url
        self.request_id = request_id
        self.details = list(details)

    @property
    def retryable(self) -> bool:
        return self.verdict is Verdict.RETRIABLE

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.message}"


class RateLimited(ProviderError):
    """The provider refuses more requests for now. `reset_at` is when to try again (absolute,
    UTC); `retry_after` the delay in seconds when the provider gave one (secondary limits);
    `resource` the limited bucket (GitHub: core, search, graphql...)."""

    verdict = Verdict.RATE_LIMITED

    def __init__(
        self,
        message: str,
        *,
        reset_at: datetime | None = None,
        retry_after: float | None = None,
        resource: str | None = None,
        secondary: bool = False,
        status: int | None = None,
        documentation_url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message, status=status, documentation_url=documentation_url, request_id=request_id
        )
        self.reset_at = reset_at
        self.retry_after = retry_after
        self.resource = resource
        self.secondary = secondary


class ProviderTransientError(ProviderError):
    """Worth retrying with backoff: 5xx, timeouts, connection resets. `retry_after` (seconds) is
    the provider's hint, if any."""

    verdict = Verdict.RETRIABLE

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """401: the credentials are missing, wrong, expired or revoked."""


class ProviderPermissionError(ProviderError):
    """403 (not a rate limit): authenticated, but not allowed to do this."""


class ProviderNotFound(ProviderError):
    """404/410: no such object, or the credentials may not see it."""


class ProviderValidationError(ProviderError):
    """400/422: the provider rejected the request body or parameters; `details` holds its list
    of field errors."""


class ProviderConflict(ProviderError):
    """405/409/412: the object is not in a state that allows this (not mergeable, head moved)."""


class ProviderRequestError(ProviderError):
    """Any other 4xx the provider answered with."""


class ProviderConfigurationError(ProviderError):
    """The adapter is set up wrong (credentials incomplete, key unreadable, bad base URL)."""


class ProviderProtocolError(ProviderError):
    """The provider answered something the adapter cannot use (unexpected shape)."""


class PaginationLoopError(ProviderProtocolError):
    """A listing pointed back to a page it had already served."""


# Longer than any provider asks for (and short enough for `timedelta`): beyond it, unknown.
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "inf", "nan" or a delay no datetime can hold would break every caller: unknown.
        if not math.isfinite(seconds) or seconds >= MAX_RETRY_AFTER_SECONDS:
            return None
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def reset_after(seconds: float, *, now: datetime | None = None) -> datetime:
    """The absolute time `seconds` from now, for turning a delay into a reset time."""
    return (now or datetime.now(UTC)) + timedelta(seconds=seconds)


# --------------------------------------------------------------------------------------------
# Interface protocols
# --------------------------------------------------------------------------------------------


@runtime_checkable
class IssueTrackingProvider(Protocol):
    """Issues and their conversation."""

    async def list_issues(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalIssue]: ...

    async def get_issue(self, repo: RepoRef, number: int) -> ExternalIssue: ...

    async def update_issue(
        self, repo: RepoRef, number: int, patch: IssuePatch
    ) -> ExternalIssue: ...

    async def create_comment(self, repo: RepoRef, number: int, body: str) -> ExternalComment: ...

    async def add_labels(self, repo: RepoRef, number: int, labels: Sequence[str]) -> list[str]: ...

    async def remove_labels(
        self, repo: RepoRef, number: int, labels: Sequence[str]
    ) -> list[str]: ...

    async def list_comments(
        self,
        repo: RepoRef,
        number: int,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalComment]: ...


@runtime_checkable
class CicdProvider(Protocol):
    """Pipelines (GitHub: workflow runs) and their jobs."""

    async def list_pipelines(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalPipeline]: ...

    async def get_pipeline(self, repo: RepoRef, pipeline_id: str) -> ExternalPipeline: ...

    async def list_jobs(
        self, repo: RepoRef, pipeline_id: str, cursor: Cursor | None = None
    ) -> Page[ExternalJob]: ...

    async def rerun(
        self, repo: RepoRef, pipeline_id: str, *, failed_only: bool = False
    ) -> None: ...

    async def cancel(self, repo: RepoRef, pipeline_id: str) -> None: ...


@runtime_checkable
class GitForgeProvider(Protocol):
    """Repositories, pull requests, refs, commits, keys, collaborators, branch protection."""

    async def list_repositories(
        self, cursor: Cursor | None = None, *, owner: str | None = None, etag: str | None = None
    ) -> Page[ExternalRepository]: ...

    async def get_repository(self, repo: RepoRef) -> ExternalRepository: ...

    async def list_pull_requests(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalPullRequest]: ...

    async def get_pull_request(self, repo: RepoRef, number: int) -> ExternalPullRequest: ...

    async def create_pull_request(
        self, repo: RepoRef, request: PullRequestCreate
    ) -> ExternalPullRequest: ...

    async def update_pull_request(
        self, repo: RepoRef, number: int, patch: PullRequestPatch
    ) -> ExternalPullRequest: ...

    async def merge_pull_request(
        self, repo: RepoRef, number: int, options: MergeOptions | None = None
    ) -> ExternalPullRequest: ...

    async def list_refs(self, repo: RepoRef, cursor: Cursor | None = None) -> Page[ExternalRef]: ...

    async def get_commit(self, repo: RepoRef, sha: str) -> ExternalCommit: ...

    async def list_deploy_keys(
        self, repo: RepoRef, cursor: Cursor | None = None
    ) -> Page[ExternalDeployKey]: ...

    async def sync_deploy_keys(
        self, repo: RepoRef, desired: Sequence[DeployKeySpec]
    ) -> SyncResult: ...

    async def list_collaborators(
        self, repo: RepoRef, cursor: Cursor | None = None
    ) -> Page[ExternalCollaborator]: ...

    async def sync_branch_protection(
        self, repo: RepoRef, branch: str, desired: BranchProtectionSpec | None
    ) -> SyncResult: ...
