"""Projections: Krate's copy of provider objects, one table per object type.

Every projection carries the common external envelope (external-object-mapping.md) as columns,
plus what the sync needs to stay correct:

- `external_updated_at` is the provider's version: upserts never replace a row with an older one
  (see store/upsert.py), so the order webhooks arrive in does not matter.
- `base_snapshot` is the last external snapshot both sides agreed on: the base of three-way
  conflict detection (base vs local vs external).
- `local_generation` counts Krate-side edits; `local_changes` holds the edited values not yet
  written to the provider; `conflict_ref` names an open ExternalSyncConflict.
- `deleted_at` is a tombstone: objects the provider no longer has are marked, never dropped.
- `synced_at` is when a sync last saw the object (full resyncs tombstone what they did not see).

`identity` names the columns that make one row per provider object; it is the unique constraint
the upsert's ON CONFLICT targets. Everything repository-scoped names its repository by the
provider's path ("owner/name", a GitLab group path, a Jira project key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Index, Table, UniqueConstraint, text
from sqlmodel import Field

from store.models.base import (
    StoreModel,
    bigint_id,
    jsonb_array,
    jsonb_object,
    jsonb_optional,
    timestamp,
    timestamp_now,
)


class Projection(StoreModel):
    """The external envelope and sync bookkeeping (an abstract base: no table of its own)."""

    identity: ClassVar[tuple[str, ...]]

    id: int | None = bigint_id()
    org: str
    provider_ref: str
    binding_ref: str | None = None
    interface: str
    native_kind: str | None = None
    native_id: str | None = None
    native_number: int | None = Field(default=None, sa_type=BigInteger)
    node_id: str | None = None
    url: str | None = None
    api_url: str | None = None
    etag: str | None = None
    external_updated_at: datetime | None = timestamp()
    sha: str | None = None
    # {providerType, schemaVersion, fields}: provider fields with no column of their own.
    extensions: dict[str, Any] = jsonb_object()
    base_snapshot: dict[str, Any] | None = jsonb_optional()
    local_generation: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # column -> pending Krate-side value not yet written to the provider (store/conflicts.py).
    local_changes: dict[str, Any] = jsonb_object()
    conflict_ref: str | None = None
    synced_at: datetime | None = timestamp_now()
    # Set when a same-version row with other content arrived: a fresh read of this one object
    # decides (store/upsert.py); cleared by the write that settles it.
    refresh_wanted_at: datetime | None = timestamp()
    deleted_at: datetime | None = timestamp()
    recorded_at: datetime | None = timestamp_now()


def flag(default: bool) -> Any:
    """A NOT NULL boolean column with a server default."""
    return Field(default=default, sa_column_kwargs={"server_default": text(str(default).lower())})


def projection_table(model: type[Projection]) -> Table:
    """The table of a projection model (SQLModel sets `__table__` on table models)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def identity_constraint(table: str, *columns: str) -> UniqueConstraint:
    """The unique key that makes one row per provider object (the upsert's conflict target)."""
    return UniqueConstraint(*columns, name=f"uq_{table}_identity")


def scan_indexes(table: str) -> tuple[Index, Index]:
    """The indexes of the two sweeps over a binding's rows.

    A full resync's tombstone pass walks one scope by when each row was last seen; the refresh
    round looks for the few rows waiting for a fresh read.
    """
    return (
        Index(f"ix_{table}_tombstone_scan", "org", "provider_ref", "synced_at"),
        Index(
            f"ix_{table}_refresh_wanted",
            "org",
            "provider_ref",
            "binding_ref",
            postgresql_where=text("refresh_wanted_at IS NOT NULL"),
        ),
    )


class Repository(Projection, table=True):
    __tablename__ = "repositories"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "native_id")
    __table_args__ = (
        identity_constraint("repositories", *identity),
        Index(None, "org", "provider_ref", "full_name"),
        *scan_indexes("repositories"),
    )

    native_id: str
    owner: str
    name: str
    full_name: str
    description: str | None = None
    visibility: str | None = None
    default_branch: str | None = None
    archived: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # Krate's phase beside the native flags: Active, Archived or Disabled.
    phase: str | None = None
    clone_urls: dict[str, str] = jsonb_object()


