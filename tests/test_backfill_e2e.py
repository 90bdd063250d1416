"""End to end: BindingSyncWorkflow on the real dev server, the real activities, a real Postgres
and the GitHub simulator over a socket.

3 repositories holding 2,001 issues and pull requests, plus comments, reviews, runs and jobs:
the first pass projects every object exactly once with its envelope; after 10 changes an
incremental pass reads only the listings that changed (everything else answers 304); and a
fresh walk with 10 % of requests failing with a 5xx still ends with the exact projection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import build_activities
from activities.backfill_models import MirrorSyncStateInput, SyncCondition
from activities.sync_state import SyncStateActivities
from providers.github.simulator import RunningSimulator, SeedConfig, SimulatorConfig
from providers.github.simulator.app import Simulator
from providers.github.simulator.server import start_in_thread
from settings import Settings
from store.db import make_engine, session_scope
from store.models.projections import (
    PROJECTION_TABLES,
    BranchProtection,
    Comment,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Pipeline,
    PullRequest,
    Repository,
    RepositoryPermission,
    Review,
)
from store.resources import get_resources
from tests.helpers.temporal import new_worker
from tests.test_backfill_support import ORG, PROVIDER, binding_ref, rows, write_token_secret
from workflows.binding_sync import (
    INTERFACE_KINDS,
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncStatus,
    BindingSyncWorkflow,
    InterfaceConfig,
)

SEED = SeedConfig(
    seed=11,
    owners=["krate-e2e"],
    repos=3,
    issues=467,
    pulls=200,  # 3 × 667 = 2,001 issues and pull requests
    comments=1,
    reviews=1,
    review_comments=0,
    runs=20,
    jobs=3,
    until=datetime(2026, 11, 1, tzinfo=UTC),
)
PASS_TIMEOUT = 300.0


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    running = start_in_thread(Simulator(SimulatorConfig(seed=SEED)))
    try:
        yield running
    finally:
        running.stop()


async def _wait_for_pass(handle: WorkflowHandle[Any, Any], passes: int) -> BindingSyncStatus:
    deadline = time.monotonic() + PASS_TIMEOUT
    while True:
        status = await handle.query(BindingSyncWorkflow.status)
        if status.passes >= passes and status.phase in ("Ready", "Degraded"):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"pass {passes} not done: {status.model_dump_json()}")
        await asyncio.sleep(0.5)


def _expected(sim: Simulator) -> dict[str, set[tuple[Any, ...]]]:
    """The simulator's world as the identities and versions the projection must hold."""
    issues: set[tuple[Any, ...]] = set()
    pulls: set[tuple[Any, ...]] = set()
    comments: set[tuple[Any, ...]] = set()
    reviews: set[tuple[Any, ...]] = set()
    runs: set[tuple[Any, ...]] = set()
    jobs: set[tuple[Any, ...]] = set()
    refs: set[tuple[Any, ...]] = set()
    for repo in sim.state.repos.values():
        name = f"{repo.owner.login}/{repo.name}"
        for i in repo.issues.values():
            if i.pull is None:
                issues.add((name, i.number, str(i.id), i.title, i.updated_at))
            else:
                pulls.add((name, i.number, str(i.pull.id), i.title, i.updated_at))
        comments |= {(name, str(c.id), c.updated_at) for c in repo.comments.values()}
        reviews |= {
            (name, n, str(r.id)) for n, found in repo.reviews_by_pull.items() for r in found
        }
        runs |= {(name, str(r.id), r.updated_at) for r in repo.runs.values()}
        jobs |= {(name, str(j.id), str(j.run_id)) for j in repo.jobs.values()}
        refs |= {(name, "branch", b) for b in repo.branches}
        refs |= {(name, "tag", t) for t in repo.tags}
    return {
        "issues": issues,
        "pulls": pulls,
        "comments": comments,
        "reviews": reviews,
        "runs": runs,
        "jobs": jobs,
        "refs": refs,
    }


