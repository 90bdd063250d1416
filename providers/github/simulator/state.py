"""The simulator's world: users, repositories and everything in them, with per-repo indexes.

Reads go through `Repo.view`, which caches filtered and sorted lists per repository generation:
a backfill that walks 20,000 issues page by page sorts them once, not once per page. Every
mutation goes through `SimState`, bumps the object's `updated_at` and `version` and the
repository's generation, and tells the listeners (the webhook dispatcher) what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from providers.github.simulator.clock import Clock, system_clock
from providers.github.simulator.ids import IdAllocator, git_sha
from providers.github.simulator.models import (
    App,
    Branch,
    Collaborator,
    Commit,
    DeployKey,
    Hook,
    Installation,
    Issue,
    IssueComment,
    Job,
    Label,
    Milestone,
    PullData,
    Review,
    ReviewComment,
    Tag,
    Team,
    User,
    WorkflowRun,
)

T = TypeVar("T")
_MAX_VIEWS = 64


class NotFound(LookupError):
    """The object does not exist (the API answers 404)."""


class Invalid(ValueError):
    """The change is not allowed (the API answers 422 with these GitHub-shaped errors)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


@dataclass
class Repo:
    id: int
    name: str
    owner: User
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime
    description: str | None = None
    private: bool = False
    default_branch: str = "main"
    language: str | None = "Python"
    topics: list[str] = field(default_factory=list)
    issues: dict[int, Issue] = field(default_factory=dict)
    next_number: int = 1
    comments: dict[int, IssueComment] = field(default_factory=dict)
    comments_by_issue: dict[int, list[IssueComment]] = field(default_factory=dict)
    reviews_by_pull: dict[int, list[Review]] = field(default_factory=dict)
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)
    review_comments_by_pull: dict[int, list[ReviewComment]] = field(default_factory=dict)
    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    commit_order: list[Commit] = field(default_factory=list)  # oldest first
    branches: dict[str, Branch] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-cased name
    milestones: dict[int, Milestone] = field(default_factory=dict)
    keys: dict[int, DeployKey] = field(default_factory=dict)
    hooks: dict[int, Hook] = field(default_factory=dict)
    collaborators: dict[str, Collaborator] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)  # by slug
    generation: int = 0
    version: int = 0
    _views: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    _views_generation: int = -1

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def touch(self) -> None:
        """Invalidate cached views after any change inside the repository."""
        self.generation += 1

    def view(self, key: tuple[Any, ...], build: Callable[[], list[T]]) -> list[T]:
        """The list `build` returns, cached until the repository next changes."""
        if self._views_generation != self.generation:
            self._views.clear()
            self._views_generation = self.generation
        cached = self._views.get(key)
        if cached is None:
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            cached = self._views[key] = build()
        return cached

    def issue(self, number: int) -> Issue:
        found = self.issues.get(number)
        if found is None:
            raise NotFound(f"issue {number}")
        return found

    def pull(self, number: int) -> Issue:
        found = self.issues.get(number)
        if found is None or found.pull is None:
            raise NotFound(f"pull {number}")
        return found

    def run(self, run_id: int) -> WorkflowRun:
        found = self.runs.get(run_id)
        if found is None:
            raise NotFound(f"run {run_id}")
        return found

    def comment(self, comment_id: int) -> IssueComment:
        found = self.comments.get(comment_id)
        if found is None:
            raise NotFound(f"comment {comment_id}")
        return found

    def branch(self, name: str) -> Branch:
        found = self.branches.get(name)
        if found is None:
            raise NotFound(f"branch {name}")
        return found


@dataclass(frozen=True)
class Event:
    """Something a webhook would report: GitHub event name, action and the objects involved."""

    name: str
    action: str
    repo: Repo
    sender: User
    issue: Issue | None = None
    comment: IssueComment | None = None
    run: WorkflowRun | None = None
    label: Label | None = None
    assignee: User | None = None
    changes: dict[str, Any] | None = None


