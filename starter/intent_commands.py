"""`krate-sync intents create|list|show|approve|reject|cancel|retry`: write intents from the
command line. Decisions are the WriteIntentWorkflow's Updates, the same ones the Temporal Web UI
and `temporal workflow update execute` send."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

import typer
from rich.console import Console

from activities.writes_models import SOURCE_AGENT, SOURCE_USER
from settings import Settings, get_settings
from starter.connection import database_engine, database_session
from starter.errors import InvalidInput
from starter.intents import (
    IntentRejected,
    WriteIntentRequest,
    create_write_intent,
    decide,
    get_intent,
    list_intents,
    org_of_intent,
    start_write_intent,
)
from starter.render import OutputFormat, render
from starter.temporal_client import connect

intents_app = typer.Typer(
    help="Write intents: Krate's reviewed writes to providers (create, approve, reject, ...)."
)
out = Console(soft_wrap=True)

COLUMNS = (
    ("OPERATION", "spec.operation"),
    ("TARGET", "spec.target.name"),
    ("ACTOR", "spec.source.actor"),
    ("PHASE", "status.phase"),
    ("APPROVAL", "spec.approvalPolicy.required"),
    ("URL", "status.response.nativeUrl"),
)

NameArg = Annotated[str, typer.Argument(help="The intent's name.")]
OrgOpt = Annotated[
    str | None, typer.Option("--org", help="The organization; looked up when the name is unique.")
]


def _default_actor() -> str:
    return f"user:{os.environ.get('USER') or 'unknown'}"


ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who acts (user:alice, agent:bot); default user:$USER."),
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Kept in the audit log.")]


def _parameters(
    issue: int | None,
    pull: int | None,
    run: int | None,
    body: str | None,
    title: str | None,
    state: str | None,
    labels: list[str],
    assignees: list[str],
    extra: list[str],
    params_json: str | None,
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except ValueError as error:
            raise InvalidInput(f"--params-json is not JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise InvalidInput("--params-json must be a JSON object")
        parameters.update(loaded)
    for name, value in (
        ("issue", issue),
        ("pull", pull),
        ("run_id", run),
        ("body", body),
        ("title", title),
        ("state", state),
    ):
        if value is not None:
            parameters[name] = value
    if labels:
        parameters["labels"] = labels
    if assignees:
        parameters["assignees"] = assignees
    for item in extra:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {item!r}: expected key=value")
        try:
            parameters[key] = json.loads(raw)
        except ValueError:
            parameters[key] = raw
    return parameters


def _resolve_org(settings: Settings, name: str, org: str | None) -> str:
    if org:
        return org
    with database_session(settings) as session:
        try:
            return org_of_intent(session, name)
        except IntentRejected as error:
            raise InvalidInput(str(error)) from None


@intents_app.command("create")
def create(
    binding: Annotated[str, typer.Option("--binding", help="The binding to write through.")],
    operation: Annotated[
        str, typer.Option("--operation", help="createComment, updateIssue, addLabels, ...")
    ],
    org: OrgOpt = None,
    actor: ActorOpt = None,
    agent: Annotated[
        bool, typer.Option("--agent", help="Proposed by an agent (approval per policy).")
    ] = False,
    issue: Annotated[int | None, typer.Option("--issue", help="Issue number.")] = None,
    pull: Annotated[int | None, typer.Option("--pull", help="Pull request number.")] = None,
    run: Annotated[int | None, typer.Option("--run", help="Workflow run id.")] = None,
    body: Annotated[str | None, typer.Option("--body")] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    state: Annotated[str | None, typer.Option("--state", help="open or closed.")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Repeatable.")] = None,
    assignee: Annotated[list[str] | None, typer.Option("--assignee", help="Repeatable.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="key=value (JSON values allowed).")
    ] = None,
    params_json: Annotated[
        str | None, typer.Option("--params-json", help="All parameters as a JSON object.")
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", help="owner/name (default: the binding's).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Repeat-safe creation key.")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.yaml,
) -> None:
    """Propose a write; it runs at once or waits for approval, as the sync policy says."""
    settings = get_settings()
    org = org or _org_of_binding(settings, binding)
    request = WriteIntentRequest(
        org=org,
        binding=binding,
        operation=operation,
        parameters=_parameters(
            issue,
            pull,
            run,
            body,
            title,
            state,
            label or [],
            assignee or [],
            param or [],
            params_json,
        ),
        actor=actor or _default_actor(),
        source_kind=SOURCE_AGENT if agent else SOURCE_USER,
        repository=repository,
        idempotency_key=idempotency_key,
    )
    with database_session(settings) as session:
        try:
            created = create_write_intent(session, request)
        except IntentRejected as error:
            raise InvalidInput(str(error)) from None

    async def start() -> None:
        client = await connect(settings)
        await start_write_intent(client, settings.task_queue, created)

    asyncio.run(start())
    render(out, [created.manifest], output, COLUMNS)


def _org_of_binding(settings: Settings, binding: str) -> str:
    from starter.sync_commands import _org_of

    return _org_of(settings, binding, None)


@intents_app.command("reconcile")
def reconcile(org: OrgOpt = None) -> None:
    """Start the workflows of intents stored while Temporal was down (phase Pending)."""
    from sqlalchemy import Engine

    from starter.intents import reconcile_pending_intents

    settings = get_settings()

    async def go(engine: Engine) -> list[str]:
        client = await connect(settings)
        return await reconcile_pending_intents(engine, client, settings.task_queue, org)

    with database_engine(settings) as engine:
        started = asyncio.run(go(engine))
    if not started:
        out.print("No pending write intents to start.", markup=False, highlight=False)
    for name in started:
        out.print(f"started {name} (or it was running already)", markup=False, highlight=False)


@intents_app.command("list")
def list_(
    org: OrgOpt = None,
    phase: Annotated[str | None, typer.Option("--phase", help="e.g. AwaitingApproval.")] = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.table,
) -> None:
    """Write intents, newest first."""
    with database_session(get_settings()) as session:
        docs = list_intents(session, org, phase)
    if not docs:
        out.print("No write intents found.", markup=False, highlight=False)
        return
    render(out, docs, output, COLUMNS)


@intents_app.command("show")
def show(
    name: NameArg,
    org: OrgOpt = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.yaml,
) -> None:
    """One intent: request preview (redacted), approval, attempts, provider response."""
    settings = get_settings()
    org = _resolve_org(settings, name, org)
    with database_session(settings) as session:
        try:
            doc = get_intent(session, org, name)
        except IntentRejected as error:
            raise InvalidInput(str(error)) from None
    render(out, [doc], output, COLUMNS)


def _decide(name: str, org: str | None, verb: str, actor: str | None, reason: str | None) -> None:
    settings = get_settings()
    org = _resolve_org(settings, name, org)

    async def go() -> str:
        client = await connect(settings)
        status = await decide(client, org, name, verb, actor or _default_actor(), reason)
        return status.phase

    try:
        phase = asyncio.run(go())
    except IntentRejected as error:
        raise InvalidInput(str(error)) from None
    out.print(f"{name}: {verb} accepted; phase {phase}", markup=False, highlight=False)


@intents_app.command("approve")
def approve(
    name: NameArg, org: OrgOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Approve an intent awaiting approval (not one's own)."""
    _decide(name, org, "approve", actor, reason)


@intents_app.command("reject")
def reject(
    name: NameArg, org: OrgOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Reject an intent awaiting approval; nothing is written."""
    _decide(name, org, "reject", actor, reason)


@intents_app.command("cancel")
def cancel(
    name: NameArg, org: OrgOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Withdraw an intent before its write starts (or after it failed)."""
    _decide(name, org, "cancel", actor, reason)


@intents_app.command("retry")
def retry(
    name: NameArg, org: OrgOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Try a failed intent again (it reads first, so nothing is written twice)."""
    _decide(name, org, "retry", actor, reason)
