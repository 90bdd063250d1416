"""`krate-sync simulate github`: the GitHub simulator on its own, for trying bindings by hand."""

from __future__ import annotations

from typing import Annotated

import typer

simulate_app = typer.Typer(help="Run a provider simulator that speaks the provider's wire format.")


@simulate_app.command("github")
def github(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8787,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 0,
    seed_owners: Annotated[str, typer.Option(help="Comma-separated organizations.")] = "krate-demo",
    seed_repos: Annotated[int, typer.Option(help="Repositories per organization.")] = 2,
    seed_issues: Annotated[int, typer.Option(help="Issues per repository.")] = 40,
    seed_pulls: Annotated[int, typer.Option(help="Pull requests per repository.")] = 20,
    seed_runs: Annotated[int, typer.Option(help="Actions workflow runs per repository.")] = 10,
    seed_jobs: Annotated[int, typer.Option(help="Jobs per workflow run.")] = 3,
    token: Annotated[
        list[str] | None, typer.Option(help="TOKEN=LOGIN accepted as a bearer token (repeatable).")
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Where to send signed webhooks.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The webhooks' HMAC secret.")] = None,
    error_ratio: Annotated[float, typer.Option(help="Share of requests answered 502/503.")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every request.")] = 0.0,
    rate_limit: Annotated[int, typer.Option(help="Requests per hour before 403s.")] = 5000,
) -> None:
    """Serve a simulated GitHub REST API with seeded data (Ctrl-C stops it)."""
    from providers.github.simulator import serve

    tokens = dict(item.split("=", 1) for item in token) if token else None
    serve(
        port=port,
        seed=seed,
        seed_owners=tuple(o for o in seed_owners.split(",") if o),
        seed_repos=seed_repos,
        seed_issues=seed_issues,
        seed_pulls=seed_pulls,
        seed_runs=seed_runs,
        seed_jobs=seed_jobs,
        tokens=tokens,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        error_ratio=error_ratio,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
    )
