"""`krate-sync conflicts list|show|resolve|reconcile|edit`: sync conflicts from the command line.

`resolve` sends the ConflictWorkflow's `resolve` update (the same one the Temporal Web UI and
`temporal workflow update` send) with update-with-start, so it works even when the workflow's
start after detection was lost. `edit` records a Krate-side edit of a projected object, what
Krate's UI does when a user edits a synced issue or pull request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy

from activities.conflict_activities import conflict_search_attributes
from activities.conflict_models import (
    DECISIONS,
    ConflictWorkflowInput,
    ResolveInput,
    ResolveResult,
    conflict_workflow_id,
)
from settings import Settings, get_settings
from starter.connection import database_engine, database_session
from starter.errors import InvalidInput
from starter.render import OutputFormat, render
from starter.temporal_client import connect
from workflows.conflict import ConflictWorkflow

conflicts_app = typer.Typer(
    help="Sync conflicts: list, show, resolve; record local edits that may raise them."
)
out = Console(soft_wrap=True)

COLUMNS = (
    ("PROVIDER", "spec.providerRef"),
    ("TARGET", "spec.target.kind"),
    ("OBJECT", "spec.target.name"),
    ("FIELDS", "spec.fields"),
    ("RECOMMENDATION", "spec.recommendation"),
    ("PHASE", "status.phase"),
)

OrgOpt = Annotated[
    str | None, typer.Option("--org", help="The conflict's organization (names are unique).")
]
OutputOpt = Annotated[OutputFormat, typer.Option("-o", "--output")]


def _with_field_paths(doc: dict[str, Any]) -> dict[str, Any]:
    """The table shows field paths, not the whole values."""
    spec = dict(doc.get("spec") or {})
    spec["fields"] = ",".join(str(f.get("path")) for f in spec.get("fields") or [])
    return {**doc, "spec": spec}


@conflicts_app.command("list")
def list_conflicts(
    org: OrgOpt = None,
    phase: Annotated[
        str | None, typer.Option("--phase", help="Open, Resolved, Ignored, Superseded.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Conflicts, oldest first (all phases unless --phase)."""
    from store.conflicts import list_conflicts as stored

    with database_session(get_settings()) as session:
        docs = stored(session, org=org, phase=phase)
    if output is OutputFormat.table:
        if not docs:
            out.print("No conflicts found.", markup=False, highlight=False)
            return
        render(out, [_with_field_paths(d) for d in docs], output, COLUMNS)
        return
    render(out, docs, output)


def _load(session: Session, name: str, org: str | None) -> dict[str, Any]:
    from store.aggregated import manifest_from_row
    from store.conflicts import find_conflict

    row = find_conflict(session, name, org)
    if row is None:
        raise InvalidInput(f"no conflict {name!r}" + (f" in org {org}" if org else ""))
    return manifest_from_row(row)


@conflicts_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The conflict's name.")],
    org: OrgOpt = None,
    output: OutputOpt = OutputFormat.yaml,
) -> None:
    """The whole conflict: target, native URL, each field's base, local and external value,
    last local generation, provider version, the policy's recommendation and the resolution."""
    with database_session(get_settings()) as session:
        doc = _load(session, name, org)
    render(out, [doc], output)


def _values(pairs: list[str]) -> dict[str, Any]:
    """`--value title=Text` (a JSON value is parsed: `--value 'labels=["bug"]'`)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        path, sep, raw = pair.partition("=")
        if not sep or not path:
            raise InvalidInput(f"--value {pair!r}: expected FIELD=VALUE")
        try:
            values[path] = json.loads(raw)
        except json.JSONDecodeError:
            values[path] = raw
    return values


@conflicts_app.command("resolve")
def resolve(
    name: Annotated[str, typer.Argument(help="The conflict's name.")],
    decision: Annotated[str, typer.Argument(help=f"One of: {', '.join(DECISIONS)}.")],
    org: OrgOpt = None,
    value: Annotated[
        list[str] | None,
        typer.Option("--value", help="manual-edit: FIELD=VALUE (repeatable; JSON accepted)."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Kept with the decision.")] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who decides (audited).")] = "cli",
) -> None:
    """Resolve a conflict through its workflow's `resolve` update."""
    settings = get_settings()
    with database_session(settings) as session:
        doc = _load(session, name, org)
    phase = (doc.get("status") or {}).get("phase")
    if phase not in (None, "Open"):
        raise InvalidInput(f"conflict {name} is {phase} already")
    spec = doc["spec"]
    request = ResolveInput(decision=decision, actor=actor, values=_values(value or []), note=note)
    start = ConflictWorkflowInput(
        org=spec["organizationRef"], namespace=doc["metadata"]["namespace"], name=name
    )
    result = asyncio.run(_send(settings, start, request, conflict_search_attributes(doc)))
    line = f"{name}: {result.phase}: {result.message}"
    if result.write_intent_ref:
        line += f" (write intent {result.write_intent_ref})"
    if not result.applied:
        raise InvalidInput(line)
    out.print(line, markup=False, highlight=False)


