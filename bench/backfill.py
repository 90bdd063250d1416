"""Backfill throughput: BindingSyncWorkflow on the Temporal dev server against a plain loop of
the same activity code, in the same run, on the same simulated GitHub.

    python bench/backfill.py --objects 20000 --json

1. The GitHub simulator runs in a process of its own, seeded with about N objects (issues and
   pull requests mostly, one review per pull request on average, a few runs with jobs, refs,
   keys, collaborators, branch protection).
2. Temporal path: a worker in this process (the real `activities.build_activities(settings)`)
   and `BindingSyncWorkflow` with every interface; timed from `start_workflow` to the `status`
   query showing the first pass complete. Then `sync_now` on an unchanged world: the share of
   304 answers in that pass is `incremental_304_ratio`.
3. Plain loop: the same `BackfillActivities.backfill_page`, called directly scope after scope
   (no Temporal), into a fresh database.

`ratio` = temporal objects/s ÷ plain objects/s. Requests come from the simulator's request
log: REST listings (probes included), GraphQL queries (by operation: issues, pull requests with
their reviews, jobs of runs), and any REST per-pull-request review or per-run job read (none
since those come through GraphQL; docs/backfill.md). Prints a table on stderr, one JSON
object on stdout (with --json), and writes the JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import _common
from netports import free_port

ORG = "bench"
NAMESPACE = "krate-org-bench"
SECRET = "github-token"
JOBS_PATH = re.compile(r"/actions/runs/\d+/jobs$")
REVIEWS_PATH = re.compile(r"/pulls/\d+/reviews$")
PASS_TIMEOUT_S = 1800.0


def seed_shape(objects: int, *, reviews_and_jobs: bool = True) -> dict[str, Any]:
    """SeedConfig fields for about `objects` projected objects.

    Default shape per repository of n objects: 60 % issues, 18 % pull requests with one review
    each on average (another 18 %), 1 % runs with 3 jobs each, plus refs, keys, collaborators
    and protection. Without reviews and jobs: issues only (what a listing costs on its own).
    """
    repos = max(1, min(4, objects // 5000))
    n = objects / repos
    if reviews_and_jobs:
        issues, pulls, runs = round(0.60 * n), round(0.18 * n), max(2, round(0.01 * n))
    else:
        issues, pulls, runs = round(0.98 * n), 0, 0
    return {
        "seed": 7,
        "owners": ["krate-bench"],
        "repos": repos,
        "issues": issues,
        "pulls": pulls,
        "comments": 0,
        "reviews": 1 if reviews_and_jobs else 0,
        "review_comments": 0,
        "runs": runs,
        "jobs": 3,
        "branches": 5,
        "tags": 3,
        "commits": 30,
    }


# GraphQL queries that read reviews or jobs only (the rest read issues or pull requests).
SUB_OPERATIONS = ("KrateRunJobs", "KrateMoreJobs", "KrateMoreSteps", "KrateMoreReviews")


def classify(entry: dict[str, Any]) -> str:
    path = entry["path"]
    if path == "/graphql":
        return "graphql"
    if REVIEWS_PATH.search(path):
        return "reviews"
    if JOBS_PATH.search(path):
        return "jobs"
    return "listings"


def request_summary(log: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "total": len(log),
        "not_modified": 0,
        "listings": 0,
        "graphql": 0,
        "reviews": 0,
        "jobs": 0,
        "operations": {},
    }
    for entry in log:
        kind = classify(entry)
        summary[kind] += 1
        summary["not_modified"] += int(bool(entry.get("not_modified")))
        if kind == "graphql":
            name = str(entry.get("operation"))
            summary["operations"][name] = summary["operations"].get(name, 0) + 1
    return summary


def row_counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from store.db import make_engine, session_scope
    from store.models.projections import PROJECTION_TABLES

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return {
                str(table.__tablename__): int(
                    session.execute(select(func.count()).select_from(table)).scalar_one()
                )
                for table in PROJECTION_TABLES
            }
    finally:
        engine.dispose()


class Simulator:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=120)

    def clear_log(self) -> None:
        self.http.delete("/_sim/requests").raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        answer = self.http.get("/_sim/requests")
        answer.raise_for_status()
        requests: list[dict[str, Any]] = answer.json()["requests"]
        return requests

    def counts(self) -> dict[str, Any]:
        answer = self.http.get("/_sim/counts")
        answer.raise_for_status()
        counts: dict[str, Any] = answer.json()
        return counts

    def repositories(self, owner: str) -> list[tuple[str, str]]:
        answer = self.http.get(f"/_sim/api/orgs/{owner}/repos", params={"per_page": 100})
        answer.raise_for_status()
        return sorted((r["owner"]["login"], r["name"]) for r in answer.json())


def binding(base_url: str) -> Any:
    from activities.backfill_models import BindingRef

    return BindingRef(
        org=ORG,
        namespace=NAMESPACE,
        binding=f"bench-{uuid.uuid4().hex[:8]}",
        provider="github-bench",
        provider_type="github",
        api_base_url=base_url,
        auth_secret=SECRET,
    )


def sync_config(base_url: str, repositories: list[tuple[str, str]]) -> Any:
    from workflows.binding_sync import INTERFACE_KINDS, BindingSyncConfig, InterfaceConfig

    return BindingSyncConfig(
        binding=binding(base_url),
        interfaces=[InterfaceConfig(name=name) for name in INTERFACE_KINDS],
        repositories=repositories,
        backfill_interval=timedelta(hours=6),
        per_page=100,
    )


async def wait_for_pass(handle: Any, passes: int, within: float) -> Any:
    from workflows.binding_sync import BindingSyncWorkflow

    deadline = time.monotonic() + within
    while True:
        status = await handle.query(BindingSyncWorkflow.status)
        if status.passes >= passes and status.phase in ("Ready", "Degraded"):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"pass {passes} not complete after {within} s: {status.phase}")
        await asyncio.sleep(0.1)


async def temporal_path(
    env: Any, sim: Simulator, config: Any, database_url: str, secrets_dir: Path
) -> dict[str, Any]:
    from temporalio.worker import Worker

    from activities import build_activities
    from settings import Settings
    from workflows.binding_sync import BindingSyncInput, BindingSyncWorkflow

    settings = Settings(database_url=database_url, secrets_dir=secrets_dir)
    task_queue = f"bench-{uuid.uuid4()}"
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[BindingSyncWorkflow],
        activities=build_activities(settings),
        activity_executor=ThreadPoolExecutor(16),
    )
    result: dict[str, Any] = {}
    async with worker:
        sim.clear_log()
        started = time.monotonic()
        handle = await env.client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/{ORG}/{config.binding.binding}",
            task_queue=task_queue,
        )
        status = await wait_for_pass(handle, 1, PASS_TIMEOUT_S)
        result["seconds"] = time.monotonic() - started
        result["requests"] = request_summary(sim.log())
        result["scope_errors"] = dict(status.scope_errors)
        result["pages"] = sum(c.pages for c in status.cursors)
        # An unchanged incremental pass: every listing should answer 304.
        sim.clear_log()
        started = time.monotonic()
        await handle.signal(BindingSyncWorkflow.sync_now)
        await wait_for_pass(handle, 2, 300)
        result["incremental_seconds"] = time.monotonic() - started
        result["incremental_requests"] = request_summary(sim.log())
        await handle.terminate("benchmark done")
    return result


async def plain_path(
    sim: Simulator, config: Any, database_url: str, secrets_dir: Path
) -> dict[str, Any]:
    """The same activity code, called directly: scope after scope, page after page."""
    from temporalio.testing import ActivityEnvironment

    from activities.backfill import BackfillActivities
    from activities.backfill_models import BackfillPageInput, ScopeCursor
    from activities.provider_factory import ProviderFactory
    from store.db import make_engine
    from workflows.binding_sync import scopes_for

    engine = make_engine(database_url)
    acts = BackfillActivities(lambda: engine, ProviderFactory(secrets_dir))
    env = ActivityEnvironment()
    pages = 0
    errors: dict[str, str] = {}
    sim.clear_log()
    started = time.monotonic()
    try:
        for scope in scopes_for(config):
            cursor = ScopeCursor(scope=scope)
            for _ in range(10_000):
                try:
                    page = await env.run(
                        acts.backfill_page,
                        BackfillPageInput(
                            binding=config.binding, cursor=cursor, per_page=config.per_page
                        ),
                    )
                except Exception as error:
                    errors[scope.key] = str(error)
                    break
                pages += 1
                cursor = page.cursor
                if page.done:
                    break
        seconds = time.monotonic() - started
    finally:
        engine.dispose()
    return {
        "seconds": seconds,
        "pages": pages,
        "requests": request_summary(sim.log()),
        "scope_errors": errors,
    }


async def run(objects: int, reviews_and_jobs: bool) -> dict[str, Any]:
    shape = seed_shape(objects, reviews_and_jobs=reviews_and_jobs)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="krate-bench-") as tmp:
        secrets_dir = Path(tmp) / "secrets"
        token = secrets_dir / NAMESPACE / SECRET / "token"
        token.parent.mkdir(parents=True)
        token.write_text("sim-token\n")
        _common.log(f"seeding the simulator: {json.dumps(shape)}")
        with (
            _common.child(
                ["-m", "bench._simserver", "--port", str(port), "--seed", json.dumps(shape)],
                ready_url=f"{base_url}/_sim/health",
                ready_timeout=300,
                name="simulator",
                log_path=Path(tmp) / "simulator.log",
            ),
            _common.postgres_server() as server,
            _common.scratch_database(server) as temporal_db,
            _common.scratch_database(server) as plain_db,
        ):
            sim = Simulator(base_url)
            repositories = sim.repositories(shape["owners"][0])
            if not repositories:
                raise RuntimeError("the simulator lists no repositories")
            config = sync_config(base_url, repositories)
            env = await _common.start_dev_server()
            try:
                _common.log("Temporal path: BindingSyncWorkflow, first pass")
                temporal = await temporal_path(env, sim, config, temporal_db, secrets_dir)
            finally:
                await env.shutdown()
            _common.log(f"Temporal path: {temporal['seconds']:.1f} s; now the plain loop")
            plain = await plain_path(sim, config, plain_db, secrets_dir)
            _common.log(f"plain loop: {plain['seconds']:.1f} s")
            temporal_rows, plain_rows = row_counts(temporal_db), row_counts(plain_db)
            sim_counts = sim.counts()
    count = sum(temporal_rows.values())
    reviews_jobs_rows = temporal_rows.get("reviews", 0) + temporal_rows.get("jobs", 0)
    first = temporal["requests"]
    incremental = temporal["incremental_requests"]
    temporal_rate = count / temporal["seconds"]
    plain_rate = sum(plain_rows.values()) / plain["seconds"]
    listing_objects = count - reviews_jobs_rows
    # Requests that read reviews or jobs alone: REST per pull request / per run, or GraphQL.
    sub_reads = (
        first["reviews"]
        + first["jobs"]
        + sum(first["operations"].get(name, 0) for name in SUB_OPERATIONS)
    )
    return {
        "benchmark": "backfill",
        "objects": count,
        "objects_requested": objects,
        "seed": shape,
        "simulator_counts": sim_counts,
        "rows": temporal_rows,
        "projections_match": temporal_rows == plain_rows,
        "temporal_seconds": round(temporal["seconds"], 2),
        "plain_seconds": round(plain["seconds"], 2),
        "temporal_objects_per_s": round(temporal_rate, 1),
        "plain_objects_per_s": round(plain_rate, 1),
        "ratio": round(temporal_rate / plain_rate, 3),
        "pages": temporal["pages"],
        "requests": first["total"],
        "requests_per_object": round(first["total"] / count, 4),
        "requests_breakdown": {k: first[k] for k in ("listings", "graphql", "reviews", "jobs")},
        "graphql_operations": first["operations"],
        "listing_requests_per_object": round(
            (first["total"] - sub_reads) / max(1, listing_objects), 4
        ),
        "plain_requests": plain["requests"]["total"],
        "incremental_requests": incremental["total"],
        "incremental_304": incremental["not_modified"],
        "incremental_304_ratio": round(
            incremental["not_modified"] / max(1, incremental["total"]), 4
        ),
        "incremental_seconds": round(temporal["incremental_seconds"], 2),
        "scope_errors": {**temporal["scope_errors"], **plain["scope_errors"]},
        "order": "temporal first, then plain (same simulator process)",
        "machine": _common.machine(),
    }


def human(result: dict[str, Any]) -> str:
    rows = [
        ("objects", result["objects"]),
        (
            "Temporal path",
            f"{result['temporal_objects_per_s']} objects/s ({result['temporal_seconds']} s)",
        ),
        ("plain loop", f"{result['plain_objects_per_s']} objects/s ({result['plain_seconds']} s)"),
        ("ratio (temporal / plain)", result["ratio"]),
        ("requests, first pass", f"{result['requests']} {result['requests_breakdown']}"),
        ("requests per object", result["requests_per_object"]),
        ("listing requests per listed object", result["listing_requests_per_object"]),
        (
            "unchanged pass",
            f"{result['incremental_304']}/{result['incremental_requests']} answered 304",
        ),
        ("projections equal", result["projections_match"]),
    ]
    return "backfill benchmark\n" + _common.table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=5000, help="about this many objects")
    parser.add_argument("--json", action="store_true", help="print the JSON object on stdout")
    parser.add_argument(
        "--no-reviews-jobs",
        action="store_true",
        help="seed issues only: no pull requests (with reviews) and no runs (with jobs), "
        "so requests are issue reads alone",
    )
    args = parser.parse_args(argv)
    with _common.stdout_reserved() as stdout:
        result = asyncio.run(run(args.objects, not args.no_reviews_jobs))
        result["command"] = " ".join(["python", "bench/backfill.py", *(argv or sys.argv[1:])])
        path = _common.write_result("backfill", result)
        print(human(result), file=sys.stderr)
        print(f"  written to {path.relative_to(_common.REPO_ROOT)}", file=sys.stderr)
        if args.json:
            print(json.dumps(result, sort_keys=True), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
