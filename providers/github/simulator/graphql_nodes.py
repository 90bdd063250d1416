"""The simulator's objects as GraphQL objects: lazy wrappers resolved by graphql-core's default
resolver (an attribute, or a method called with the field's arguments).

Ids, urls and timestamps are the very strings the REST serializers produce, so a GraphQL read
and a REST read of one object agree. Connections page by opaque cursors; the repository-wide
issue and pull request connections use keyset cursors (sort key + number, like GitHub's v2
cursors), so an object updated while a client pages moves without shifting the others.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from graphql import GraphQLError

from providers.github.simulator.clock import iso, parse_iso
from providers.github.simulator.ids import NODE_PREFIX, node_id
from providers.github.simulator.models import (
    Issue,
    Job,
    Label,
    Milestone,
    Review,
    User,
    WorkflowRun,
)
from providers.github.simulator.models import Step as JobStep
from providers.github.simulator.state import Credential, Repo, SimState

REACTIONS = (
    "THUMBS_UP",
    "THUMBS_DOWN",
    "LAUGH",
    "HOORAY",
    "CONFUSED",
    "HEART",
    "ROCKET",
    "EYES",
)
LOCK_REASONS = {
    "off-topic": "OFF_TOPIC",
    "too heated": "TOO_HEATED",
    "resolved": "RESOLVED",
    "spam": "SPAM",
}


def not_found(message: str) -> GraphQLError:
    """GitHub's NOT_FOUND error (its `type` is lifted to the top level when answering)."""
    return GraphQLError(message, extensions={"type": "NOT_FOUND"})


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


# ------------------------------------------------------------------------------- connections


