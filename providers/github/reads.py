"""Fresh reads of one GitHub object (`providers.reads.ObjectReader`).

The store asks for one when two states of an object share a version (GitHub's timestamps have
one-second resolution): the answer is GitHub's state now. Every read is one GET of the object's
own REST resource; a commit status has none, so the newest status of its context on the commit
is read instead (GitHub lists a commit's statuses newest first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from providers.base import ExternalObject, ProviderNotFound, RepoRef
from providers.github import mapping, repo_settings
from providers.github.mapping import MappingContext
from providers.github.operations import Operations, object_of, repo_path
from providers.github.pagination import MAX_PER_PAGE
from providers.reads import ObjectRef, UnreadableObject


@dataclass(frozen=True)
class _Get:
    """One object's REST resource: `path` under the repository, with `{number}` (of the issue
    or pull request) and `{id}` (the native id without `prefix`) filled in."""

    path: str
    what: str
    map: Callable[[dict[str, Any], MappingContext, str], ExternalObject]
    prefix: str = ""


# (resource kind, native kind) -> its GET. Kinds without a version (refs, permissions, branch
# protection) never tie, so they need none; a commit status is read through its commit.
_GETS: dict[tuple[str, str], _Get] = {
    ("Issue", "issue"): _Get(
        "issues/{number}", "issue", lambda r, c, repo: mapping.issue(r, c, repository=repo)
    ),
    ("PullRequest", "pull_request"): _Get(
        "pulls/{number}",
        "pull request",
        lambda r, c, repo: mapping.pull_request(r, c, repository=repo),
    ),
    ("Comment", "issue_comment"): _Get(
        "issues/comments/{id}",
        "comment",
        lambda r, c, repo: mapping.issue_comment(r, c, repository=repo),
    ),
    ("Comment", "pull_request_review_comment"): _Get(
        "pulls/comments/{id}",
        "review comment",
        lambda r, c, repo: mapping.review_comment(r, c, repository=repo),
    ),
    ("Pipeline", "workflow_run"): _Get(
        "actions/runs/{id}",
        "workflow run",
        lambda r, c, repo: mapping.workflow_run(r, c, repository=repo),
    ),
    ("Pipeline", "check_suite"): _Get(
        "check-suites/{id}",
        "check suite",
        lambda r, c, repo: mapping.check_suite(r, c, repository=repo),
        prefix=mapping.CHECK_SUITE_PREFIX,
    ),
    ("Job", "workflow_job"): _Get(
        "actions/jobs/{id}", "workflow job", lambda r, c, repo: mapping.job(r, c, repository=repo)
    ),
    ("Job", "check_run"): _Get(
        "check-runs/{id}",
        "check run",
        lambda r, c, repo: mapping.check_run(r, c, repository=repo),
        prefix=mapping.CHECK_RUN_PREFIX,
    ),
    ("WebhookSubscription", "hook"): _Get(
        "hooks/{id}",
        "repository webhook",
        lambda r, c, repo: repo_settings.webhook_subscription(r, c, repository=repo),
    ),
    ("DeployKey", "deploy_key"): _Get(
        "keys/{id}", "deploy key", lambda r, c, repo: mapping.deploy_key(r, c, repository=repo)
    ),
}


class ObjectReads(Operations):
    """`read_object` for every kind the sync keeps a version of."""

    async def read_object(self, ref: ObjectRef) -> ExternalObject | None:
        if ref.repository is None:
            raise UnreadableObject(f"{ref.resource_kind} {ref.native_id} names no repository")
        owner, _, name = ref.repository.partition("/")
        repo = RepoRef(owner=owner, name=name)
        key = (ref.resource_kind, ref.native_kind or "")
        try:
            if key == ("Repository", "repository"):
                response = await self.client.request("GET", repo_path(repo))
                raw = object_of(response, "repository")
                return mapping.repository(raw, self.context, etag=response.headers.get("etag"))
            if key == ("Review", "pull_request_review"):
                return await self._review(repo, ref)
            if key == ("Pipeline", "commit_status"):
                return await self._commit_status(repo, ref)
            if key == ("Commit", "commit"):
                sha = quote(ref.sha or ref.native_id or "", safe="")
                raw = await self._get_object(f"{repo_path(repo)}/commits/{sha}", "commit")
                return mapping.commit(raw, self.context, repository=repo.full_name)
            get = _GETS.get(key)
            if get is None:
                raise UnreadableObject(
                    f"no single-object read for {ref.resource_kind} ({ref.native_kind})"
                )
            fields = {"id": _native(ref, get.prefix)}
            if "{number}" in get.path:
                fields["number"] = str(_number(ref))
            raw = await self._get_object(f"{repo_path(repo)}/{get.path.format(**fields)}", get.what)
            return get.map(raw, self.context, repo.full_name)
        except ProviderNotFound:
            return None

    async def _review(self, repo: RepoRef, ref: ObjectRef) -> ExternalObject:
        pull = _number(ref, "parent_number")
        path = f"{repo_path(repo)}/pulls/{pull}/reviews/{_native(ref)}"
        raw = await self._get_object(path, "pull request review")
        return mapping.review(raw, self.context, repository=repo.full_name, pull_number=pull)

    async def _commit_status(self, repo: RepoRef, ref: ObjectRef) -> ExternalObject | None:
        native = ref.native_id or ""
        sha, _, context = native.removeprefix(mapping.COMMIT_STATUS_PREFIX).partition("/")
        if not sha or not context:
            raise UnreadableObject(f"commit status has an unexpected id {native!r}")
        page = await self.client.get_page(
            f"{repo_path(repo)}/commits/{quote(sha, safe='')}/statuses",
            params={"per_page": MAX_PER_PAGE},
        )
        # Newest first; a context missing from the first page is older than a hundred reports.
        for item in page.items:
            if (item.get("context") or "default") == context:
                raw = {**item, "sha": sha}
                return mapping.commit_status(raw, self.context, repository=repo.full_name)
        return None


def _number(ref: ObjectRef, field: str = "number") -> int:
    value = getattr(ref, field)
    if value is None:
        raise UnreadableObject(f"{ref.resource_kind} {ref.native_id} has no {field}")
    return int(value)


def _native(ref: ObjectRef, prefix: str = "") -> str:
    if ref.native_id is None or not ref.native_id.startswith(prefix):
        raise UnreadableObject(f"{ref.resource_kind} has an unexpected id {ref.native_id!r}")
    return quote(ref.native_id.removeprefix(prefix), safe="")
