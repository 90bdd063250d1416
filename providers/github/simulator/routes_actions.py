"""GitHub Actions: workflow runs and their jobs, re-run and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from providers.github.simulator import serializers as ser
from providers.github.simulator.clock import parse_iso
from providers.github.simulator.context import ApiError, Ctx, Result, not_found
from providers.github.simulator.models import WorkflowRun
from providers.github.simulator.routes_issues import invalid
from providers.github.simulator.routing import Route
from providers.github.simulator.state import Repo

CONCLUSIONS = {
    "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required",
    "stale", "startup_failure",
}  # fmt: skip
STATUSES = {"queued", "in_progress", "completed", "requested", "waiting", "pending"}


def _created_filter(raw: str) -> tuple[datetime | None, datetime | None]:
    """GitHub's search-style date qualifier: `>=D`, `<=D`, `>D`, `<D`, `D..D` or `D`."""

    def day(text: str, end: bool) -> datetime:
        parsed = parse_iso(text if "T" in text else f"{text}T{'23:59:59' if end else '00:00:00'}")
        if parsed is None:
            raise invalid("created", "WorkflowRun")
        return parsed

    if ".." in raw:
        low, high = raw.split("..", 1)
        return (None if low == "*" else day(low, False), None if high == "*" else day(high, True))
    for prefix in (">=", "<=", ">", "<"):
        if raw.startswith(prefix):
            value = raw[len(prefix) :]
            return (day(value, False), None) if prefix[0] == ">" else (None, day(value, True))
    return day(raw, False), day(raw, True)


async def list_runs(ctx: Ctx) -> Result:
    repo = ctx.repo()
    branch, event, actor = ctx.query("branch"), ctx.query("event"), ctx.query("actor")
    status, head_sha, created = ctx.query("status"), ctx.query("head_sha"), ctx.query("created")
    if status is not None and status not in STATUSES | CONCLUSIONS:
        raise invalid("status", "WorkflowRun")
    low, high = _created_filter(created) if created else (None, None)

    def keep(run: WorkflowRun) -> bool:
        if branch is not None and run.head_branch != branch:
            return False
        if event is not None and run.event != event:
            return False
        if actor is not None and run.actor.login.lower() != actor.lower():
            return False
        if head_sha is not None and run.head_sha != head_sha:
            return False
        if status is not None and status not in (run.status, run.conclusion):
            return False
        if low is not None and run.created_at < low:
            return False
        return high is None or run.created_at <= high

    def build() -> list[WorkflowRun]:
        return sorted((r for r in repo.runs.values() if keep(r)), key=lambda r: -r.id)

    items = repo.view(("runs", branch, event, actor, status, head_sha, created), build)
    return ctx.paginate(
        items,
        lambda r: ser.workflow_run(r, repo, ctx.base),
        lambda page, total: {"total_count": total, "workflow_runs": page},
    )


def _run(ctx: Ctx, repo: Repo) -> WorkflowRun:
    found = repo.runs.get(ctx.int_param("run_id"))
    if found is None:
        raise not_found()
    return found


async def get_run(ctx: Ctx) -> Result:
    repo = ctx.repo()
    return Result(200, ser.workflow_run(_run(ctx, repo), repo, ctx.base))


async def list_jobs(ctx: Ctx) -> Result:
    repo = ctx.repo()
    run = _run(ctx, repo)
    if ctx.query("filter", "latest") not in ("latest", "all"):
        raise invalid("filter", "WorkflowJob")

    def wrap(page: list[Any], total: int) -> dict[str, Any]:
        return {"total_count": total, "jobs": page}

    return ctx.paginate(run.jobs, lambda j: ser.job(j, run, repo, ctx.base), wrap)


async def get_job(ctx: Ctx) -> Result:
    repo = ctx.repo()
    job_id = ctx.int_param("job_id")
    for run in repo.runs.values():
        for job in run.jobs:
            if job.id == job_id:
                return Result(200, ser.job(job, run, repo, ctx.base))
    raise not_found()


async def rerun(ctx: Ctx) -> Result:
    repo = ctx.repo()
    run = _run(ctx, repo)
    if run.status != "completed":
        raise ApiError(403, "This workflow is already running")
    ctx.state.rerun(repo, run, ctx.actor)
    return Result(201, {})


async def cancel(ctx: Ctx) -> Result:
    repo = ctx.repo()
    run = _run(ctx, repo)
    try:
        ctx.state.cancel(repo, run, ctx.actor)
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    return Result(202, {})


P = "/repos/{owner}/{repo}/actions/runs"
ROUTES: list[Route] = [
    Route("GET", P, list_runs),
    Route("GET", f"{P}/{{run_id:int}}", get_run),
    Route("GET", f"{P}/{{run_id:int}}/jobs", list_jobs),
    Route("POST", f"{P}/{{run_id:int}}/rerun", rerun),
    Route("POST", f"{P}/{{run_id:int}}/cancel", cancel),
    Route("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id:int}", get_job),
]
