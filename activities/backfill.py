"""`backfill_page`: one page of one scope fetched from the provider and upserted, per activity.

The workflow owns the cursor (`ScopeCursor`); this activity reads one page where the cursor
says, writes it in one transaction with the version-guarded upsert, and returns the advanced
cursor, counts and the rate-limit budget. Never object lists: they stay out of history.

How each resource kind pages (docs/backfill.md has the why):

| kind | listing | incremental | conditional request |
| --- | --- | --- | --- |
| Repository | GET /repos/{o}/{r} | conditional GET | the object |
| Issue | GraphQL `issues`, updated ascending (no pull requests) | keyset on `since` | REST probe |
| Comment | REST `since`, updated ascending | keyset: `since` = last updated_at seen | final request |
| PullRequest | GraphQL `pullRequests` + their reviews, updated descending | stop at the watermark | REST probe |
| Pipeline | REST runs newest first, + jobs of new/changed runs (one GraphQL query) | stop `RUN_LOOKBACK` before it | first page |
| GitRef | branches, then tags | whole listing | one per listing |
| DeployKey, RepositoryPermission (collaborators), TeamPermission (teams) | whole listing | whole listing | first page |
| BranchProtection (+ RefPolicy) | protected branches, + each one's protection | whole listing | first page |
| Label, WebhookSubscription | GET .../labels, GET .../hooks | whole listing | first page |

A REST probe is the listing's newest item (`per_page=1`, sorted by update) asked with the ETag
of the last pass: a 304 ends the pass for free; anything else starts the GraphQL walk. Reviews
come with their pull requests (the Review kind is kept only for cursors of older workflows).

`next_page` holds a `PassState` (JSON) while a pass is under way; the pass ends when it is None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import projection
from activities.backfill_models import (
    BACKFILL_PAGE_ACTIVITY,
    CONFIGURATION_ERROR,
    RATE_LIMITED,
    TOMBSTONE_UNSEEN_ACTIVITY,
    BackfillPageInput,
    BackfillPageResult,
    BindingRef,
    RateLimitBudget,
    ScopeCursor,
    TombstoneInput,
    TombstoneResult,
)
from activities.heartbeat import heartbeating
from activities.provider_factory import ProviderFactory
from activities.scope_repository import learn_repository, resolve_scope
from activities.secrets import ConfigurationError
from providers.base import (
    Cursor,
    ExternalBranchProtection,
    ExternalJob,
    ExternalObject,
    ExternalPipeline,
    Page,
    ProviderConfigurationError,
    ProviderError,
    ProviderTransientError,
    RateLimited,
    RepoRef,
)
from providers.base import RateLimitBudget as ProviderBudget
from providers.github import GitHubProvider
from providers.github import mapping as github_mapping
from providers.github.operations import object_of, repo_path, to_page
from providers.github.pagination import MAX_PER_PAGE
from providers.github.repo_settings import label as map_label
from providers.github.repo_settings import webhook_subscription
from providers.ref_policies import ref_policy_of
from store.conflicts import merge_incoming  # issue 5 (conflicts)
from store.db import session_scope
from store.event_phases import supersede_verifying
from store.links import link_objects, orphan_scope_links
from store.models.projections import (
    BranchProtection,
    Comment,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Label,
    Pipeline,
    Projection,
    PullRequest,
    RefPolicy,
    Repository,
    RepositoryPermission,
    Review,
    WebhookSubscription,
)
from store.renames import follow_renames, resolve_repository
from store.upsert import (
    UpsertOutcome,
    count_outcomes,
    database_now,
    mark_unseen_deleted,
    upsert_many,
)

T = TypeVar("T")

# Runs are listed newest created first and can change long after creation (a long job, a
# re-run). An incremental pass reads back to this long before the watermark; older runs that
# change are left to the workflow_run webhooks and the full resync.
RUN_LOOKBACK = timedelta(hours=6)
# Concurrent requests inside one page (branch protections, the jobs query): enough to hide
# latency, few enough not to trip GitHub's secondary (concurrency) limit.
FAN_OUT = 8
HEARTBEAT_EVERY = 5.0
# In-page retries of one sub-request (then the whole page fails and Temporal retries it).
SUB_REQUEST_ATTEMPTS = 3
SUB_REQUEST_BACKOFF = 0.2
MAX_SUB_REQUEST_DELAY = 5.0


class PassState(BaseModel):
    """What `ScopeCursor.next_page` holds while a pass is under way (JSON)."""

    listing: str | None = Field(default=None, description="Which listing of a chained scope.")
    cursor: Cursor | None = Field(default=None, description="The provider's next page.")
    after: str | None = Field(default=None, description="GraphQL cursor of the next page.")
    since: datetime | None = Field(default=None, description="Keyset position (updated_at).")
    seen: dict[str, datetime] = Field(
        default_factory=dict, description="Already stored at or after `since`: skipped."
    )
    high_seen: dict[str, datetime] = Field(
        default_factory=dict, description="Ids whose updated_at equals the pass's high mark."
    )
    first_etag: str | None = None
    etags: dict[str, str] = Field(default_factory=dict)


@dataclass
class Step:
    """What a kind's handler did: objects to store and where the pass goes next."""

    objects: list[ExternalObject] = field(default_factory=list)
    fetched: int = 0
    requests: int = 0
    not_modified: bool = False
    next_state: PassState | None = None  # None: the pass is over
    # Set when the pass is over:
    watermark: datetime | None = None
    watermark_seen: dict[str, datetime] | None = None
    etag: str | None = None
    etags: dict[str, str] | None = None