def _projected(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    engine = make_engine(database_url)
    try:
        live = {"deleted_at": None}
        return {
            "issues": {
                (r.repository, r.number, r.native_id, r.title, r.external_updated_at)
                for r in rows(engine, Issue, **live)
            },
            "pulls": {
                (r.repository, r.number, r.native_id, r.title, r.external_updated_at)
                for r in rows(engine, PullRequest, **live)
            },
            "comments": {
                (r.repository, r.native_id, r.external_updated_at)
                for r in rows(engine, Comment, **live)
            },
            "reviews": {
                (r.repository, r.pull_number, r.native_id) for r in rows(engine, Review, **live)
            },
            "runs": {
                (r.repository, r.native_id, r.external_updated_at)
                for r in rows(engine, Pipeline, **live)
            },
            "jobs": {
                (r.repository, r.native_id, r.pipeline_native_id) for r in rows(engine, Job, **live)
            },
            "refs": {(r.repository, r.kind, r.name) for r in rows(engine, GitRef, **live)},
        }
    finally:
        engine.dispose()


def _row_counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        return {t.__tablename__: len(rows(engine, t)) for t in PROJECTION_TABLES}  # type: ignore[misc]
    finally:
        engine.dispose()


def _assert_exact(sim: Simulator, database_url: str) -> None:
    expected, projected = _expected(sim), _projected(database_url)
    for kind in expected:
        missing = expected[kind] - projected[kind]
        extra = projected[kind] - expected[kind]
        assert not missing, (kind, sorted(missing)[:3])
        assert not extra, (kind, sorted(extra)[:3])
    counts = _row_counts(database_url)
    # Exactly once: one row per object, nothing else (identities are unique in the tables).
    assert counts["issues"] == len(expected["issues"])
    assert counts["pull_requests"] == len(expected["pulls"])
    assert counts["comments"] == len(expected["comments"])
    assert counts["jobs"] == len(expected["jobs"])
    assert counts["repositories"] == len(sim.state.repos)
    repos = list(sim.state.repos.values())
    assert counts["deploy_keys"] == sum(len(r.keys) for r in repos)
    # Users and teams both hold permissions on a repository.
    assert counts["repository_permissions"] == sum(
        len(r.collaborators) + len(r.teams) for r in repos
    )
    protected = sum(1 for r in repos for b in r.branches.values() if b.protection is not None)
    assert counts["branch_protections"] == protected
    assert counts["ref_policies"] == protected  # one policy per protection
    assert counts["labels"] == sum(len(r.labels) for r in repos)
    assert counts["webhook_subscriptions"] == sum(len(r.hooks) for r in repos)


def _check_envelopes(sim: RunningSimulator, database_url: str) -> None:
    engine = make_engine(database_url)
    base = sim.base_url
    try:
        for issue in rows(engine, Issue):
            assert (issue.org, issue.provider_ref, issue.binding_ref) == (
                ORG,
                PROVIDER,
                "github-krate",
            )
            assert (issue.interface, issue.native_kind) == ("issueTracking", "issue")
            assert issue.native_number == issue.number
            assert (
                issue.url == f"{base.replace('api.', '')}/{issue.repository}/issues/{issue.number}"
            )
            assert issue.api_url == f"{base}/repos/{issue.repository}/issues/{issue.number}"
            assert issue.node_id
            assert issue.extensions["providerType"] == "github"
            assert issue.base_snapshot is not None
            assert issue.base_snapshot["title"] == issue.title
        for pr in rows(engine, PullRequest):
            assert (pr.interface, pr.native_kind) == ("gitForge", "pull_request")
            assert pr.api_url == f"{base}/repos/{pr.repository}/pulls/{pr.number}"
            assert pr.sha == pr.head_sha
            assert pr.node_id
        for run in rows(engine, Pipeline):
            assert (run.interface, run.native_kind) == ("cicd", "workflow_run")
            assert run.api_url == f"{base}/repos/{run.repository}/actions/runs/{run.native_id}"
            assert run.sha
        for repo in rows(engine, Repository):
            assert repo.etag  # read with a single conditional GET
            assert repo.api_url == f"{base}/repos/{repo.full_name}"
        assert all(key.key.startswith(("ssh-", "ecdsa-", "sk-")) for key in rows(engine, DeployKey))
        assert all(p.permission for p in rows(engine, RepositoryPermission))
        assert all(bp.settings for bp in rows(engine, BranchProtection))
        # The mapping rules beside the envelope: phases and rich-text bodies.
        assert {i.phase for i in rows(engine, Issue)} == {"Open", "Closed"}
        assert all(i.phase == i.state.capitalize() for i in rows(engine, Issue))
        assert {p.phase for p in rows(engine, PullRequest)} >= {"Open", "Merged"}
        assert all(r.phase for r in rows(engine, Pipeline))
        assert {r.phase for r in rows(engine, Repository)} == {"Active"}
        assert all(
            i.body_source_digest and i.body_format == "markdown"
            for i in rows(engine, Issue)
            if i.body is not None
        )
    finally:
        engine.dispose()


def _truncate_projections(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            names = ", ".join(t.__tablename__ for t in PROJECTION_TABLES)  # type: ignore[misc]
            from sqlalchemy import text

            session.execute(text(f"TRUNCATE {names}"))
    finally:
        engine.dispose()


async def test_github_binding_end_to_end(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    sim = simulator.sim
    write_token_secret(tmp_path)
    settings = Settings(database_url=clean_database, secrets_dir=tmp_path)
    activities = build_activities(settings)
    binding = binding_ref(simulator.base_url)
    repos = sorted((r.owner.login, r.name) for r in sim.state.repos.values())
    config = BindingSyncConfig(
        binding=binding,
        interfaces=[InterfaceConfig(name=name) for name in INTERFACE_KINDS],
        repositories=repos,
        backfill_interval=timedelta(hours=1),
        per_page=100,
    )
    client = dev_server_env.client
    control = httpx.AsyncClient(base_url=simulator.base_url, timeout=30)
    report: dict[str, Any] = {}
    async with new_worker(client, BindingSyncWorkflow, activities=activities) as worker:
        # ---- first pass: everything, exactly once
        started = time.monotonic()
        handle = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/{ORG}/e2e-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        first = await _wait_for_pass(handle, 1)
        report["first_pass_s"] = round(time.monotonic() - started, 1)
        first_requests = len(sim.requests)
        assert not first.scope_errors
        _assert_exact(sim, clean_database)
        _check_envelopes(simulator, clean_database)
        expected = _expected(sim)
        objects = sum(len(v) for v in expected.values())
        report["first_pass_requests"] = first_requests
        report["objects"] = objects
        assert len(expected["issues"]) + len(expected["pulls"]) == 2001

        # The SyncState mirror, from the status the workflow reports.
        mirror = SyncStateActivities(lambda: make_engine(clean_database))
        await ActivityEnvironment().run(
            mirror.mirror_sync_state,
            MirrorSyncStateInput(
                binding=binding,
                phase=first.phase,
                cursors=first.cursors,
                scope_errors=first.scope_errors,
                conditions=[SyncCondition(**c.model_dump()) for c in first.conditions],
                rate_limited_until=first.rate_limited_until,
                last_full_completed_at=first.last_full_completed_at,
            ),
        )
        engine = make_engine(clean_database)
        with session_scope(engine) as session:
            states = get_resources(session, "ExternalSyncState")
        engine.dispose()
        assert len(states) == len(first.cursors) == 36  # 3 repositories × 12 scopes
        assert {s["status"]["phase"] for s in states} == {"Current"}

        # ---- 10 changes, then an incremental pass reads only them
        state = {name: sim.state.repos[name.lower()] for name in ("/".join(r) for r in repos)}

        def numbers(name: str, pulls: bool) -> list[int]:
            return sorted(n for n, i in state[name].issues.items() if (i.pull is not None) == pulls)

        r0, r1, r2 = (f"{o}/{n}" for o, n in repos)
        changes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("PATCH", f"/repos/{r0}/issues/{numbers(r0, False)[0]}", {"title": "changed 1"}),
            ("PATCH", f"/repos/{r0}/issues/{numbers(r0, False)[5]}", {"title": "changed 2"}),
            ("PATCH", f"/repos/{r1}/issues/{numbers(r1, False)[1]}", {"title": "changed 3"}),
            ("PATCH", f"/repos/{r1}/issues/{numbers(r1, False)[-1]}", {"body": "changed 4"}),
            ("PATCH", f"/repos/{r1}/pulls/{numbers(r1, True)[0]}", {"title": "changed 5"}),
            ("PATCH", f"/repos/{r2}/pulls/{numbers(r2, True)[3]}", {"title": "changed 6"}),
            ("PATCH", f"/repos/{r2}/pulls/{numbers(r2, True)[-1]}", {"title": "changed 7"}),
        ]
        runs = sorted(state[r2].runs.values(), key=lambda r: r.id)
        completed = [r for r in runs if r.status == "completed"]
        changes += [
            ("POST", f"/repos/{r2}/actions/runs/{completed[0].id}/rerun", None),
            ("POST", f"/repos/{r2}/actions/runs/{completed[1].id}/rerun", None),
        ]
        comment = min(state[r0].comments)
        changes.append(("PATCH", f"/repos/{r0}/issues/comments/{comment}", {"body": "changed 10"}))
        for method, path, body in changes:
            answer = await control.request(method, f"/_sim/api{path}", json=body)
            assert answer.is_success, (path, answer.text)
        rerun_jobs = len(completed[0].jobs) + len(completed[1].jobs)
        assert (await control.delete("/_sim/requests")).is_success
        await handle.signal(BindingSyncWorkflow.sync_now)
        second = await _wait_for_pass(handle, 2)
        log = (await control.get("/_sim/requests")).json()["requests"]
        full = [r for r in log if not r["not_modified"]]
        not_modified = [r for r in log if r["not_modified"]]
        allowed = {
            f"/repos/{r0}/issues",
            f"/repos/{r0}/issues/comments",
            f"/repos/{r1}/issues",
            f"/repos/{r1}/pulls",
            f"/repos/{r2}/issues",
            f"/repos/{r2}/pulls",
            f"/repos/{r2}/actions/runs",
            "/graphql",  # the changed issues, pull requests with their reviews, jobs
        }
        # (A set: a sub-request retried after a dropped keep-alive connection shows twice.)
        assert {r["path"] for r in full} == allowed
        # The pull requests of r1 and r2 (with reviews) and r2's re-runs' jobs: one query
        # each; issues: r0, r1 and r2 (whose issue listing shows the changed pull requests).
        operations = [r["operation"] for r in full if r["path"] == "/graphql"]
        assert set(operations) == {"KrateIssues", "KratePullRequests", "KrateRunJobs"}
        assert len(operations) <= 6 + 2  # (retries after a dropped connection aside)
        # Every other listing of the 36 scopes (refs read two: 13 per repository) answered 304.
        assert len(not_modified) == 3 * 13 - 7
        report["incremental_requests"] = len(log)
        report["incremental_304"] = len(not_modified)
        assert second.objects_updated - first.objects_updated == 10 + rerun_jobs
        _assert_exact(sim, clean_database)

        # ---- an unchanged pass: one conditional request per listing, all 304
        assert (await control.delete("/_sim/requests")).is_success
        await handle.signal(BindingSyncWorkflow.sync_now)
        await _wait_for_pass(handle, 3)
        log = (await control.get("/_sim/requests")).json()["requests"]
        assert len(log) == 3 * 13  # 12 scopes per repository, refs read two
        assert all(r["not_modified"] for r in log)
        report["unchanged_304_ratio"] = sum(r["not_modified"] for r in log) / len(log)
        await handle.terminate("the faulted walk takes over")

        # ---- a walk from scratch with 10 % of requests failing: still exact
        _truncate_projections(clean_database)
        faults = {"error_ratio": 0.1, "error_statuses": [500, 502, 503], "seed": 3}
        assert (await control.put("/_sim/faults", json=faults)).is_success
        assert (await control.delete("/_sim/requests")).is_success
        started = time.monotonic()
        faulted = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/{ORG}/e2e-faulted-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        status = await _wait_for_pass(faulted, 1)
        report["faulted_pass_s"] = round(time.monotonic() - started, 1)
        log = (await control.get("/_sim/requests")).json()["requests"]
        report["faulted_errors"] = sum(1 for r in log if r["fault"] == "error")
        assert report["faulted_errors"] > 0
        assert not status.scope_errors
        _assert_exact(sim, clean_database)
        await faulted.terminate("done")
    await control.aclose()
    report["requests_per_object"] = round(first_requests / objects, 4)
    print(f"\nbackfill e2e: {report}")
