"""`krate-sync sync now|pause|resume|resync|status BINDING`: signals and the status query of a
binding's sync workflow, the same ones the Temporal Web UI sends. The actions are audited
(`sync.now`, `sync.paused`, `sync.resumed`, `sync.resync`) and pause or resume the binding's
full-resync Schedule with it (starter/binding_actions.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings, get_settings
from starter.errors import InvalidInput
from starter.provider_commands import org_of, run_action
from starter.render import OutputFormat, render
from starter.temporal_client import connect
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow, workflow_id

sync_app = typer.Typer(
    help="Act on a binding's sync workflow: sync now, pause, resume, resync, status."
)
out = Console(soft_wrap=True)

BindingArg = Annotated[str, typer.Argument(help="The binding's name.")]
OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="The binding's organization; looked up when the name is unique."),
]


ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts (kept in the audit log).")]


def _org_of(settings: Settings, binding: str, org: str | None) -> str:
    return org_of(settings, "binding", binding, org)


def _act(binding: str, org: str | None, verb: str, actor: str, reason: str = "") -> str:
    """One audited action on the binding; the outcome's words."""
    settings = get_settings()
    org = _org_of(settings, binding, org)
    [outcome] = run_action(
        settings, org=org, verb=verb, actor=actor, binding=binding, reason=reason
    )
    return outcome.result


async def _handle(settings: Settings, binding: str, org: str) -> WorkflowHandle[Any, Any]:
    client = await connect(settings)
    return client.get_workflow_handle(workflow_id(org, binding))


def _status(binding: str, org: str | None) -> BindingSyncStatus:
    settings = get_settings()
    org = _org_of(settings, binding, org)

    async def go() -> BindingSyncStatus:
        handle = await _handle(settings, binding, org)
        try:
            status: BindingSyncStatus = await handle.query(BindingSyncWorkflow.status)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise InvalidInput(
                    f"no running sync workflow {workflow_id(org, binding)}; "
                    "is the binding applied and the worker running?"
                ) from error
            raise
        return status

    return asyncio.run(go())


@sync_app.command("now")
def sync_now(binding: BindingArg, org: OrgOpt = None, actor: ActorOpt = "cli") -> None:
    """Start an incremental pass now (also when the sync policy disables backfill)."""
    result = _act(binding, org, "now", actor)
    out.print(f"{binding}: {result}", markup=False, highlight=False)


@sync_app.command("pause")
def pause(
    binding: BindingArg,
    org: OrgOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Shown in the status.")
    ] = "paused by an operator",
    actor: ActorOpt = "cli",
) -> None:
    """Pause the binding: no backfill, deliveries held (still recorded) until resume."""
    result = _act(binding, org, "pause", actor, reason)
    out.print(f"{binding}: {result} ({reason})", markup=False, highlight=False)


@sync_app.command("resume")
def resume(binding: BindingArg, org: OrgOpt = None, actor: ActorOpt = "cli") -> None:
    """Lift an operator's pause (a `spec.paused` manifest keeps its own)."""
    result = _act(binding, org, "resume", actor)
    out.print(f"{binding}: {result}", markup=False, highlight=False)


@sync_app.command("resync")
def resync(binding: BindingArg, org: OrgOpt = None, actor: ActorOpt = "cli") -> None:
    """Start a full resync of the binding now (skipped while it is paused)."""
    result = _act(binding, org, "resync", actor)
    out.print(f"{binding}: {result}", markup=False, highlight=False)


@sync_app.command("status")
def status(
    binding: BindingArg,
    org: OrgOpt = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.yaml,
) -> None:
    """The live status of the binding's sync workflow (the `status` query)."""
    result = _status(binding, org)
    render(out, [result.model_dump(mode="json")], output)


@sync_app.command("reconcile")
def reconcile() -> None:
    """Start or reconfigure the sync workflow of every stored binding."""
    from starter.manifests import reconcile_all

    for line in reconcile_all(get_settings()):
        out.print(line, markup=False, highlight=False)
