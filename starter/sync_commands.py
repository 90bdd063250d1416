"""`krate-sync sync now|pause|resume|status BINDING`: signals and the status query of a binding's
sync workflow, the same ones the Temporal Web UI sends."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings, get_settings
from starter.errors import InvalidInput
from starter.render import OutputFormat, render
from starter.temporal_client import connect
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow, PauseInput, workflow_id

sync_app = typer.Typer(help="Act on a binding's sync workflow: sync now, pause, resume, status.")
out = Console(soft_wrap=True)

BindingArg = Annotated[str, typer.Argument(help="The binding's name.")]
OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="The binding's organization; looked up when the name is unique."),
]


def _org_of(settings: Settings, binding: str, org: str | None) -> str:
    if org:
        return org
    from starter.manifests import get

    _, docs = get(settings, "binding", binding, None)
    orgs = sorted({str(doc["spec"]["organizationRef"]) for doc in docs})
    if not orgs:
        raise InvalidInput(f"binding {binding!r} not found; apply it first or pass --org")
    if len(orgs) > 1:
        raise InvalidInput(f"binding {binding!r} exists in orgs {', '.join(orgs)}: pass --org")
    return orgs[0]


async def _handle(settings: Settings, binding: str, org: str) -> WorkflowHandle[Any, Any]:
    client = await connect(settings)
    return client.get_workflow_handle(workflow_id(org, binding))


def _run(binding: str, org: str | None, action: str, reason: str = "") -> BindingSyncStatus | None:
    settings = get_settings()
    org = _org_of(settings, binding, org)

    async def go() -> BindingSyncStatus | None:
        handle = await _handle(settings, binding, org)
        try:
            if action == "now":
                await handle.signal(BindingSyncWorkflow.sync_now)
            elif action == "pause":
                await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason=reason))
            elif action == "resume":
                await handle.signal(BindingSyncWorkflow.resume)
            else:
                status: BindingSyncStatus = await handle.query(BindingSyncWorkflow.status)
                return status
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise InvalidInput(
                    f"no running sync workflow {workflow_id(org, binding)}; "
                    "is the binding applied and the worker running?"
                ) from error
            raise
        return None

    return asyncio.run(go())


@sync_app.command("now")
def sync_now(binding: BindingArg, org: OrgOpt = None) -> None:
    """Start an incremental pass now."""
    _run(binding, org, "now")
    out.print(f"sync requested for {binding}", markup=False, highlight=False)


@sync_app.command("pause")
def pause(
    binding: BindingArg,
    org: OrgOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Shown in the status.")
    ] = "paused by an operator",
) -> None:
    """Pause backfill (webhooks keep flowing)."""
    _run(binding, org, "pause", reason)
    out.print(f"{binding} paused: {reason}", markup=False, highlight=False)


@sync_app.command("resume")
def resume(binding: BindingArg, org: OrgOpt = None) -> None:
    """Resume a paused backfill."""
    _run(binding, org, "resume")
    out.print(f"{binding} resumed", markup=False, highlight=False)


@sync_app.command("status")
def status(
    binding: BindingArg,
    org: OrgOpt = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.yaml,
) -> None:
    """The live status of the binding's sync workflow (the `status` query)."""
    result = _run(binding, org, "status")
    assert result is not None
    render(out, [result.model_dump(mode="json")], output)


@sync_app.command("reconcile")
def reconcile() -> None:
    """Start or reconfigure the sync workflow of every stored binding."""
    from starter.manifests import reconcile_all

    for line in reconcile_all(get_settings()):
        out.print(line, markup=False, highlight=False)
