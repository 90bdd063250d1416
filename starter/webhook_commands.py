"""`krate-sync webhooks replay ID` and `krate-sync webhooks list --phase P`: the command-line
side of webhook recovery (the same operations as the API's replay and delivery listing)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from settings import get_settings
from starter.connection import database_engine
from starter.errors import InvalidInput
from starter.render import OutputFormat, render

webhooks_app = typer.Typer(help="Webhook deliveries: list them by phase, replay dead letters.")
out = Console(soft_wrap=True)

OrgOpt = Annotated[str, typer.Option("--org", help="The delivery's organization.")]


@webhooks_app.command("replay")
def replay(
    delivery: Annotated[str, typer.Argument(help="Delivery name or provider delivery id.")],
    org: OrgOpt,
) -> None:
    """Re-queue a DeadLettered or Failed delivery (replaying twice has one effect)."""
    from ingress.replay import DeliveryNotFound, requeue
    from ingress.signaler import TemporalUnavailable, WorkflowSignaler

    settings = get_settings()
    with database_engine(settings) as engine:
        try:
            outcome = requeue(engine, org, delivery, actor="cli")
        except DeliveryNotFound as error:
            raise InvalidInput(str(error)) from error
    line = f"{outcome.name}: {outcome.message}"
    if outcome.replayed and outcome.config is not None:
        config = outcome.config
        try:
            asyncio.run(WorkflowSignaler(settings).signal_delivery(config, outcome.delivery_id))
            line += "; workflow signalled"
        except TemporalUnavailable:
            line += "; Temporal unreachable, the ingress sweeper will signal it"
    out.print(line, markup=False, highlight=False)


@webhooks_app.command("list")
def list_deliveries(
    org: OrgOpt,
    phase: Annotated[str | None, typer.Option("--phase", help="e.g. DeadLettered.")] = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output")] = OutputFormat.yaml,
) -> None:
    """Deliveries of an org, newest first, optionally in one phase."""
    from ingress.api import _list_deliveries

    with database_engine(get_settings()) as engine:
        items = _list_deliveries(engine, org, {"phase": phase or ""}, 1000)
    render(out, items, output)