@dataclass
class Ctx:
    provider: GitHubProvider
    repo: RepoRef
    cursor: ScopeCursor
    state: PassState
    starting: bool
    full: bool
    owner: projection.Owner


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version(obj: ExternalObject) -> datetime | None:
    return _utc(obj.external.updated_at)


def _key(obj: ExternalObject) -> str:
    return obj.external.native_id


def _high(objects: Sequence[ExternalObject]) -> datetime | None:
    stamps = [v for o in objects if (v := _version(o)) is not None]
    return max(stamps) if stamps else None


# ------------------------------------------------------------------------------ error mapping


def to_application_error(error: Exception) -> ApplicationError:
    """A provider or configuration error as the workflow expects it (see backfill_models)."""
    if isinstance(error, RateLimited):
        reset_at = error.reset_at or datetime.now(UTC) + timedelta(
            seconds=error.retry_after if error.retry_after is not None else 60
        )
        return ApplicationError(
            f"rate limited: {error.message}",
            reset_at.isoformat(),
            type=RATE_LIMITED,
            non_retryable=True,
        )
    if isinstance(error, ProviderTransientError):
        delay = timedelta(seconds=error.retry_after) if error.retry_after else None
        return ApplicationError(
            str(error), type=type(error).__name__, non_retryable=False, next_retry_delay=delay
        )
    if isinstance(error, ConfigurationError | ProviderConfigurationError):
        return ApplicationError(str(error), type=CONFIGURATION_ERROR, non_retryable=True)
    if isinstance(error, ProviderError):
        # Auth, not found, validation, permission, conflict, protocol: retrying cannot help.
        return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)
    raise TypeError(f"not a provider error: {error!r}")


