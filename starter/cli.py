"""`krate-sync`: the command line. Every command parses its arguments, calls one operation and
maps failures to exit codes: 0 ok, 1 invalid input, 2 usage, 3 unreachable service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from settings import get_settings
from starter import manifests
from starter.audit_command import audit
from starter.columns import COLUMNS
from starter.conflict_commands import conflicts_app
from starter.errors import EXIT_OK, CliError, InvalidInput
from starter.intent_commands import intents_app
from starter.provider_commands import providers_app
from starter.render import OutputFormat, render
from starter.simulate_commands import simulate_app
from starter.sync_commands import sync_app
from starter.webhook_commands import webhooks_app

app = typer.Typer(
    name="krate-sync",
    help="Keep Krate in sync with external forges, issue trackers and CI systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(sync_app, name="sync")
app.add_typer(providers_app, name="providers")  # issue 9 (provider-wide pause, resume, resync)
app.add_typer(simulate_app, name="simulate")
app.add_typer(webhooks_app, name="webhooks")  # issue 4
app.add_typer(conflicts_app, name="conflicts")  # issue 5 (conflicts)
app.add_typer(intents_app, name="intents")  # issue 5 (write intents)
app.command("audit")(audit)  # issue 9 (the audit trail)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

FilesOption = Annotated[
    list[Path],
    typer.Option(
        "-f",
        "--filename",
        help="A manifest file or a directory of them (repeatable); `-` reads standard input.",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option("-n", "--namespace", help="Only this namespace (e.g. krate-org-a5c)."),
]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="Only this organization (its krate-org-<org> namespace)."),
]


def _namespace(namespace: str | None, org: str | None) -> str | None:
    if namespace and org and namespace != f"krate-org-{org}":
        raise InvalidInput(f"--namespace {namespace} and --org {org} disagree; give one of them")
    return namespace or (f"krate-org-{org}" if org else None)


@app.command()
def validate(files: FilesOption) -> None:
    """Check manifests without storing anything: schema, references and the spec's rules."""
    result = manifests.load_and_validate(get_settings(), files)
    manifests.print_issues(err, result.issues)
    if result.failed:
        raise typer.Exit(InvalidInput.exit_code)
    out.print(
        f"{result.count} resource(s) valid in {len(result.files)} file(s)",
        markup=False,
        highlight=False,
    )


@app.command()
def apply(files: FilesOption) -> None:
    """Validate manifests, then store them; re-applying an unchanged manifest changes nothing."""
    settings = get_settings()
    for line in manifests.apply(settings, files, err):
        out.print(line, markup=False, highlight=False)


@app.command()
def get(
    kind: Annotated[
        str,
        typer.Argument(
            help="A kind: providers, bindings, syncpolicies, deliveries, events, syncstates, intents, conflicts, links."
        ),
    ],
    name: Annotated[str | None, typer.Argument(help="One resource by name.")] = None,
    namespace: NamespaceOption = None,
    org: OrgOption = None,
    output: Annotated[
        OutputFormat, typer.Option("-o", "--output", help="table, yaml, json or name.")
    ] = OutputFormat.table,
    phase: Annotated[
        str | None, typer.Option("--phase", help="Only objects in this phase (e.g. DeadLettered).")
    ] = None,
    binding: Annotated[
        str | None, typer.Option("--binding", help="Only objects of this binding.")
    ] = None,
    resource_kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only objects about this resource kind (e.g. Issue)."),
    ] = None,
) -> None:
    """List resources of a kind, or show one."""
    settings = get_settings()
    info, docs = manifests.get(
        settings,
        kind,
        name,
        _namespace(namespace, org),
        binding=binding,
        resource_kind=resource_kind,
    )
    if info.kind == "ExternalWriteIntent":
        from starter.intents import public_manifest

        docs = [public_manifest(d) for d in docs]  # as `intents show` has them
    if phase:  # deliveries keep theirs in spec.processing, the other kinds in status
        docs = [
            d
            for d in docs
            if phase
            in (
                (d.get("spec", {}).get("processing") or {}).get("phase"),
                d.get("status", {}).get("phase"),
            )
        ]
    if not docs:
        if name:
            raise InvalidInput(
                f"{info.kind} {name!r} not found" + (f" in {namespace}" if namespace else "")
            )
        err.print(f"No {info.plural} found.", markup=False, highlight=False)
        return
    render(out, docs, output, COLUMNS.get(info.kind, ()))


@app.command()
def delete(
    kind: Annotated[str, typer.Argument(help="The kind, e.g. binding.")],
    name: Annotated[str, typer.Argument(help="The resource's name.")],
    namespace: NamespaceOption = None,
    org: OrgOption = None,
) -> None:
    """Delete a stored resource."""
    settings = get_settings()
    line = manifests.delete(settings, kind, name, _namespace(namespace, org))
    out.print(line, markup=False, highlight=False)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic migrations)."""
    settings = get_settings()
    out.print(manifests.migrate(settings), markup=False, highlight=False)


@app.command()
def dev(
    demo: Annotated[
        bool, typer.Option("--demo", help="Also run a simulated GitHub with data, and bind it.")
    ] = False,
) -> None:
    """Run the whole stack locally: Temporal (with its Web UI), Postgres, worker and ingress."""
    from starter.devstack import run_dev_stack
    from worker import exit_without_finalizing

    # The Temporal SDK's threads can abort the interpreter at exit (sdk-python#300); leave
    # without finalizing so Ctrl-C ends with the stack's own exit code.
    exit_without_finalizing(run_dev_stack(get_settings(), demo=demo))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `krate-sync` console script; returns the exit code."""
    try:
        # Standalone mode: typer prints usage errors itself and exits with 2.
        app(args=argv, prog_name="krate-sync", standalone_mode=True)
    except CliError as error:
        err.print(f"error: {error.message}", markup=False, highlight=False)
        return error.exit_code
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False, highlight=False)
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