@dataclass
class Credential:
    """What a bearer token stands for: a user (PAT) or an installation (installation token)."""

    token: str
    user: User | None = None
    installation: Installation | None = None
    expires_at: datetime | None = None

    @property
    def bucket(self) -> str:
        """Rate-limit bucket: GitHub counts per user and per installation, not per token."""
        if self.installation is not None:
            return f"installation:{self.installation.id}"
        assert self.user is not None
        return f"user:{self.user.id}"


def _snapshot(issue: Issue) -> tuple[Any, ...]:
    return (
        issue.title,
        issue.body,
        issue.state,
        issue.state_reason,
        tuple(label.id for label in issue.labels),
        tuple(user.id for user in issue.assignees),
        issue.milestone.number if issue.milestone else None,
        issue.pull.base_ref if issue.pull else None,
    )


class SimState:
    """All simulated objects plus the mutations the API and the control API perform."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.ids = IdAllocator()
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}  # by lower-cased full name
        self.repos_by_id: dict[int, Repo] = {}
        # Former full names (lower-cased) of renamed repositories -> repository id: GitHub
        # keeps redirecting them until another repository takes the name.
        self.moved: dict[str, int] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.credentials: dict[str, Credential] = {}
        self.listeners: list[Callable[[Event], None]] = []

    # -- lookups --------------------------------------------------------------------------

    def user(self, login: str, kind: str = "User") -> User:
        """The user (or organization) called `login`, created on first use."""
        found = self.users.get(login.lower())
        if found is None:
            found = User(id=self.ids.next("org" if kind == "Organization" else "user"), login=login)
            found.type = kind
            self.users[login.lower()] = found
        return found

    def repo(self, owner: str, name: str) -> Repo:
        found = self.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise NotFound(f"{owner}/{name}")
        return found

    def repos_of(self, owner: str) -> list[Repo]:
        return [r for r in self.repos.values() if r.owner.login.lower() == owner.lower()]

    def installation_for(self, repo: Repo) -> Installation | None:
        for inst in self.installations.values():
            if inst.account.id == repo.owner.id and (
                inst.repository_ids is None or repo.id in inst.repository_ids
            ):
                return inst
        return None

    def installation_repos(self, inst: Installation) -> list[Repo]:
        repos = self.repos_of(inst.account.login)
        if inst.repository_ids is not None:
            allowed = set(inst.repository_ids)
            repos = [r for r in repos if r.id in allowed]
        return sorted(repos, key=lambda r: r.id)

    # -- creation used by the seed generator and the control API --------------------------

    def add_repo(self, owner: User, name: str, created_at: datetime, **fields: Any) -> Repo:
        repo = Repo(
            id=self.ids.next("repo"),
            name=name,
            owner=owner,
            created_at=created_at,
            updated_at=created_at,
            pushed_at=created_at,
            **fields,
        )
        self.repos[repo.full_name.lower()] = repo
        self.repos_by_id[repo.id] = repo
        self.moved.pop(repo.full_name.lower(), None)  # the name now belongs to this one
        return repo

    def add_commit(
        self, repo: Repo, message: str, author: User, date: datetime, parent: str | None
    ) -> Commit:
        sha = git_sha(repo.full_name, message, parent, date.isoformat())
        commit = Commit(
            sha=sha,
            message=message,
            author=author,
            date=date,
            tree_sha=git_sha("tree", sha),
            parents=[parent] if parent else [],
        )
        repo.commits[sha] = commit
        repo.commit_order.append(commit)
        return commit

    def ensure_label(self, repo: Repo, name: str, color: str = "ededed") -> Label:
        found = repo.labels.get(name.lower())
        if found is None:
            found = repo.labels[name.lower()] = Label(self.ids.next("label"), name, color)
        return found

    # -- mutation helpers -----------------------------------------------------------------

    def now_after(self, previous: datetime) -> datetime:
        # GitHub's timestamps have one-second resolution: two changes in one second share
        # their updated_at, and so do they here (never earlier than the last change, in case
        # the clock a test drives goes back).
        return max(self.clock(), previous)

    def rename_repo(self, repo: Repo, name: str, sender: User) -> Repo:
        """Rename `repo` as GitHub does: the old name redirects (`moved`) and a
        `repository.renamed` webhook says what it was called."""
        target = f"{repo.owner.login}/{name}".lower()
        if target in self.repos and self.repos[target] is not repo:
            raise ValueError(f"name already exists on this account: {name}")
        old_name, old_key = repo.name, repo.full_name.lower()
        del self.repos[old_key]
        repo.name = name
        self.repos[target] = repo
        self.moved.pop(target, None)
        if old_key != target:
            self.moved[old_key] = repo.id
        repo.updated_at = self.now_after(repo.updated_at)
        repo.touch()
        changes = {"repository": {"name": {"from": old_name}}}
        self._emit(Event("repository", "renamed", repo, sender, changes=changes))
        return repo

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def _changed(self, repo: Repo, issue: Issue, now: datetime | None = None) -> datetime:
        stamp = now or self.now_after(issue.updated_at)
        issue.updated_at = stamp
        issue.version += 1
        repo.touch()
        return stamp

    # -- issues and pull requests ---------------------------------------------------------

    def create_issue(
        self,
        repo: Repo,
        actor: User,
        title: str,
        body: str | None = None,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        milestone: int | None = None,
        pull: PullData | None = None,
    ) -> Issue:
        if not title or not title.strip():
            raise Invalid(
                "Validation Failed",
                [{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        now = self.now_after(repo.updated_at)
        issue = Issue(
            id=self.ids.next("issue"),
            number=repo.next_number,
            title=title,
            body=body,
            user=actor,
            created_at=now,
            updated_at=now,
            labels=[self.ensure_label(repo, n) for n in labels or []],
            assignees=[self.user(a) for a in assignees or []],
            milestone=self._milestone(repo, milestone),
            pull=pull,
        )
        repo.next_number += 1
        repo.issues[issue.number] = issue
        repo.updated_at = now
        repo.touch()
        kind = "pull_request" if pull else "issues"
        self._emit(Event(kind, "opened", repo, actor, issue=issue))
        return issue

    def _milestone(self, repo: Repo, number: int | None) -> Milestone | None:
        if number is None:
            return None
        found = repo.milestones.get(number)
        if found is None:
            raise Invalid(
                "Validation Failed",
                [
                    {
                        "value": number,
                        "resource": "Issue",
                        "field": "milestone",
                        "code": "invalid",
                    }
                ],
            )
        return found

    def create_pull(
        self,
        repo: Repo,
        actor: User,
        title: str,
        head: str,
        base: str,
        body: str | None = None,
        draft: bool = False,
    ) -> Issue:
        head_ref = head.split(":", 1)[-1]
        errors = []
        if head_ref not in repo.branches:
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if base not in repo.branches:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if errors:
            raise Invalid("Validation Failed", errors)
        if head_ref == base:
            raise Invalid(
                "Validation Failed",
                [{"resource": "PullRequest", "code": "custom", "message": "No commits between"}],
            )
        pull = PullData(
            id=self.ids.next("pull"),
            head_ref=head_ref,
            head_sha=repo.branches[head_ref].sha,
            base_ref=base,
            base_sha=repo.branches[base].sha,
            draft=draft,
        )
        return self.create_issue(repo, actor, title, body, pull=pull)

    def update_issue(self, repo: Repo, issue: Issue, actor: User, fields: dict[str, Any]) -> Issue:
        """Apply a PATCH body (title, body, state, state_reason, labels, assignees, milestone,
        base) and emit one event per kind of change, as GitHub does."""
        kind = "pull_request" if issue.pull else "issues"
        events: list[Event] = []
        changes: dict[str, Any] = {}
        before = _snapshot(issue)
        if "title" in fields and fields["title"] != issue.title:
            if not isinstance(fields["title"], str) or not fields["title"].strip():
                raise Invalid(
                    "Validation Failed",
                    [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                )
            changes["title"] = {"from": issue.title}
            issue.title = fields["title"]
        if "body" in fields and fields["body"] != issue.body:
            changes["body"] = {"from": issue.body or ""}
            issue.body = fields["body"]
        if issue.pull and "base" in fields and fields["base"] != issue.pull.base_ref:
            if fields["base"] not in repo.branches:
                raise Invalid(
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                )
            changes["base"] = {"ref": {"from": issue.pull.base_ref}, "sha": {"from": ""}}
            issue.pull.base_ref = fields["base"]
            issue.pull.base_sha = repo.branches[fields["base"]].sha
        if changes:
            events.append(Event(kind, "edited", repo, actor, issue=issue, changes=changes))
        if "milestone" in fields:
            issue.milestone = self._milestone(repo, fields["milestone"])
        if "labels" in fields and isinstance(fields["labels"], list):
            wanted = [
                self.ensure_label(repo, n if isinstance(n, str) else str(n.get("name")))
                for n in fields["labels"]
            ]
            events += self._set_labels(repo, issue, actor, wanted)
        if "assignees" in fields and isinstance(fields["assignees"], list):
            events += self._set_assignees(repo, issue, actor, [str(a) for a in fields["assignees"]])
        elif fields.get("assignee"):
            events += self._set_assignees(repo, issue, actor, [str(fields["assignee"])])
        if "state" in fields and fields["state"] not in ("open", "closed"):
            raise Invalid(
                "Validation Failed",
                [{"resource": "Issue", "field": "state", "code": "invalid"}],
            )
        now = self.now_after(issue.updated_at)
        state = fields.get("state")
        if state == "closed" and issue.state == "open":
            issue.state = "closed"
            issue.state_reason = None if issue.pull else fields.get("state_reason") or "completed"
            issue.closed_at = now
            issue.closed_by = actor
            events.append(Event(kind, "closed", repo, actor, issue=issue))
        elif state == "open" and issue.state == "closed":
            if issue.pull and issue.pull.merged_at:
                raise Invalid(
                    "Validation Failed",
                    [{"resource": "PullRequest", "code": "custom", "message": "merged"}],
                )
            issue.state = "open"
            issue.state_reason = None if issue.pull else "reopened"
            issue.closed_at = None
            issue.closed_by = None
            events.append(Event(kind, "reopened", repo, actor, issue=issue))
        if _snapshot(issue) == before:
            return issue  # a PATCH that changes nothing leaves updated_at (and the ETag) alone
        self._changed(repo, issue, now)
        for event in events:
            self._emit(event)
        return issue

    def _set_labels(
        self, repo: Repo, issue: Issue, actor: User, wanted: list[Label]
    ) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        old = {label.id for label in issue.labels}
        new = {label.id for label in wanted}
        events = [
            Event(kind, "unlabeled", repo, actor, issue=issue, label=label)
            for label in issue.labels
            if label.id not in new
        ]
        events += [
            Event(kind, "labeled", repo, actor, issue=issue, label=label)
            for label in wanted
            if label.id not in old
        ]
        issue.labels = list({label.id: label for label in wanted}.values())
        return events

    def _set_assignees(
        self, repo: Repo, issue: Issue, actor: User, logins: list[str]
    ) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        wanted = [self.user(login) for login in logins]
        old = {u.id for u in issue.assignees}
        new = {u.id for u in wanted}
        events = [
            Event(kind, "unassigned", repo, actor, issue=issue, assignee=u)
            for u in issue.assignees
            if u.id not in new
        ]
        events += [
            Event(kind, "assigned", repo, actor, issue=issue, assignee=u)
            for u in wanted
            if u.id not in old
        ]
        issue.assignees = list({u.id: u for u in wanted}.values())
        return events

    def add_labels(self, repo: Repo, issue: Issue, actor: User, names: list[str]) -> list[Label]:
        wanted = issue.labels + [self.ensure_label(repo, n) for n in names]
        events = self._set_labels(repo, issue, actor, wanted)
        self._changed(repo, issue)
        for event in events:
            self._emit(event)
        return issue.labels

    def remove_label(self, repo: Repo, issue: Issue, actor: User, name: str) -> list[Label]:
        wanted = [label for label in issue.labels if label.name.lower() != name.lower()]
        if len(wanted) == len(issue.labels):
            raise NotFound("Label does not exist")
        events = self._set_labels(repo, issue, actor, wanted)
        self._changed(repo, issue)
        for event in events:
            self._emit(event)
        return issue.labels

    def change_assignees(
        self, repo: Repo, issue: Issue, actor: User, logins: list[str], add: bool
    ) -> Issue:
        current = [u.login for u in issue.assignees]
        lowered = {login.lower() for login in logins}
        wanted = (
            current + [x for x in logins if x.lower() not in {c.lower() for c in current}]
            if add
            else [c for c in current if c.lower() not in lowered]
        )
        events = self._set_assignees(repo, issue, actor, wanted)
        self._changed(repo, issue)
        for event in events:
            self._emit(event)
        return issue

    def merge_pull(
        self, repo: Repo, issue: Issue, actor: User, sha: str | None, title: str | None
    ) -> str:
        pull = issue.pull
        assert pull is not None
        if issue.state != "open" or pull.merged_at is not None or pull.draft:
            raise Invalid("Pull Request is not mergeable")
        if sha and sha != pull.head_sha:
            raise ValueError("Head branch was modified. Review and try the merge again.")
        now = self.now_after(issue.updated_at)
        base = repo.branch(pull.base_ref)
        message = title or f"Merge pull request #{issue.number} from {pull.head_ref}"
        commit = self.add_commit(repo, message, actor, now, base.sha)
        base.sha = commit.sha
        pull.merged_at = now
        pull.merged_by = actor
        pull.merge_commit_sha = commit.sha
        issue.state = "closed"
        issue.closed_at = now
        issue.closed_by = actor
        repo.pushed_at = now
        self._changed(repo, issue, now)
        self._emit(Event("pull_request", "closed", repo, actor, issue=issue))
        return commit.sha

    # -- comments -------------------------------------------------------------------------

    def create_comment(self, repo: Repo, issue: Issue, actor: User, body: str) -> IssueComment:
        if not isinstance(body, str) or not body:
            raise Invalid(
                "Validation Failed",
                [{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        now = self.now_after(issue.updated_at)
        comment = IssueComment(self.ids.next("issue_comment"), issue.number, actor, body, now, now)
        self.insert_comment(repo, comment)
        issue.comments += 1
        self._changed(repo, issue, now)  # a new comment bumps the issue's updated_at on GitHub
        self._emit(Event("issue_comment", "created", repo, actor, issue=issue, comment=comment))
        return comment

    def insert_comment(self, repo: Repo, comment: IssueComment) -> None:
        repo.comments[comment.id] = comment
        repo.comments_by_issue.setdefault(comment.issue_number, []).append(comment)
        repo.touch()

    def update_comment(
        self, repo: Repo, comment: IssueComment, actor: User, body: str
    ) -> IssueComment:
        if not isinstance(body, str) or not body:
            raise Invalid(
                "Validation Failed",
                [{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        changes = {"body": {"from": comment.body}}
        comment.body = body
        comment.updated_at = self.now_after(comment.updated_at)
        comment.version += 1
        repo.touch()
        issue = repo.issue(comment.issue_number)
        self._emit(
            Event(
                "issue_comment",
                "edited",
                repo,
                actor,
                issue=issue,
                comment=comment,
                changes=changes,
            )
        )
        return comment

    def delete_comment(self, repo: Repo, comment: IssueComment, actor: User) -> None:
        del repo.comments[comment.id]
        repo.comments_by_issue[comment.issue_number].remove(comment)
        issue = repo.issue(comment.issue_number)
        issue.comments -= 1
        self._changed(repo, issue)
        self._emit(Event("issue_comment", "deleted", repo, actor, issue=issue, comment=comment))

    # -- actions --------------------------------------------------------------------------

    def rerun(self, repo: Repo, run: WorkflowRun, actor: User) -> None:
        now = self.now_after(run.updated_at)
        run.run_attempt += 1
        run.status = "queued"
        run.conclusion = None
        run.run_started_at = now
        run.updated_at = now
        for job in run.jobs:
            job.run_attempt = run.run_attempt
            job.status = "queued"
            job.conclusion = None
            job.started_at = now
            job.completed_at = None
            for step in job.steps:
                step.status, step.conclusion = "queued", None
                step.started_at = step.completed_at = None
        run.version += 1
        repo.touch()
        self._emit(Event("workflow_run", "requested", repo, actor, run=run))

    def cancel(self, repo: Repo, run: WorkflowRun, actor: User) -> None:
        if run.status == "completed":
            raise ValueError("Cannot cancel a workflow run that is completed.")
        self.finish_run(repo, run, actor, "cancelled")

    def finish_run(self, repo: Repo, run: WorkflowRun, actor: User, conclusion: str) -> None:
        now = self.now_after(run.updated_at)
        run.status = "completed"
        run.conclusion = conclusion
        run.updated_at = now
        for job in run.jobs:
            if job.status != "completed":
                job.status, job.conclusion, job.completed_at = "completed", conclusion, now
            for step in job.steps:
                if step.status != "completed":
                    step.status, step.conclusion, step.completed_at = "completed", conclusion, now
        run.version += 1
        repo.touch()
        self._emit(Event("workflow_run", "completed", repo, actor, run=run))

    # -- repository administration --------------------------------------------------------

    def add_key(self, repo: Repo, actor: User, title: str, key: str, read_only: bool) -> DeployKey:
        parts = key.split() if isinstance(key, str) else []
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise Invalid(
                "Validation Failed",
                [
                    {
                        "resource": "PublicKey",
                        "code": "custom",
                        "field": "key",
                        "message": "key is invalid. You must supply a key in OpenSSH public key format",
                    }
                ],
            )
        normalized = " ".join(parts[:2])
        if any(k.key == normalized for k in repo.keys.values()):
            raise Invalid(
                "Validation Failed",
                [
                    {
                        "resource": "PublicKey",
                        "code": "custom",
                        "field": "key",
                        "message": "key is already in use",
                    }
                ],
            )
        deploy_key = DeployKey(
            id=self.ids.next("key"),
            title=title or (parts[2] if len(parts) > 2 else ""),
            key=normalized,
            read_only=read_only,
            created_at=self.clock(),
            added_by=actor.login,
        )
        repo.keys[deploy_key.id] = deploy_key
        repo.touch()
        return deploy_key

    def add_hook(
        self, repo: Repo, config: dict[str, Any], events: list[str], active: bool = True
    ) -> Hook:
        if not isinstance(config.get("url"), str) or not config["url"]:
            raise Invalid(
                "Validation Failed",
                [{"resource": "Hook", "code": "custom", "message": "Config must include url."}],
            )
        now = self.clock()
        hook = Hook(
            id=self.ids.next("hook"),
            # GitHub's defaults: form bodies, TLS verified.
            config={"content_type": "form", "insecure_ssl": "0", **config},
            events=events or ["push"],
            active=active,
            created_at=now,
            updated_at=now,
        )
        repo.hooks[hook.id] = hook
        repo.touch()
        return hook

    def delete_hook(self, repo: Repo, hook_id: int) -> None:
        if repo.hooks.pop(hook_id, None) is None:
            raise NotFound(f"hook {hook_id}")
        repo.touch()

    def delete_key(self, repo: Repo, key_id: int) -> None:
        if repo.keys.pop(key_id, None) is None:
            raise NotFound(f"key {key_id}")
        repo.touch()

    def set_protection(self, repo: Repo, branch: Branch, body: dict[str, Any]) -> None:
        required = (
            "required_status_checks",
            "enforce_admins",
            "required_pull_request_reviews",
            "restrictions",
        )
        missing = [name for name in required if name not in body]
        if missing:
            raise Invalid(
                "Invalid request.\n\n"
                + "\n".join(f'"{name}" wasn\'t supplied.' for name in missing)
            )
        branch.protection = body
        repo.touch()

    def delete_protection(self, repo: Repo, branch: Branch) -> None:
        if branch.protection is None:
            raise NotFound("Branch not protected")
        branch.protection = None
        repo.touch()

    def add_collaborator(self, repo: Repo, login: str, role: str) -> Collaborator:
        collaborator = Collaborator(self.user(login), role)
        repo.collaborators[login.lower()] = collaborator
        repo.touch()
        return collaborator