def _encode(value: Any) -> str:
    raw = "cursor:v2:" + json.dumps(value, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _decode(cursor: str) -> Any:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raw = ""
    if not raw.startswith("cursor:v2:"):
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.")
    try:
        return json.loads(raw.removeprefix("cursor:v2:"))
    except ValueError:
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.") from None


@dataclass
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


@dataclass
class Connection:
    nodes: list[Any]
    pageInfo: PageInfo
    totalCount: int


def offset_connection(
    items: Sequence[Any], wrap: Callable[[Any], Any], first: int | None, after: str | None
) -> Connection:
    """A short list paged by position (labels, assignees, reviews of one pull request...)."""
    start = 0
    if after is not None:
        found = _decode(after)
        if not isinstance(found, int):
            raise GraphQLError(f"`{after}` does not appear to be a valid cursor.")
        start = found + 1
    count = len(items) if first is None else first
    chosen = items[start : start + count]
    return Connection(
        nodes=[wrap(item) for item in chosen],
        pageInfo=PageInfo(
            hasNextPage=start + len(chosen) < len(items),
            hasPreviousPage=start > 0,
            startCursor=_encode(start) if chosen else None,
            endCursor=_encode(start + len(chosen) - 1) if chosen else None,
        ),
        totalCount=len(items),
    )


def keyset_connection(
    items: Sequence[Any],
    keys: Sequence[tuple[float, int]],
    wrap: Callable[[Any], Any],
    first: int | None,
    after: str | None,
) -> Connection:
    """A long sorted list paged by the sort key of the last item served (ascending `keys`)."""
    start = 0
    if after is not None:
        found = _decode(after)
        if not (isinstance(found, list) and len(found) == 2):
            raise GraphQLError(f"`{after}` does not appear to be a valid cursor.")
        start = bisect.bisect_right(keys, (float(found[0]), int(found[1])))
    count = len(items) if first is None else first
    chosen = range(start, min(len(items), start + count))
    return Connection(
        nodes=[wrap(items[i]) for i in chosen],
        pageInfo=PageInfo(
            hasNextPage=chosen.stop < len(items),
            hasPreviousPage=start > 0,
            startCursor=_encode(list(keys[chosen.start])) if chosen else None,
            endCursor=_encode(list(keys[chosen.stop - 1])) if chosen else None,
        ),
        totalCount=len(items),
    )


# ------------------------------------------------------------------------------------ nodes


@dataclass
class Ctx:
    """What every node needs: the world, the base URL and who is asking."""

    state: SimState
    base: str
    credential: Credential | None

    def visible(self, repo: Repo) -> bool:
        inst = self.credential.installation if self.credential else None
        return inst is None or repo in self.state.installation_repos(inst)


class UserNode:
    def __init__(self, ctx: Ctx, user: User) -> None:
        self._user = user
        self.__typename = {"Organization": "Organization", "Bot": "Bot"}.get(user.type, "User")
        self.id = node_id("org" if user.type == "Organization" else "user", user.id)
        self.databaseId = user.id
        self.login = user.login
        self.url = f"{ctx.base}/{user.login}"


def _user(ctx: Ctx, user: User | None) -> UserNode | None:
    return None if user is None else UserNode(ctx, user)


class LabelNode:
    __typename = "Label"

    def __init__(self, ctx: Ctx, repo: Repo, label: Label) -> None:
        self.id = node_id("label", label.id)
        self.name = label.name
        self.color = label.color
        self.description = label.description
        self.isDefault = label.default
        self.url = f"{ctx.base}/{repo.full_name}/labels/{quote(label.name)}"


class MilestoneNode:
    __typename = "Milestone"

    def __init__(self, ctx: Ctx, repo: Repo, ms: Milestone) -> None:
        self._ctx, self._ms = ctx, ms
        self.id = node_id("milestone", ms.id)
        self.number = ms.number
        self.title = ms.title
        self.description = ms.description
        self.state = ms.state.upper()
        self.closed = ms.state == "closed"
        self.closedAt = iso(ms.closed_at)
        self.createdAt = iso(ms.created_at)
        self.updatedAt = iso(ms.updated_at)
        self.dueOn = iso(ms.due_on)
        self.url = f"{ctx.base}/{repo.full_name}/milestone/{ms.number}"

    @property
    def creator(self) -> UserNode:
        return UserNode(self._ctx, self._ms.creator)


class CommitNode:
    __typename = "Commit"

    def __init__(self, sha: str) -> None:
        self.id = node_id("commit", int(sha[:12], 16))
        self.oid = sha


class _Reactions:
    totalCount = 0


class ReactionGroupNode:
    def __init__(self, content: str) -> None:
        self.content = content

    def reactors(self, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return _Reactions()


class _Count:
    def __init__(self, total: int) -> None:
        self.totalCount = total


class _IssueLike:
    """The fields issues and pull requests share."""

    def __init__(self, ctx: Ctx, repo: Repo, issue: Issue) -> None:
        self._ctx, self._repo, self._issue = ctx, repo, issue
        self.number = issue.number
        self.title = issue.title
        self.body = issue.body or ""
        self.locked = issue.locked
        self.activeLockReason = LOCK_REASONS.get(issue.active_lock_reason or "")
        self.authorAssociation = issue.author_association
        self.createdAt = iso(issue.created_at)
        self.updatedAt = iso(issue.updated_at)
        self.closedAt = iso(issue.closed_at)
        self.closed = issue.state == "closed"

    @property
    def author(self) -> UserNode:
        return UserNode(self._ctx, self._issue.user)

    @property
    def repository(self) -> RepositoryNode:
        return RepositoryNode(self._ctx, self._repo)

    @property
    def milestone(self) -> MilestoneNode | None:
        ms = self._issue.milestone
        return None if ms is None else MilestoneNode(self._ctx, self._repo, ms)

    def labels(self, info: Any, first: int | None = None, after: str | None = None) -> Connection:
        return offset_connection(
            self._issue.labels, lambda lb: LabelNode(self._ctx, self._repo, lb), first, after
        )

    def assignees(
        self, info: Any, first: int | None = None, after: str | None = None
    ) -> Connection:
        return offset_connection(
            self._issue.assignees, lambda u: UserNode(self._ctx, u), first, after
        )


class IssueNode(_IssueLike):
    __typename = "Issue"

    def __init__(self, ctx: Ctx, repo: Repo, issue: Issue) -> None:
        super().__init__(ctx, repo, issue)
        self.id = node_id("issue", issue.id)
        self.databaseId = issue.id
        self.fullDatabaseId = str(issue.id)
        self.state = issue.state.upper()
        self.url = f"{ctx.base}/{repo.full_name}/issues/{issue.number}"
        self.reactionGroups = [ReactionGroupNode(c) for c in REACTIONS]

    def stateReason(self, info: Any, enableDuplicate: bool = False) -> str | None:
        reason = self._issue.state_reason
        if reason == "duplicate" and not enableDuplicate:
            reason = "not_planned"
        return _upper(reason)

    def comments(self, info: Any, first: int | None = None, after: str | None = None) -> _Count:
        return _Count(self._issue.comments)


class ReviewRequestNode:
    __typename = "ReviewRequest"

    def __init__(self, ctx: Ctx, issue: Issue, user: User) -> None:
        self.id = node_id("review_request", issue.id * 1000 + user.id % 1000)
        self.asCodeOwner = False
        self.requestedReviewer = UserNode(ctx, user)


class PullRequestReviewNode:
    __typename = "PullRequestReview"

    def __init__(self, ctx: Ctx, repo: Repo, review: Review) -> None:
        self._ctx, self._repo, self._review = ctx, repo, review
        self.id = node_id("review", review.id)
        self.fullDatabaseId = str(review.id)
        self.authorAssociation = review.author_association
        self.body = review.body
        self.state = review.state
        self.submittedAt = iso(review.submitted_at)
        self.createdAt = self.submittedAt
        self.updatedAt = self.submittedAt
        self.url = (
            f"{ctx.base}/{repo.full_name}/pull/{review.pull_number}#pullrequestreview-{review.id}"
        )
        self.commit = CommitNode(review.commit_id)

    @property
    def author(self) -> UserNode:
        return UserNode(self._ctx, self._review.user)

    @property
    def pullRequest(self) -> PullRequestNode:
        return PullRequestNode(self._ctx, self._repo, self._repo.pull(self._review.pull_number))


class PullRequestNode(_IssueLike):
    __typename = "PullRequest"

    def __init__(self, ctx: Ctx, repo: Repo, issue: Issue) -> None:
        super().__init__(ctx, repo, issue)
        pull = issue.pull
        assert pull is not None
        self._pull = pull
        self.id = node_id("pull", pull.id)
        self.fullDatabaseId = str(pull.id)
        self.merged = pull.merged_at is not None
        self.mergedAt = iso(pull.merged_at)
        self.state = "MERGED" if self.merged else issue.state.upper()
        self.isDraft = pull.draft
        self.headRefName = pull.head_ref
        self.headRefOid = pull.head_sha
        self.baseRefName = pull.base_ref
        self.baseRefOid = pull.base_sha
        self.maintainerCanModify = pull.maintainer_can_modify
        self.mergeCommit = CommitNode(pull.merge_commit_sha) if pull.merge_commit_sha else None
        self.autoMergeRequest = None
        self.url = f"{ctx.base}/{repo.full_name}/pull/{issue.number}"

    @property
    def headRepository(self) -> RepositoryNode:
        return RepositoryNode(self._ctx, self._repo)

    @property
    def mergedBy(self) -> UserNode | None:
        return _user(self._ctx, self._pull.merged_by)

    def reviewRequests(
        self, info: Any, first: int | None = None, after: str | None = None
    ) -> Connection:
        return offset_connection(
            self._pull.requested_reviewers,
            lambda u: ReviewRequestNode(self._ctx, self._issue, u),
            first,
            after,
        )

    def reviews(
        self,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        states: list[str] | None = None,
    ) -> Connection:
        found = self._repo.reviews_by_pull.get(self._issue.number, [])
        if states:
            found = [r for r in found if r.state in states]
        return offset_connection(
            found, lambda r: PullRequestReviewNode(self._ctx, self._repo, r), first, after
        )


class CheckStepNode:
    def __init__(self, step: JobStep) -> None:
        self.name = step.name
        self.number = step.number
        self.conclusion = _upper(step.conclusion)
        self.startedAt = iso(step.started_at)
        self.completedAt = iso(step.completed_at)
        self.secondsToCompletion = (
            int((step.completed_at - step.started_at).total_seconds())
            if step.started_at and step.completed_at
            else None
        )


class CheckRunNode:
    __typename = "CheckRun"

    def __init__(self, ctx: Ctx, repo: Repo, run: WorkflowRun, job: Job) -> None:
        self._ctx, self._repo, self._run, self._job = ctx, repo, run, job
        self.id = node_id("job", job.id)
        self.databaseId = job.id
        self.name = job.name
        self.status = job.status.upper()
        self.conclusion = _upper(job.conclusion)
        self.startedAt = iso(job.started_at)
        self.completedAt = iso(job.completed_at)
        # Actions check runs link to the job's page; the check run's own page is /runs/{id}.
        self.detailsUrl = f"{ctx.base}/{repo.full_name}/actions/runs/{run.id}/job/{job.id}"
        self.url = f"{ctx.base}/{repo.full_name}/runs/{job.id}"

    @property
    def checkSuite(self) -> CheckSuiteNode:
        return CheckSuiteNode(self._ctx, self._repo, self._run)

    def steps(self, info: Any, first: int | None = None, after: str | None = None) -> Connection:
        return offset_connection(self._job.steps, CheckStepNode, first, after)


CHECK_SUITE_OFFSET = 5_000_000_000  # the REST serializer's check_suite_id = run id + this


class CheckSuiteNode:
    __typename = "CheckSuite"

    def __init__(self, ctx: Ctx, repo: Repo, run: WorkflowRun) -> None:
        self._ctx, self._repo, self._run = ctx, repo, run
        self.databaseId = run.id + CHECK_SUITE_OFFSET
        self.id = node_id("check_suite", self.databaseId)
        self.status = run.status.upper()
        self.conclusion = _upper(run.conclusion)
        self.commit = CommitNode(run.head_sha)

    @property
    def workflowRun(self) -> WorkflowRunNode:
        return WorkflowRunNode(self._ctx, self._repo, self._run)

    def checkRuns(
        self,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        filterBy: dict[str, Any] | None = None,
    ) -> Connection:
        # Re-runs reset the jobs in place here, so LATEST and ALL list the same check runs.
        jobs = list(self._run.jobs)
        name = (filterBy or {}).get("checkName")
        if name is not None:
            jobs = [j for j in jobs if j.name == name]
        return offset_connection(
            jobs, lambda j: CheckRunNode(self._ctx, self._repo, self._run, j), first, after
        )


class WorkflowNode:
    __typename = "Workflow"

    def __init__(self, run: WorkflowRun) -> None:
        self.id = node_id("workflow", run.workflow_id)
        self.databaseId = run.workflow_id
        self.name = run.name


class WorkflowRunNode:
    __typename = "WorkflowRun"

    def __init__(self, ctx: Ctx, repo: Repo, run: WorkflowRun) -> None:
        self._ctx, self._repo, self._run = ctx, repo, run
        self.id = node_id("run", run.id)
        self.databaseId = run.id
        self.runNumber = run.run_number
        self.event = run.event
        self.createdAt = iso(run.created_at)
        self.updatedAt = iso(run.updated_at)
        self.url = f"{ctx.base}/{repo.full_name}/actions/runs/{run.id}"
        self.workflow = WorkflowNode(run)

    @property
    def checkSuite(self) -> CheckSuiteNode:
        return CheckSuiteNode(self._ctx, self._repo, self._run)


ISSUE_ORDER = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "COMMENTS": "comments"}


def _sort_value(issue: Issue, field: str) -> float:
    value = getattr(issue, field)
    return value.timestamp() if isinstance(value, datetime) else float(value)


class RepositoryNode:
    __typename = "Repository"

    def __init__(self, ctx: Ctx, repo: Repo) -> None:
        self._ctx, self._repo = ctx, repo
        self.id = node_id("repo", repo.id)
        self.databaseId = repo.id
        self.name = repo.name
        self.nameWithOwner = repo.full_name
        self.isPrivate = repo.private
        self.url = f"{ctx.base}/{repo.full_name}"
        self.createdAt = iso(repo.created_at)
        self.updatedAt = iso(repo.updated_at)

    @property
    def owner(self) -> UserNode:
        return UserNode(self._ctx, self._repo.owner)

    def _sorted(
        self, pulls: bool, order: dict[str, Any] | None
    ) -> tuple[list[Issue], list[tuple[float, int]]]:
        """Issues (or pull requests) in the requested order with their ascending sort keys;
        cached per repository generation, like the REST listings."""
        # GitHub's default order for these connections: oldest created first.
        field = ISSUE_ORDER[(order or {}).get("field", "CREATED_AT")]
        descending = (order or {}).get("direction", "ASC") == "DESC"
        sign = -1 if descending else 1

        def build() -> list[tuple[list[Issue], list[tuple[float, int]]]]:
            kept = [i for i in self._repo.issues.values() if (i.pull is not None) == pulls]
            keyed = sorted(((sign * _sort_value(i, field), sign * i.number), i) for i in kept)
            return [([i for _, i in keyed], [k for k, _ in keyed])]

        return self._repo.view(("graphql", pulls, field, descending), build)[0]

    def issues(
        self,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        filterBy: dict[str, Any] | None = None,
        labels: list[str] | None = None,
        orderBy: dict[str, Any] | None = None,
        states: list[str] | None = None,
    ) -> Connection:
        items, keys = self._sorted(False, orderBy)
        filters = filterBy or {}
        since_raw = filters.get("since")
        since = parse_iso(since_raw) if isinstance(since_raw, str) else None
        if since_raw is not None and since is None:
            raise GraphQLError(f"Could not coerce value {since_raw!r} to DateTime")
        wanted = {s.lower() for s in [*(states or []), *(filters.get("states") or [])]}
        names = {n.lower() for n in labels or []}
        if since is not None or wanted or names:
            pairs = [
                (i, k)
                for i, k in zip(items, keys, strict=True)
                if (since is None or i.updated_at >= since)
                and (not wanted or i.state in wanted)
                and names <= {lb.name.lower() for lb in i.labels}
            ]
            items, keys = [i for i, _ in pairs], [k for _, k in pairs]
        return keyset_connection(
            items, keys, lambda i: IssueNode(self._ctx, self._repo, i), first, after
        )

    def pullRequests(
        self,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        baseRefName: str | None = None,
        headRefName: str | None = None,
        labels: list[str] | None = None,
        orderBy: dict[str, Any] | None = None,
        states: list[str] | None = None,
    ) -> Connection:
        items, keys = self._sorted(True, orderBy)
        names = {n.lower() for n in labels or []}
        wanted = set(states or [])

        def keep(i: Issue) -> bool:
            pull = i.pull
            assert pull is not None
            state = "MERGED" if pull.merged_at else i.state.upper()
            return (
                (not wanted or state in wanted)
                and (baseRefName is None or pull.base_ref == baseRefName)
                and (headRefName is None or pull.head_ref == headRefName)
                and names <= {lb.name.lower() for lb in i.labels}
            )

        if wanted or names or baseRefName is not None or headRefName is not None:
            pairs = [(i, k) for i, k in zip(items, keys, strict=True) if keep(i)]
            items, keys = [i for i, _ in pairs], [k for _, k in pairs]
        return keyset_connection(
            items, keys, lambda i: PullRequestNode(self._ctx, self._repo, i), first, after
        )


# ------------------------------------------------------------------------------- node lookup

_KINDS = sorted(((prefix, kind) for kind, prefix in NODE_PREFIX.items()), key=lambda p: -len(p[0]))


def decode_node_id(value: str) -> tuple[str, int] | None:
    """The (kind, database id) an id of `ids.node_id` stands for; None for anything else."""
    for prefix, kind in _KINDS:
        if value.startswith(prefix):
            packed = value[len(prefix) :]
            try:
                raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
            except ValueError:
                return None
            if len(raw) != 8:
                return None
            return kind, int.from_bytes(raw, "big")
    return None


def lookup_node(ctx: Ctx, value: str) -> Any:
    """The object a global id names, if the caller may see it; a NOT_FOUND error otherwise."""
    decoded = decode_node_id(value)
    found = _find(ctx, *decoded) if decoded else None
    if found is None:
        return not_found(f"Could not resolve to a node with the global id of '{value}'")
    return found


def _find(ctx: Ctx, kind: str, ident: int) -> Any:
    state = ctx.state
    if kind in ("user", "org"):
        for user in state.users.values():
            if user.id == ident:
                return UserNode(ctx, user)
        return None
    for repo in state.repos.values():
        if not ctx.visible(repo):
            continue
        if kind == "repo" and repo.id == ident:
            return RepositoryNode(ctx, repo)
        if kind == "run" and ident in repo.runs:
            return WorkflowRunNode(ctx, repo, repo.runs[ident])
        if kind == "job" and ident in repo.jobs:
            job = repo.jobs[ident]
            return CheckRunNode(ctx, repo, repo.runs[job.run_id], job)
        if kind in ("issue", "pull", "review"):
            found = _by_id(repo).get((kind, ident))
            if isinstance(found, Review):
                return PullRequestReviewNode(ctx, repo, found)
            if found is not None:
                node = IssueNode if found.pull is None else PullRequestNode
                return node(ctx, repo, found)
    return None


def _by_id(repo: Repo) -> dict[tuple[str, int], Issue | Review]:
    """Issues, pull requests and reviews of a repository by (kind, database id), cached."""

    def build() -> list[dict[tuple[str, int], Issue | Review]]:
        index: dict[tuple[str, int], Issue | Review] = {}
        for issue in repo.issues.values():
            if issue.pull is None:
                index[("issue", issue.id)] = issue
            else:
                index[("pull", issue.pull.id)] = issue
        for reviews in repo.reviews_by_pull.values():
            for review in reviews:
                index[("review", review.id)] = review
        return [index]

    return repo.view(("graphql_by_id",), build)[0]
