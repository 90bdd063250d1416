"""A pull request's checks: the pipelines that ran on its head commit (the `pull_request_checks`
view of migration 0006), with their jobs.

Workflow runs, check suites (Buildkite, CircleCI, Jenkins reporting as GitHub apps) and commit
statuses are all pipelines that name the commit they ran on (`sha`); a pull request names its
head commit (`head_sha`). The view joins the two, so a push to the pull request moves its checks
to the new commit's pipelines with no stored link to rewrite.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Table, column, select, table
from sqlalchemy.orm import Session

from store.models.projections import Job

# The view is not a table of the models (migrations own it, and the schema check compares
# tables only), so it is named here as a lightweight table clause.
CHECKS_VIEW = table(
    "pull_request_checks",
    column("org"),
    column("provider_ref"),
    column("binding_ref"),
    column("repository"),
    column("pull_number"),
    column("head_sha"),
    column("pipeline_id"),
    column("native_kind"),
    column("native_id"),
    column("name"),
    column("status"),
    column("conclusion"),
    column("phase"),
    column("url"),
    column("external_updated_at"),
)

JOBS: Table = Job.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models

CHECK_FIELDS = ("native_kind", "native_id", "name", "status", "conclusion", "phase", "url")


def checks_of(
    session: Session, *, org: str, provider_ref: str, repository: str, numbers: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Pull request number -> its checks (`{nativeKind, nativeId, name, status, conclusion,
    phase, url, jobs: [{name, status, conclusion, phase}]}`), oldest pipeline first."""
    if not numbers:
        return {}
    v = CHECKS_VIEW.c
    rows = session.execute(
        select(CHECKS_VIEW)
        .where(
            v.org == org,
            v.provider_ref == provider_ref,
            v.repository == repository,
            v.pull_number.in_(numbers),
        )
        .order_by(v.pull_number, v.pipeline_id)
    ).mappings()
    found = [dict(r) for r in rows]
    jobs = _jobs(session, org, provider_ref, repository, {r["native_id"] for r in found})
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in found:
        check = {_camel(f): row[f] for f in CHECK_FIELDS}
        check["jobs"] = jobs.get(row["native_id"], [])
        out[int(row["pull_number"])].append(check)
    return dict(out)


def _jobs(
    session: Session, org: str, provider_ref: str, repository: str, pipelines: set[str]
) -> dict[str, list[dict[str, Any]]]:
    if not pipelines:
        return {}
    j = JOBS.c
    statement = (
        select(j.pipeline_native_id, j.name, j.status, j.conclusion, j.phase)
        .where(
            j.org == org,
            j.provider_ref == provider_ref,
            j.repository == repository,
            j.pipeline_native_id.in_(pipelines),
            j.deleted_at.is_(None),
        )
        .order_by(j.id)
    )
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pipeline, name, status, conclusion, phase in session.execute(statement):
        out[pipeline].append(
            {"name": name, "status": status, "conclusion": conclusion, "phase": phase}
        )
    return dict(out)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