class Issue(Projection, table=True):
    __tablename__ = "issues"
    # By number, not native id: GitHub gives one pull request two ids (issue and PR), and a
    # number names one object whichever endpoint reported it.
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "number")
    __table_args__ = (
        identity_constraint("issues", *identity),
        Index(None, "org", "provider_ref", "repository", "state"),
        *scan_indexes("issues"),
    )

    repository: str
    number: int = Field(sa_type=BigInteger)
    title: str
    # The body as rich text: markdown, source format, source digest, render warnings.
    body: str | None = None
    body_format: str | None = None
    body_source_digest: str | None = None
    body_render_warnings: list[str] = jsonb_array()
    state: str
    phase: str | None = None  # Krate's phase beside the native state: Open or Closed
    labels: list[str] = jsonb_array()
    assignees: list[str] = jsonb_array()
    milestone: str | None = None
    created_at: datetime | None = timestamp()
    closed_at: datetime | None = timestamp()


class PullRequest(Projection, table=True):
    __tablename__ = "pull_requests"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "number")
    __table_args__ = (
        identity_constraint("pull_requests", *identity),
        Index(None, "org", "provider_ref", "repository", "state"),
        Index(None, "head_sha"),
        *scan_indexes("pull_requests"),
    )

    repository: str
    number: int = Field(sa_type=BigInteger)
    title: str
    body: str | None = None
    body_format: str | None = None
    body_source_digest: str | None = None
    body_render_warnings: list[str] = jsonb_array()
    state: str
    phase: str | None = None  # Open, Draft, Merged or Closed
    head: str | None = None
    base: str | None = None
    head_sha: str | None = None
    merge_state: str | None = None
    merged: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    draft: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    labels: list[str] = jsonb_array()
    assignees: list[str] = jsonb_array()
    created_at: datetime | None = timestamp()
    closed_at: datetime | None = timestamp()
    merged_at: datetime | None = timestamp()


class Review(Projection, table=True):
    __tablename__ = "reviews"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "native_id")
    __table_args__ = (
        identity_constraint("reviews", *identity),
        Index(None, "org", "provider_ref", "repository", "pull_number"),
        *scan_indexes("reviews"),
    )

    native_id: str
    repository: str
    pull_number: int = Field(sa_type=BigInteger)
    state: str
    author: str | None = None
    body: str | None = None
    body_format: str | None = None
    body_source_digest: str | None = None
    body_render_warnings: list[str] = jsonb_array()
    commit_sha: str | None = None
    submitted_at: datetime | None = timestamp()


class Comment(Projection, table=True):
    """Issue, pull request, review and commit comments in one table.

    Providers number each comment type separately (GitHub issue comments and review comments
    are different id spaces), so the native kind is part of the identity.
    """

    __tablename__ = "comments"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "native_kind", "native_id")
    __table_args__ = (
        identity_constraint("comments", *identity),
        Index(
            "ix_comments_parent",
            "org",
            "provider_ref",
            "repository",
            "parent_kind",
            "parent_number",
        ),
        *scan_indexes("comments"),
    )

    native_kind: str
    native_id: str
    repository: str
    parent_kind: str
    parent_number: int | None = Field(default=None, sa_type=BigInteger)
    body: str | None = None
    body_format: str | None = None
    body_source_digest: str | None = None
    body_render_warnings: list[str] = jsonb_array()
    author: str | None = None
    path: str | None = None
    line: int | None = None
    created_at: datetime | None = timestamp()


class Pipeline(Projection, table=True):
    __tablename__ = "pipelines"
    # Some CI systems number runs per project, so the repository is part of the identity.
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "native_id")
    __table_args__ = (
        identity_constraint("pipelines", *identity),
        Index(None, "org", "provider_ref", "repository", "sha"),
        *scan_indexes("pipelines"),
    )

    native_id: str
    repository: str
    workflow: str | None = None
    ref: str | None = None
    status: str | None = None
    conclusion: str | None = None
    # Pending, Running, Succeeded, Failed, Cancelled or Skipped (from status and conclusion).
    phase: str | None = None
    run_number: int | None = Field(default=None, sa_type=BigInteger)
    started_at: datetime | None = timestamp()
    completed_at: datetime | None = timestamp()


class Job(Projection, table=True):
    __tablename__ = "jobs"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "native_id")
    __table_args__ = (
        identity_constraint("jobs", *identity),
        Index(None, "org", "provider_ref", "repository", "pipeline_native_id"),
        *scan_indexes("jobs"),
    )

    native_id: str
    repository: str
    pipeline_native_id: str
    name: str
    status: str | None = None
    conclusion: str | None = None
    phase: str | None = None
    started_at: datetime | None = timestamp()
    completed_at: datetime | None = timestamp()