async def _bounded(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run a page's sub-requests, `FAN_OUT` at a time.

    Each one retries a transient failure a few times on its own: a page with several
    sub-requests would otherwise rarely get through a provider failing 10 % of requests,
    since one failure makes Temporal redo the whole page.
    """
    gate = asyncio.Semaphore(FAN_OUT)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            for attempt in range(SUB_REQUEST_ATTEMPTS):
                try:
                    return await call()
                except ProviderTransientError as error:
                    if attempt + 1 == SUB_REQUEST_ATTEMPTS:
                        raise
                    delay = SUB_REQUEST_BACKOFF * 2**attempt
                    if error.retry_after is not None:
                        delay = max(delay, min(error.retry_after, MAX_SUB_REQUEST_DELAY))
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")

    return list(await asyncio.gather(*(run(c) for c in calls)))


# ---------------------------------------------------------- reads the adapter lacks (for now)
# The adapter's get_repository, list_refs, list_deploy_keys and list_collaborators take no ETag;
# these send the same requests conditionally through its client and mapping functions. They
# belong in the adapter (`etag=` on those methods); then these become one-line calls.


async def _conditional_listing(
    provider: GitHubProvider,
    path: str,
    mapper: Callable[[Any], T],
    cursor: Cursor | None,
    etag: str | None,
    params: dict[str, str | int | bool] | None = None,
    phase: str | None = None,
) -> Page[T]:
    raw = await provider.client.get_page(
        path,
        params={"per_page": MAX_PER_PAGE, **(params or {})},
        cursor=cursor,
        etag=etag,
        phase=phase,
    )
    return to_page(raw, mapper)


# --------------------------------------------------------------------------- kind handlers


def _advance_high(ctx: Ctx, fresh: Sequence[ExternalObject]) -> None:
    """Track the newest version seen in the pass and the ids that carry it."""
    high = _high(fresh)
    if high is None:
        return
    current = _utc(ctx.cursor.pass_high)
    if current is None or high > current:
        ctx.cursor.pass_high = high
        ctx.state.high_seen = {}
    if _utc(ctx.cursor.pass_high) == high:
        for obj in fresh:
            if _version(obj) == high:
                ctx.state.high_seen[_key(obj)] = high


def _end_at_high(ctx: Ctx, step: Step) -> Step:
    """Close a pass whose next one starts at the newest version seen (descending listings)."""
    old = _utc(ctx.cursor.watermark)
    high = _utc(ctx.cursor.pass_high)
    if high is None or (old is not None and high < old):
        step.watermark, step.watermark_seen = old, dict(ctx.cursor.watermark_seen)
    elif old is not None and high == old and not ctx.full:
        step.watermark, step.watermark_seen = (
            high,
            {**ctx.cursor.watermark_seen, **ctx.state.high_seen},
        )
    else:
        step.watermark, step.watermark_seen = high, dict(ctx.state.high_seen)
    return step


def _unchanged_end(ctx: Ctx, requests: int) -> Step:
    """A pass that ends on a 304: everything stays as the last pass left it."""
    return Step(
        requests=requests,
        not_modified=True,
        watermark=ctx.cursor.watermark,
        watermark_seen=dict(ctx.cursor.watermark_seen),
        etag=ctx.cursor.etag,
        etags=dict(ctx.cursor.etags),
    )


async def _repository(ctx: Ctx) -> Step:
    etag = None if ctx.full else ctx.cursor.etag
    response = await ctx.provider.client.request("GET", repo_path(ctx.repo), etag=etag)
    if response.status_code == 304:
        return _unchanged_end(ctx, 1)
    new_etag = response.headers.get("etag")
    repo = github_mapping.repository(
        object_of(response, "repository"), ctx.provider.context, etag=new_etag
    )
    return Step(
        objects=[repo],
        fetched=1,
        requests=1,
        watermark=_version(repo),
        watermark_seen={},
        etag=new_etag,
    )


async def _keyset(
    ctx: Ctx,
    fetch: Callable[[Cursor | None, datetime | None, str | None], Awaitable[Page[Any]]],
) -> Step:
    """An updated-ascending `since` listing, paged by keyset so no update is ever skipped.

    Page numbers over a list sorted by updated_at shift when an item is updated while we page
    (it jumps to the end and the rest move up one: one item is never served). So each next
    page is a new listing from `since` = the last updated_at seen, and the items already
    stored at that time are skipped by id and version. Only when a whole page shares one
    timestamp does it follow the provider's page link for that `since`.
    """
    state = ctx.state
    if ctx.starting:
        state.since = None if ctx.full else _utc(ctx.cursor.watermark)
        state.seen = {} if ctx.full else dict(ctx.cursor.watermark_seen)
    first_of_listing = state.cursor is None
    etag = ctx.cursor.etag if ctx.starting and not ctx.full else None
    page = await fetch(state.cursor, state.since, etag)
    if page.not_modified:
        return _unchanged_end(ctx, 1)
    items: list[ExternalObject] = page.items
    fresh = [o for o in items if state.seen.get(_key(o)) != _version(o)]
    merged = {**state.seen, **{_key(o): v for o in items if (v := _version(o)) is not None}}
    step = Step(objects=fresh, fetched=len(fresh), requests=1)
    if page.next_cursor is None:
        # The next pass starts with this very request, so its ETag answers for it (and the
        # objects it returned are the ones to skip when they come back unchanged).
        since = state.since
        step.watermark = since
        step.watermark_seen = {k: v for k, v in merged.items() if since is None or v >= since}
        step.etag = page.etag if first_of_listing else None
        return step
    last = _high(items)
    if last is not None and (state.since is None or last > state.since):
        step.next_state = PassState(since=last, seen={k: v for k, v in merged.items() if v >= last})
    else:  # the whole page has one timestamp: page numbers for this one `since`
        step.next_state = state.model_copy(update={"cursor": page.next_cursor, "seen": merged})
    return step


async def _probe(ctx: Ctx, listing: Literal["issues", "pulls"]) -> bool:
    """At the start of a pass: has the listing changed since the last pass? Remembers the
    ETag that the pass, once complete, hands to the next one."""
    probe = await ctx.provider.probe(ctx.repo, listing, None if ctx.full else ctx.cursor.etag)
    ctx.state.first_etag = probe.etag
    return not probe.not_modified


async def _issues(ctx: Ctx) -> Step:
    """Issues through GraphQL (no pull requests among them), paged by keyset like `_keyset`:
    each next page is a new query from the last updated_at seen; only a page that shares
    one timestamp throughout follows GraphQL's own cursor for that `since`."""
    state = ctx.state
    probed = 0
    if ctx.starting:
        if not await _probe(ctx, "issues"):
            return _unchanged_end(ctx, 1)
        probed = 1
        state.since = None if ctx.full else _utc(ctx.cursor.watermark)
        state.seen = {} if ctx.full else dict(ctx.cursor.watermark_seen)
    page = await ctx.provider.graphql_issues(ctx.repo, since=state.since, after=state.after)
    items: list[ExternalObject] = list(page.items)
    fresh = [o for o in items if state.seen.get(_key(o)) != _version(o)]
    merged = {**state.seen, **{_key(o): v for o in items if (v := _version(o)) is not None}}
    step = Step(objects=fresh, fetched=len(fresh), requests=probed + page.requests)
    if not page.has_next:
        since = state.since
        step.watermark = since
        step.watermark_seen = {k: v for k, v in merged.items() if since is None or v >= since}
        step.etag = state.first_etag
        return step
    last = _high(items)
    if last is not None and (state.since is None or last > state.since):
        step.next_state = state.model_copy(
            update={
                "since": last,
                "after": None,
                "seen": {k: v for k, v in merged.items() if v >= last},
            }
        )
    else:  # the whole page has one timestamp: GraphQL's cursor for this one `since`
        step.next_state = state.model_copy(update={"after": page.end_cursor, "seen": merged})
    return step


async def _comments(ctx: Ctx) -> Step:
    return await _keyset(
        ctx,
        lambda cursor, since, etag: ctx.provider.list_repository_comments(
            ctx.repo, cursor, since=since, etag=etag
        ),
    )


def _fresh_since_watermark(ctx: Ctx, items: Sequence[ExternalObject]) -> list[ExternalObject]:
    if ctx.full or ctx.cursor.watermark is None:
        return list(items)
    watermark = _utc(ctx.cursor.watermark)
    assert watermark is not None
    seen = ctx.cursor.watermark_seen
    return [
        o
        for o in items
        if (v := _version(o)) is None or (v >= watermark and seen.get(_key(o)) != v)
    ]


async def _pull_requests(ctx: Ctx) -> Step:
    """Pull requests with their reviews (GraphQL), newest update first, ending at the
    watermark: an update during the walk moves a pull request to the front (read by the next
    pass, whose probe sees it), so nothing is skipped."""
    state = ctx.state
    probed = 0
    if ctx.starting:
        if not await _probe(ctx, "pulls"):
            return _unchanged_end(ctx, 1)
        probed = 1
    page = await ctx.provider.graphql_pull_requests(ctx.repo, after=state.after)
    pulls = [item.pull for item in page.items]
    fresh = _fresh_since_watermark(ctx, pulls)
    numbers = {pull.external.native_number for pull in fresh}
    # Reviews of a pull request change its updated_at, so those of fresh ones are the news.
    reviews = [r for item in page.items if item.pull.number in numbers for r in item.reviews]
    _advance_high(ctx, fresh)
    step = Step(
        objects=[*fresh, *reviews],
        fetched=len(fresh) + len(reviews),
        requests=probed + page.requests,
    )
    watermark = None if ctx.full else _utc(ctx.cursor.watermark)
    older = watermark is not None and any(
        (v := _version(pull)) is not None and v < watermark for pull in pulls
    )
    if page.has_next and not older:
        step.next_state = state.model_copy(update={"after": page.end_cursor})
        return step
    step.etag = state.first_etag
    return _end_at_high(ctx, step)


async def _pipelines(ctx: Ctx) -> Step:
    """Runs newest first, plus the jobs of every run that is new or changed."""
    watermark = None if ctx.full else _utc(ctx.cursor.watermark)
    if ctx.starting:
        etag = None if ctx.full else ctx.cursor.etag
        page = await ctx.provider.list_pipelines(ctx.repo, etag=etag)
        if page.not_modified:
            return _unchanged_end(ctx, 1)
        ctx.state.first_etag = page.etag
    else:
        page = await ctx.provider.list_pipelines(ctx.repo, ctx.state.cursor)
    runs: list[ExternalPipeline] = page.items
    fresh = _fresh_since_watermark(ctx, runs)
    _advance_high(ctx, fresh)

    jobs: list[ExternalJob] = []
    job_requests = 0
    if fresh:
        # The jobs of every new or changed run of the page in one GraphQL query (GitHub has
        # no repository-wide job listing: REST would cost a request per run).
        runs = [run for run in fresh if isinstance(run, ExternalPipeline)]
        found = await _bounded([lambda: ctx.provider.graphql_jobs(ctx.repo, runs)])
        jobs, job_requests = found[0]
    step = Step(
        objects=[*fresh, *jobs],
        fetched=len(fresh) + len(jobs),
        requests=1 + job_requests,
    )
    cutoff = watermark - RUN_LOOKBACK if watermark is not None else None
    older = cutoff is not None and any(
        (created := _utc(r.created_at)) is not None and created < cutoff for r in runs
    )
    if page.next_cursor is not None and not older:
        step.next_state = ctx.state.model_copy(update={"cursor": page.next_cursor})
        return step
    step.etag = ctx.state.first_etag
    return _end_at_high(ctx, step)


async def _reviews(ctx: Ctx) -> Step:
    """Nothing to read: reviews come with their pull requests (the PullRequest scope). Kept
    for scope cursors of workflows that still list the Review kind; it ends their pass."""
    return Step(
        watermark=ctx.cursor.watermark,
        watermark_seen=dict(ctx.cursor.watermark_seen),
        etag=ctx.cursor.etag,
        etags=dict(ctx.cursor.etags),
    )


async def _refs(ctx: Ctx) -> Step:
    """Branches, then tags: two listings, each with the ETag of its own first page."""
    state = ctx.state
    listing = state.listing or "branches"
    kind: Literal["branch", "tag"] = "branch" if listing == "branches" else "tag"
    first = state.cursor is None
    etag = None
    if first and not ctx.full:
        etag = ctx.cursor.etag if listing == "branches" else ctx.cursor.etags.get("tags")
    page = await _conditional_listing(
        ctx.provider,
        f"{repo_path(ctx.repo)}/{listing}",
        lambda item: github_mapping.ref(
            item,
            ctx.provider.context,
            repository=ctx.repo.full_name,
            kind=kind,
            api_base=ctx.provider.client.base_url,
        ),
        state.cursor,
        etag,
        phase=listing,
    )
    if first:
        new_etag = etag if page.not_modified else page.etag
        if listing == "branches":
            state.first_etag = new_etag
        elif new_etag is not None:
            state.etags["tags"] = new_etag
    step = Step(
        objects=list(page.items),
        fetched=len(page.items),
        requests=1,
        not_modified=page.not_modified,
    )
    if page.next_cursor is not None:
        step.next_state = state.model_copy(update={"cursor": page.next_cursor})
    elif listing == "branches":
        step.next_state = state.model_copy(update={"listing": "tags", "cursor": None})
    else:
        step.etag, step.etags = state.first_etag, dict(state.etags)
    return step


async def _whole_listing(
    ctx: Ctx, path: str, mapper: Callable[[Any], Any], params: dict[str, str | int | bool]
) -> tuple[Step, Page[Any]]:
    """A small listing read whole each pass, conditional on its first page."""
    state = ctx.state
    etag = ctx.cursor.etag if ctx.starting and not ctx.full else None
    page = await _conditional_listing(ctx.provider, path, mapper, state.cursor, etag, params)
    if page.not_modified:
        return _unchanged_end(ctx, 1), page
    if ctx.starting:
        state.first_etag = page.etag
    step = Step(objects=list(page.items), fetched=len(page.items), requests=1)
    if page.next_cursor is not None:
        step.next_state = state.model_copy(update={"cursor": page.next_cursor})
    else:
        step.etag = state.first_etag
    return step, page


async def _deploy_keys(ctx: Ctx) -> Step:
    step, _ = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/keys",
        lambda item: github_mapping.deploy_key(
            item, ctx.provider.context, repository=ctx.repo.full_name
        ),
        {},
    )
    return step


