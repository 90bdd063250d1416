"""The adapter's GraphQL reads against the simulator (in process): the same `External*` objects
as the REST reads of the same objects, follow-up pages, the REST probe, and GraphQL answers
mapped onto the provider errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from providers.base import (
    Cursor,
    ExternalJob,
    ProviderNotFound,
    ProviderTransientError,
    ProviderValidationError,
    RateLimited,
    RepoRef,
)
from providers.github import GitHubCredentials, GitHubProvider
from providers.github.graphql import classify_errors, graphql_url
from providers.github.simulator import SimulatorConfig, create_app
from providers.github.simulator.app import Simulator
from providers.github.simulator.models import Job, Review

BASE = "http://github-sim.test"
UNTIL = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
async def world() -> AsyncIterator[tuple[Simulator, GitHubProvider, RepoRef]]:
    sim = create_app(
        SimulatorConfig(base_url=BASE),
        repos=1,
        issues=150,
        pulls=60,
        reviews=2,
        runs=6,
        jobs=3,
        until=UNTIL,
    )
    async with GitHubProvider.connect(
        GitHubCredentials(token="sim-token"),
        base_url=BASE,
        transport=httpx.ASGITransport(app=sim),
    ) as github:
        repo = RepoRef.parse(next(iter(sim.state.repos.values())).full_name)
        yield sim, github, repo


async def test_issues_equal_their_rest_reads(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    _sim, github, repo = world
    rest = {}
    cursor: Cursor | None = None
    while True:
        page = await github.list_issues(repo, cursor)
        rest.update({i.number: i for i in page.items if i.kind == "issue"})
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    graph = {}
    after = None
    while True:
        gpage = await github.graphql_issues(repo, after=after)
        graph.update({i.number: i for i in gpage.items})
        if not gpage.has_next:
            break
        after = gpage.end_cursor
    assert len(rest) == 150
    assert graph == rest  # every field, envelope and extensions included


async def test_pull_requests_and_reviews_equal_their_rest_reads(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    _sim, github, repo = world
    rest = {}
    cursor: Cursor | None = None
    while True:
        page = await github.list_pull_requests(repo, cursor)
        rest.update({p.number: p for p in page.items})
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    first = await github.graphql_pull_requests(repo)
    assert not first.has_next
    assert first.requests == 1
    assert {item.pull.number: item.pull for item in first.items} == rest
    reviews = 0
    for item in first.items:
        assert item.reviews == (await github.list_reviews(repo, item.pull.number)).items
        reviews += len(item.reviews)
    assert reviews > 60  # about two a pull request


async def test_jobs_equal_their_rest_reads_but_for_what_graphql_lacks(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    _sim, github, repo = world
    runs = (await github.list_pipelines(repo)).items
    jobs, requests = await github.graphql_jobs(repo, runs)
    assert requests == 1  # six runs, one query
    rest: list[ExternalJob] = []
    for run in runs:
        rest += (await github.list_jobs(repo, run.external.native_id)).items
    assert len(jobs) == len(rest) == 18

    def comparable(job: ExternalJob) -> dict[str, object]:
        # GitHub's GraphQL API has no runner, labels or creation time for a check run.
        data = job.model_dump(exclude={"runner_name", "labels"})
        fields = data["external"]["extensions"]["fields"]
        for key in ("runner_id", "runner_group_id", "runner_group_name", "created_at"):
            fields.pop(key, None)
        return data

    assert [comparable(j) for j in jobs] == [comparable(j) for j in rest]
    assert any(j.runner_name for j in rest)
    assert not any(j.runner_name for j in jobs)


async def test_long_review_and_job_lists_are_followed(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    sim, github, repo = world
    state = next(iter(sim.state.repos.values()))
    pull = min((i for i in state.issues.values() if i.pull), key=lambda i: i.number)
    author = next(iter(sim.state.users.values()))
    for n in range(130):
        state.reviews_by_pull.setdefault(pull.number, []).append(
            Review(
                id=1_900_000_000 + n,
                pull_number=pull.number,
                user=author,
                body=f"review {n}",
                state="COMMENTED",
                commit_id=pull.pull.head_sha if pull.pull else "",
                submitted_at=pull.created_at + timedelta(minutes=n),
            )
        )
    run = min(state.runs.values(), key=lambda r: r.id)
    template = run.jobs[0]
    for n in range(60):
        job = Job(
            id=40_000_000_000 + n,
            run_id=run.id,
            name=f"matrix {n}",
            status=template.status,
            conclusion=template.conclusion,
            created_at=template.created_at,
            started_at=template.started_at,
            completed_at=template.completed_at,
            steps=list(template.steps),
        )
        run.jobs.append(job)
        state.jobs[job.id] = job
    state.touch()

    found = {}
    after = None
    requests = 0
    while True:
        page = await github.graphql_pull_requests(repo, after=after)
        requests += page.requests
        found.update({i.pull.number: i.reviews for i in page.items})
        if not page.has_next:
            break
        after = page.end_cursor
    total = len(state.reviews_by_pull[pull.number])
    assert len(found[pull.number]) == total >= 130
    assert requests == 1 + 1  # one page of pull requests, one follow-up for the long one
    jobs, job_requests = await github.graphql_jobs(
        repo,
        [
            r
            for r in (await github.list_pipelines(repo)).items
            if r.external.native_id == str(run.id)
        ],
    )
    assert len(jobs) == len(run.jobs) > 60
    assert job_requests == 2  # the run's first 50 jobs, then the rest


async def test_probe_answers_304_until_the_listing_changes(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    sim, github, repo = world
    first = await github.probe(repo, "issues", None)
    assert not first.not_modified
    assert first.etag
    again = await github.probe(repo, "issues", first.etag)
    assert again.not_modified
    assert again.etag == first.etag
    state = next(iter(sim.state.repos.values()))
    oldest = min(state.issues.values(), key=lambda i: i.updated_at)
    sim.state.update_issue(state, oldest, oldest.user, {"title": "moved to the top"})
    changed = await github.probe(repo, "issues", first.etag)
    assert not changed.not_modified
    assert changed.etag != first.etag


async def test_graphql_answers_map_onto_provider_errors(
    world: tuple[Simulator, GitHubProvider, RepoRef],
) -> None:
    sim, github, repo = world
    with pytest.raises(ProviderNotFound, match="Could not resolve to a Repository"):
        await github.graphql_issues(RepoRef(owner="nobody", name="nothing"))
    await github.graphql_issues(repo)
    bucket = sim.requests[-1]["bucket"]
    sim.ratelimiter.configure(key=bucket, remaining=0, reset_in=90)
    with pytest.raises(RateLimited) as limited:
        await github.graphql_issues(repo)
    assert limited.value.resource == "graphql"
    assert limited.value.reset_at is not None
    assert limited.value.reset_at > datetime.now(UTC) + timedelta(seconds=60)
    assert not limited.value.secondary
    # The activity paces itself on the bucket closest to running out.
    assert github.client.tightest_rate_limit().resource == "graphql"
    sim.ratelimiter.configure(key=bucket, remaining=100)
    sim.ratelimiter.trip_secondary(retry_after=45)
    with pytest.raises(RateLimited) as secondary:
        await github.graphql_issues(repo)
    assert secondary.value.secondary
    assert secondary.value.retry_after == 45


def test_older_rate_limit_type_and_server_trouble_are_classified() -> None:
    response = httpx.Response(
        200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1900000000"}
    )
    limited = classify_errors(
        [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}], response
    )
    assert isinstance(limited, RateLimited)
    assert limited.reset_at == datetime.fromtimestamp(1900000000, UTC)
    trouble = classify_errors(
        [{"message": "Something went wrong while executing your query. Please try again."}],
        httpx.Response(200),
    )
    assert isinstance(trouble, ProviderTransientError)
    wrong = classify_errors(
        [{"type": "MAX_NODE_LIMIT_EXCEEDED", "message": "This query requests up to ..."}],
        httpx.Response(200),
    )
    assert isinstance(wrong, ProviderValidationError)


def test_graphql_endpoint_follows_the_api_base() -> None:
    assert graphql_url("https://api.github.com") == "/graphql"
    assert graphql_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/graphql"
    assert graphql_url("http://127.0.0.1:8787") == "/graphql"