class ResolutionRefused(ValueError):
    """The workflow's validator refused the decision (the message says why)."""


async def send_resolution(
    client: Client,
    task_queue: str,
    start: ConflictWorkflowInput,
    request: ResolveInput,
    search_attributes: TypedSearchAttributes | None = None,
) -> ResolveResult:
    """The `resolve` update, with-start: a conflict whose workflow was never started (Temporal
    down at detection) gets it now. Shared with the HTTP API."""
    operation = WithStartWorkflowOperation(
        ConflictWorkflow.run,
        start,
        id=conflict_workflow_id(start.org, start.name),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes,
    )
    try:
        return await client.execute_update_with_start_workflow(
            ConflictWorkflow.resolve, request, start_workflow_operation=operation
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        raise ResolutionRefused(
            f"{start.name}: {getattr(cause, 'message', None) or cause}"
        ) from error


async def _send(
    settings: Settings,
    start: ConflictWorkflowInput,
    request: ResolveInput,
    search_attributes: TypedSearchAttributes,
) -> ResolveResult:
    client = await connect(settings)
    try:
        return await send_resolution(client, settings.task_queue, start, request, search_attributes)
    except ResolutionRefused as error:
        raise InvalidInput(str(error)) from error


@conflicts_app.command("reconcile")
def reconcile(org: OrgOpt = None) -> None:
    """Start the workflow of every open conflict that has none (e.g. Temporal was down when the
    conflict was raised); running ones are left alone."""
    from activities.conflict_activities import start_conflict_workflow
    from store.conflicts import list_conflicts as stored

    settings = get_settings()
    with database_session(settings) as session:
        docs = stored(session, org=org, phase="Open")

    async def go() -> int:
        client = await connect(settings)
        started = 0
        for doc in docs:
            started += await start_conflict_workflow(
                client,
                settings.task_queue,
                doc["spec"]["organizationRef"],
                doc["metadata"]["namespace"],
                doc["metadata"]["name"],
                conflict_search_attributes(doc),
            )
        return started

    started = asyncio.run(go()) if docs else 0
    out.print(
        f"{len(docs)} open conflict(s); {started} workflow(s) started",
        markup=False,
        highlight=False,
    )


@conflicts_app.command("edit")
def edit(
    kind: Annotated[str, typer.Argument(help="issue or pr.")],
    repository: Annotated[str, typer.Argument(help="owner/name at the provider.")],
    number: Annotated[int, typer.Argument(help="The issue or pull request number.")],
    org: Annotated[str, typer.Option("--org")],
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider's name (when several sync it).")
    ] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    body: Annotated[str | None, typer.Option("--body")] = None,
    state: Annotated[str | None, typer.Option("--state", help="open or closed.")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Replaces the labels (repeatable).")
    ] = None,
    assignee: Annotated[
        list[str] | None, typer.Option("--assignee", help="Replaces the assignees (repeatable).")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="A pull request's base branch.")
    ] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who edits (audited).")] = "cli",
) -> None:
    """Edit a synced issue or pull request in Krate; a write intent carries it to the provider."""
    from starter.edits import EDIT_KINDS, EditOutcome, EditRefused, EditTarget, submit_edit

    target_kind = EDIT_KINDS.get(kind.lower().replace("-", ""))
    if target_kind is None:
        raise InvalidInput(f"kind {kind!r}: one of issue, pr")
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "body": body,
            "state": state,
            "labels": label,
            "assignees": assignee,
            "base": base,
        }.items()
        if v is not None
    }
    if state is not None and state not in ("open", "closed"):
        raise InvalidInput(f"--state {state!r}: open or closed")
    target = EditTarget(org, target_kind, repository, number, provider=provider)
    settings = get_settings()

    async def go(engine: Engine) -> EditOutcome:
        client: Client | None = None
        down: str | None = None
        try:
            client = await connect(settings)
        except Exception as error:  # recorded anyway; the intent starts later
            down = str(error)
        outcome = await submit_edit(
            engine, client, settings.task_queue, target, changes, actor=actor
        )
        return outcome if down is None else replace(outcome, start_error=down)

    # The database first: without it the edit cannot be recorded, so say so before Temporal.
    with database_engine(settings) as engine:
        try:
            outcome = asyncio.run(go(engine))
        except EditRefused as error:
            raise InvalidInput(str(error)) from error
    pending = ", ".join(sorted(outcome.pending)) or "nothing"
    line = f"{kind} {repository}#{number}: local generation {outcome.local_generation}; pending: {pending}"
    if outcome.intent is not None:
        line += f"; write intent {outcome.intent.name}"
        if outcome.start_error is not None:
            line += (
                f" stored, not started ({outcome.start_error}); the worker starts it when it "
                "starts, or run `krate-sync intents reconcile`"
            )
    out.print(line, markup=False, highlight=False)