async def _collaborators(ctx: Ctx) -> Step:
    step, _ = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/collaborators",
        lambda item: github_mapping.collaborator(
            item, ctx.provider.context, repository=ctx.repo.full_name
        ),
        {"affiliation": "all"},
    )
    return step


async def _teams(ctx: Ctx) -> Step:
    step, _ = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/teams",
        lambda item: github_mapping.team_permission(
            item, ctx.provider.context, repository=ctx.repo.full_name
        ),
        {},
    )
    return step


async def _branch_protections(ctx: Ctx) -> Step:
    """The protected branches (conditional), then each one's protection settings."""
    step, page = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/branches",
        lambda item: github_mapping.ref(
            item, ctx.provider.context, repository=ctx.repo.full_name, kind="branch"
        ),
        {"protected": "true"},
    )
    if step.not_modified:
        return step

    def protection_of(
        name: str,
    ) -> Callable[[], Awaitable[ExternalBranchProtection | None]]:
        return lambda: ctx.provider.get_branch_protection(ctx.repo, name)

    found = await _bounded([protection_of(ref.name) for ref in page.items])
    protections = [p for p in found if p is not None]
    step.objects = [*protections, *(ref_policy_of(p) for p in protections)]
    step.fetched = len(protections)
    step.requests += len(found)
    return step