class GitRef(Projection, table=True):
    """A branch or tag; the envelope's `sha` is what it points at."""

    __tablename__ = "git_refs"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "kind", "name")
    __table_args__ = (identity_constraint("git_refs", *identity), *scan_indexes("git_refs"))

    repository: str
    kind: str  # branch | tag
    name: str


class Commit(Projection, table=True):
    """A commit; the envelope's `sha` is its identity."""

    __tablename__ = "commits"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "sha")
    __table_args__ = (identity_constraint("commits", *identity), *scan_indexes("commits"))

    repository: str
    sha: str
    message: str | None = None
    author: str | None = None
    authored_at: datetime | None = timestamp()
    parents: list[str] = jsonb_array()


class DeployKey(Projection, table=True):
    __tablename__ = "deploy_keys"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "native_id")
    __table_args__ = (
        identity_constraint("deploy_keys", *identity),
        *scan_indexes("deploy_keys"),
    )

    native_id: str
    repository: str
    title: str | None = None
    key: str
    read_only: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class RepositoryPermission(Projection, table=True):
    """A collaborator's or team's permission on a repository."""

    __tablename__ = "repository_permissions"
    identity: ClassVar[tuple[str, ...]] = (
        "org",
        "provider_ref",
        "repository",
        "principal_kind",
        "principal",
    )
    __table_args__ = (
        identity_constraint("repository_permissions", *identity),
        *scan_indexes("repository_permissions"),
    )

    repository: str
    principal_kind: str  # user | team
    principal: str
    permission: str


class BranchProtection(Projection, table=True):
    __tablename__ = "branch_protections"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "pattern")
    __table_args__ = (
        identity_constraint("branch_protections", *identity),
        *scan_indexes("branch_protections"),
    )

    repository: str
    pattern: str
    settings: dict[str, Any] = jsonb_object()


class RefPolicy(Projection, table=True):
    """What a branch protection asks of the refs its pattern matches, in Krate's terms (the
    fields forges share); derived from the BranchProtection row of the same pattern."""

    __tablename__ = "ref_policies"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "pattern")
    __table_args__ = (
        identity_constraint("ref_policies", *identity),
        *scan_indexes("ref_policies"),
    )

    repository: str
    pattern: str
    ref_kind: str = "branch"
    required_approvals: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    require_code_owner_review: bool = flag(False)
    dismiss_stale_reviews: bool = flag(False)
    require_last_push_approval: bool = flag(False)
    required_checks: list[str] = jsonb_array()
    require_up_to_date: bool = flag(False)
    enforce_admins: bool = flag(False)
    allow_force_push: bool = flag(False)
    allow_deletion: bool = flag(False)
    require_linear_history: bool = flag(False)
    require_conversation_resolution: bool = flag(False)
    # Who may push (logins, team:slug, app:slug); NULL when anyone with write access may.
    push_allowed: list[str] | None = jsonb_optional()


class Label(Projection, table=True):
    """A repository's label. By native id: a renamed label is the same label."""

    __tablename__ = "labels"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "native_id")
    __table_args__ = (
        identity_constraint("labels", *identity),
        Index(None, "org", "provider_ref", "repository", "name"),
        *scan_indexes("labels"),
    )

    native_id: str
    repository: str
    name: str
    color: str | None = None
    description: str | None = None
    is_default: bool = flag(False)


class WebhookSubscription(Projection, table=True):
    """A webhook the provider delivers from a repository (the secret is never stored)."""

    __tablename__ = "webhook_subscriptions"
    identity: ClassVar[tuple[str, ...]] = ("org", "provider_ref", "repository", "native_id")
    __table_args__ = (
        identity_constraint("webhook_subscriptions", *identity),
        *scan_indexes("webhook_subscriptions"),
    )

    native_id: str
    repository: str
    name: str | None = None
    active: bool = flag(True)
    events: list[str] = jsonb_array()
    target_url: str | None = None
    content_type: str | None = None
    insecure_ssl: bool = flag(False)
    secret_set: bool = flag(False)
    created_at: datetime | None = timestamp()


PROJECTION_TABLES: tuple[type[Projection], ...] = (
    Repository,
    Issue,
    PullRequest,
    Review,
    Comment,
    Pipeline,
    Job,
    GitRef,
    Commit,
    DeployKey,
    RepositoryPermission,
    BranchProtection,
    RefPolicy,
    Label,
    WebhookSubscription,
)
