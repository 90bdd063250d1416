"""`krate-sync providers pause|resume|resync NAME`: act on every binding of a provider.

Pause and resume signal each binding's workflow and pause or resume its full-resync Schedule;
resync starts a full resync of each binding that is not paused. Each command records one audit
entry (`provider.paused`, `provider.resumed`, `provider.resync`) and prints a line per binding.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from settings import Settings, get_settings
from starter import binding_actions
from starter.binding_actions import BindingOutcome, NotFound
from starter.connection import database_session
from starter.errors import InvalidInput
from starter.render import OutputFormat, render

providers_app = typer.Typer(
    help="Act on every binding of a provider: pause, resume, resync (a full resync of each)."
)
out = Console(soft_wrap=True)

ProviderArg = Annotated[str, typer.Argument(help="The provider's name.")]
OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="The provider's organization; looked up when the name is unique."),
]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts (kept in the audit log).")]
OutputOpt = Annotated[OutputFormat, typer.Option("-o", "--output", help="table, yaml or json.")]


def run_action(
    settings: Settings,
    *,
    org: str,
    verb: str,
    actor: str,
    provider: str | None = None,
    binding: str | None = None,
    reason: str = "",
) -> list[BindingOutcome]:
    """Find the plans (the provider's bindings, or one binding), act on Temporal, then audit."""
    from starter.reconcile import stored_config_docs
    from starter.temporal_client import connect

    with database_session(settings) as session:
        docs = stored_config_docs(session)
    try:
        if binding is not None:
            plans = [binding_actions.binding_plan(docs, org, binding)]
        else:
            assert provider is not None
            plans = binding_actions.provider_plans(docs, org, provider)
    except NotFound as error:
        raise InvalidInput(str(error)) from error

    async def go() -> list[BindingOutcome]:
        client = await connect(settings)
        return await binding_actions.act(client, settings.task_queue, plans, verb, reason)

    outcomes = asyncio.run(go())
    with database_session(settings) as session:
        binding_actions.record(
            session,
            org=org,
            actor=actor,
            verb=verb,
            outcomes=outcomes,
            provider=provider or plans[0].config.binding.provider,
            binding=binding,
            reason=reason,
        )
    return outcomes


def org_of(settings: Settings, kind: str, name: str, org: str | None) -> str:
    """The org of the one stored `kind` named `name`, unless given."""
    if org:
        return org
    from starter.manifests import get

    _, docs = get(settings, kind, name, None)
    orgs = sorted({str(doc["spec"]["organizationRef"]) for doc in docs})
    if not orgs:
        raise InvalidInput(f"{kind} {name!r} not found; apply it first or pass --org")
    if len(orgs) > 1:
        raise InvalidInput(f"{kind} {name!r} exists in orgs {', '.join(orgs)}: pass --org")
    return orgs[0]


def print_outcomes(outcomes: list[BindingOutcome], output: OutputFormat, empty: str) -> None:
    if output is not OutputFormat.table:
        render(out, [o.document() for o in outcomes], output)
        return
    if not outcomes:
        out.print(empty, markup=False, highlight=False)
    for outcome in outcomes:
        out.print(f"{outcome.binding}: {outcome.result}", markup=False, highlight=False)


def _provider(
    verb: str, provider: str, org: str | None, actor: str, output: OutputFormat, reason: str = ""
) -> None:
    settings = get_settings()
    org = org_of(settings, "provider", provider, org)
    outcomes = run_action(
        settings, org=org, verb=verb, actor=actor, provider=provider, reason=reason
    )
    print_outcomes(outcomes, output, f"provider {provider} has no bindings")


@providers_app.command("pause")
def pause(
    provider: ProviderArg,
    org: OrgOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Shown in each binding's status.")
    ] = "provider paused by an operator",
    actor: ActorOpt = "cli",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Pause every binding of the provider: no backfill, deliveries held (still recorded)."""
    _provider("pause", provider, org, actor, output, reason)


@providers_app.command("resume")
def resume(
    provider: ProviderArg,
    org: OrgOpt = None,
    actor: ActorOpt = "cli",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Resume every binding of the provider (a `spec.paused` manifest keeps its pause)."""
    _provider("resume", provider, org, actor, output)


@providers_app.command("resync")
def resync(
    provider: ProviderArg,
    org: OrgOpt = None,
    actor: ActorOpt = "cli",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Start a full resync of every binding of the provider (paused ones are skipped)."""
    _provider("resync", provider, org, actor, output)