async def _labels(ctx: Ctx) -> Step:
    step, _ = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/labels",
        lambda item: map_label(item, ctx.provider.context, repository=ctx.repo.full_name),
        {},
    )
    return step


async def _webhook_subscriptions(ctx: Ctx) -> Step:
    """The repository's hooks (GitHub answers 404 without admin rights: the scope then fails
    on its own and the others go on)."""
    step, _ = await _whole_listing(
        ctx,
        f"{repo_path(ctx.repo)}/hooks",
        lambda item: webhook_subscription(
            item, ctx.provider.context, repository=ctx.repo.full_name
        ),
        {},
    )
    return step


HANDLERS: dict[str, Callable[[Ctx], Awaitable[Step]]] = {
    "Repository": _repository,
    "Issue": _issues,
    "Comment": _comments,
    "PullRequest": _pull_requests,
    "Review": _reviews,
    "Pipeline": _pipelines,
    "GitRef": _refs,
    "DeployKey": _deploy_keys,
    "RepositoryPermission": _collaborators,
    "TeamPermission": _teams,  # RepositoryPermission rows of teams
    "BranchProtection": _branch_protections,  # with the RefPolicy of each
    "Label": _labels,
    "WebhookSubscription": _webhook_subscriptions,
}

# What a full pass of each kind refreshes, for tombstoning what it did not see.
TOMBSTONE_TABLES: dict[str, tuple[tuple[type[Projection], dict[str, str]], ...]] = {
    "Repository": ((Repository, {}),),
    "Issue": ((Issue, {}),),
    # A full PullRequest pass reads every review too; the Review kind reads nothing.
    "PullRequest": ((PullRequest, {}), (Review, {})),
    "Review": (),
    "Comment": ((Comment, {"native_kind": "issue_comment"}),),
    # Scoped to Actions: check suites, check runs and commit statuses arrive by webhook only.
    "Pipeline": (
        (Pipeline, {"native_kind": "workflow_run"}),
        (Job, {"native_kind": "workflow_job"}),
    ),
    "GitRef": ((GitRef, {}),),
    "DeployKey": ((DeployKey, {}),),
    "RepositoryPermission": ((RepositoryPermission, {"principal_kind": "user"}),),
    "TeamPermission": ((RepositoryPermission, {"principal_kind": "team"}),),
    "BranchProtection": ((BranchProtection, {}), (RefPolicy, {})),
    "Label": ((Label, {}),),
    "WebhookSubscription": ((WebhookSubscription, {}),),
}


