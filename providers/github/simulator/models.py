"""The simulator's in-memory objects. Plain mutable dataclasses: the state module owns them.

Every object that GitHub reports an `updated_at` for carries `version`, bumped on each change,
so serialized forms can be cached per version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class User:
    id: int
    login: str
    type: str = "User"  # "User", "Organization" or "Bot"
    site_admin: bool = False


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None = None
    default: bool = False


@dataclass
class Hook:
    """A repository webhook as GET /repos/{o}/{r}/hooks lists it (`config` holds url,
    content_type, insecure_ssl and the secret, which answers mask)."""

    id: int
    events: list[str]
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    active: bool = True
    name: str = "web"
    last_response: dict[str, Any] = field(
        default_factory=lambda: {"code": None, "status": "unused", "message": None}
    )


@dataclass
class Milestone:
    id: int
    number: int
    title: str
    creator: User
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    state: str = "open"
    due_on: datetime | None = None
    closed_at: datetime | None = None
    version: int = 0


@dataclass
class PullData:
    """The pull-request half of an issue that is a pull request."""

    id: int
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool = False
    merged_at: datetime | None = None
    merged_by: User | None = None
    merge_commit_sha: str | None = None
    review_comments: int = 0
    commits: int = 1
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0
    requested_reviewers: list[User] = field(default_factory=list)
    maintainer_can_modify: bool = False


@dataclass
class Issue:
    """An issue or, when `pull` is set, a pull request: they share one number sequence."""

    id: int
    number: int
    title: str
    user: User
    created_at: datetime
    updated_at: datetime
    body: str | None = None
    state: str = "open"
    state_reason: str | None = None
    labels: list[Label] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    milestone: Milestone | None = None
    locked: bool = False
    active_lock_reason: str | None = None
    comments: int = 0
    closed_at: datetime | None = None
    closed_by: User | None = None
    author_association: str = "MEMBER"
    pull: PullData | None = None
    version: int = 0


@dataclass
class IssueComment:
    id: int
    issue_number: int
    user: User
    body: str
    created_at: datetime
    updated_at: datetime
    author_association: str = "MEMBER"
    version: int = 0


@dataclass
class Review:
    id: int
    pull_number: int
    user: User
    body: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    submitted_at: datetime
    author_association: str = "MEMBER"


@dataclass
class ReviewComment:
    id: int
    pull_number: int
    review_id: int | None
    user: User
    body: str
    path: str
    diff_hunk: str
    commit_id: str
    line: int
    created_at: datetime
    updated_at: datetime
    in_reply_to_id: int | None = None
    author_association: str = "MEMBER"
    version: int = 0


@dataclass
class Step:
    number: int
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None


@dataclass
class Job:
    id: int
    run_id: int
    name: str
    status: str
    conclusion: str | None
    created_at: datetime
    started_at: datetime
    completed_at: datetime | None
    run_attempt: int = 1
    runner_id: int | None = None
    runner_name: str | None = None
    steps: list[Step] = field(default_factory=list)


@dataclass
class WorkflowRun:
    id: int
    name: str
    workflow_id: int
    path: str
    run_number: int
    event: str
    status: str  # queued, in_progress, completed, ...
    conclusion: str | None
    head_branch: str
    head_sha: str
    head_message: str
    display_title: str
    actor: User
    created_at: datetime
    updated_at: datetime
    run_started_at: datetime
    run_attempt: int = 1
    pull_numbers: list[int] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    version: int = 0


@dataclass
class Commit:
    sha: str
    message: str
    author: User
    date: datetime
    tree_sha: str
    parents: list[str] = field(default_factory=list)


@dataclass
class Branch:
    name: str
    sha: str
    protection: dict[str, Any] | None = None


@dataclass
class Tag:
    name: str
    sha: str


@dataclass
class DeployKey:
    id: int
    title: str
    key: str
    read_only: bool
    created_at: datetime
    added_by: str | None = None
    last_used: datetime | None = None


@dataclass
class Collaborator:
    user: User
    role_name: str  # admin, maintain, write, triage, read


@dataclass
class Team:
    """An organization team with access to a repository, at one of the roles above."""

    id: int
    slug: str
    name: str
    role_name: str
    description: str | None = None


@dataclass
class Installation:
    id: int
    account: User
    app_id: int
    repository_ids: list[int] | None = None  # None: all repositories of the account


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: User
    client_id: str
    public_key: tuple[int, int]  # RSA (n, e)
    created_at: datetime
    description: str | None = None