def _handler(kind: str) -> Callable[[Ctx], Awaitable[Step]]:
    handler = HANDLERS.get(kind)
    if handler is None:
        raise ConfigurationError(
            f"no backfill for resource kind {kind!r}; known: {', '.join(HANDLERS)}"
        )
    return handler


def budget_of(budget: ProviderBudget) -> RateLimitBudget | None:
    if budget.limit is None and budget.remaining is None:
        return None
    return RateLimitBudget(
        limit=budget.limit,
        remaining=budget.remaining,
        reset_at=budget.reset_at,
        resource=budget.resource,
    )


def owner_of(binding: BindingRef) -> projection.Owner:
    return projection.Owner(
        org=binding.org, provider_ref=binding.provider, binding_ref=binding.binding
    )


class BackfillActivities:
    """The backfill activities, bound to the engine and the provider factory of the worker."""

    def __init__(self, engine: Callable[[], Engine], providers: ProviderFactory) -> None:
        self._engine = engine
        self._providers = providers

    async def _read_store(self, read: Callable[[Any], T]) -> T:
        def run() -> T:
            with session_scope(self._engine()) as session:
                return read(session)

        return await asyncio.to_thread(run)

    def _write(
        self,
        rows: list[tuple[type[Projection], projection.Row]],
        starting: bool,
        cursor: ScopeCursor | None = None,
    ) -> tuple[dict[UpsertOutcome, int], datetime | None]:
        groups: dict[type[Projection], list[projection.Row]] = {}
        for table, row in rows:
            groups.setdefault(table, []).append(row)
        outcomes: list[UpsertOutcome] = []
        with session_scope(self._engine()) as session:
            # The same transaction time stamps the rows' synced_at: nothing this pass writes
            # can be older than the pass's start.
            now = database_now(session) if starting else None
            # issue 9 (renames): a Repository row under a new name moves the repository's rows;
            # rows named by a former name are written under the current one (in place).
            follow_renames(session, rows)
            if cursor is not None:
                learn_repository(session, cursor, rows)
            for table, table_rows in groups.items():
                # issue 5 (conflicts): pending local edits are merged three-way first.
                table_rows = merge_incoming(session, table, table_rows)
                table_outcomes = upsert_many(session, table, table_rows)
                outcomes.extend(table_outcomes)
                supersede_verifying(session, table, table_rows, table_outcomes)
            link_objects(session, rows)  # issue 9: the ExternalObjectLink of each object
        return count_outcomes(outcomes), now

    @activity.defn(name=BACKFILL_PAGE_ACTIVITY)
    async def backfill_page(self, input: BackfillPageInput) -> BackfillPageResult:
        """Fetch one page of one scope, upsert it in one transaction, return the next cursor."""
        cursor = input.cursor.model_copy(deep=True)
        scope = cursor.scope
        starting = cursor.next_page is None
        if starting:
            cursor.pass_high = None
        try:
            handler = _handler(scope.resource_kind)
            provider = self._providers.github(input.binding)
            state = (
                PassState() if starting else PassState.model_validate_json(cursor.next_page or "{}")
            )
            owner = owner_of(input.binding)
            # issue 9 (renames): the repository's current name, not necessarily the scope's.
            repo = await self._read_store(lambda s: resolve_scope(s, input.binding, cursor))
            ctx = Ctx(
                provider=provider,
                repo=repo,
                cursor=cursor,
                state=state,
                starting=starting,
                full=input.full,
                owner=owner,
            )
            async with heartbeating(HEARTBEAT_EVERY):
                step = await handler(ctx)
                rows = [p for o in step.objects if (p := projection.project(o, owner)) is not None]
                counts, now = await asyncio.to_thread(self._write, rows, starting, cursor)
        except (ProviderError, ConfigurationError) as error:
            raise to_application_error(error) from error

        if starting:
            cursor.pass_started_at = now
        cursor.pages += 1
        cursor.requests += step.requests
        cursor.objects += step.fetched
        cursor.not_modified += int(step.not_modified)
        if step.next_state is not None:
            cursor.next_page = step.next_state.model_dump_json(exclude_defaults=True)
        else:
            cursor.next_page = None
            cursor.watermark = step.watermark
            cursor.watermark_seen = step.watermark_seen or {}
            cursor.etag = step.etag
            if step.etags is not None:
                cursor.etags = step.etags
            cursor.last_pass_completed_at = datetime.now(UTC)
        return BackfillPageResult(
            cursor=cursor,
            fetched=step.fetched,
            inserted=counts[UpsertOutcome.INSERTED],
            updated=counts[UpsertOutcome.UPDATED],
            unchanged=counts[UpsertOutcome.UNCHANGED],
            stale=counts[UpsertOutcome.STALE],
            tied=counts[UpsertOutcome.TIED],
            not_modified=step.not_modified,
            done=cursor.next_page is None,
            budget=budget_of(provider.client.tightest_rate_limit()),
            requests=step.requests,
            seen_since=cursor.pass_started_at,
        )

    @activity.defn(name=TOMBSTONE_UNSEEN_ACTIVITY)
    async def tombstone_unseen(self, input: TombstoneInput) -> TombstoneResult:
        """After a complete full pass of a scope: mark the rows it did not see as deleted."""
        scope = input.scope
        tables = TOMBSTONE_TABLES.get(scope.resource_kind)
        if tables is None:
            raise ApplicationError(
                f"no tombstones for resource kind {scope.resource_kind!r}",
                type=CONFIGURATION_ERROR,
                non_retryable=True,
            )
        full_name = f"{scope.owner}/{scope.repository}"

        def mark(session: Any) -> int:
            marked = 0
            # issue 9 (renames): the rows live under the repository's current name.
            known = resolve_repository(
                session,
                org=input.binding.org,
                provider_ref=input.binding.provider,
                full_name=full_name,
            )
            current = known.full_name if known else full_name
            for table, extra in tables:
                where: dict[str, str] = (
                    {"repository": current}
                    if table is not Repository
                    else {"native_id": known.native_id}
                    if known
                    else {"full_name": full_name}
                )
                marked += mark_unseen_deleted(
                    session,
                    table,
                    org=input.binding.org,
                    provider_ref=input.binding.provider,
                    seen_since=input.seen_since,
                    scope={**where, **extra},
                )
                # issue 9: the links of what was just tombstoned become Orphaned.
                orphan_scope_links(
                    session,
                    table,
                    org=input.binding.org,
                    provider_ref=input.binding.provider,
                    scope={**where, **extra},
                )
            return marked

        return TombstoneResult(marked=await self._read_store(mark))
