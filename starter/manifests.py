"""The operations behind `validate`, `apply`, `get`, `delete` and `migrate`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from resources.issues import Issue, has_errors, render_issues
from resources.kinds import KINDS, KindInfo, UnknownKindError, lookup_kind
from resources.loader import LoadResult, Manifest, ManifestError, load_paths, manifest_from_dict
from settings import Settings
from starter.connection import database_session, database_url, reachable_database_url
from starter.errors import InvalidInput, ServiceUnreachable


@dataclass
class Checked:
    """Manifests read and checked, with everything found wrong or worth saying."""

    loaded: LoadResult
    issues: list[Issue] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return has_errors(self.issues)

    @property
    def count(self) -> int:
        return len(self.loaded.manifests) + len(self.loaded.provider_types)

    @property
    def files(self) -> list[str]:
        return self.loaded.files


def print_issues(console: Console, issues: Iterable[Issue]) -> None:
    text = render_issues(issues, fix_on_new_line=True)
    if text:
        console.print(text, markup=False, highlight=False)


def load_and_validate(
    settings: Settings, paths: Sequence[Path], known: Sequence[Manifest] = ()
) -> Checked:
    """Read every manifest under `paths` and run all validation rules, `known` as context."""
    from providers.registry import load_registry
    from resources.validation import validate

    if not paths:
        raise InvalidInput("no manifests given: pass -f FILE or -f DIRECTORY")
    loaded = load_paths(paths)
    checked = Checked(loaded=loaded, issues=list(loaded.issues))
    if not loaded.files and not loaded.issues:
        raise InvalidInput(
            f"no manifest files (*.yaml, *.yml, *.json) under {', '.join(map(str, paths))}"
        )
    checked.issues += validate(loaded, load_registry(settings.registry_dirs), known=known)
    return checked


def _stored_config(settings: Settings) -> list[Manifest]:
    """Every applied config resource, as context for validating new ones."""
    from store.resources import get_resources

    known: list[Manifest] = []
    with database_session(settings) as session:
        for info in KINDS:
            if not info.config:
                continue
            for doc in get_resources(session, info.kind):
                try:
                    known.append(manifest_from_dict(doc, source="stored"))
                except ManifestError:
                    continue  # stored before a rule tightened; the new input is what we check
    return known


def apply(settings: Settings, paths: Sequence[Path], console: Console) -> list[str]:
    """Validate `paths` against what is stored, then store each resource; one line each."""
    from store.resources import apply_resource

    database_url(settings)  # fail fast, before reading files, when there is no database at all
    checked = load_and_validate(settings, paths, known=_stored_config(settings))
    print_issues(console, checked.issues)
    if checked.failed:
        raise InvalidInput("nothing was applied: fix the errors above and apply again")
    lines: list[str] = []
    changed: list[Manifest] = []
    with database_session(settings) as session:
        for manifest in checked.loaded.manifests:
            if not manifest.info.config:
                raise InvalidInput(
                    f"{manifest.source.path}: {manifest.kind} {manifest.name} is kept by the "
                    "service itself and cannot be applied; use its own command instead"
                )
            result = apply_resource(session, manifest.raw)
            lines.append(f"{manifest.kind.lower()}/{manifest.name} {result.action}")
            if result.action != "unchanged":
                changed.append(manifest)
    if changed:
        lines += _start_workflows(settings, changed, console)
    for entry in checked.loaded.provider_types:
        lines.append(
            f"{entry.source.path}: provider type entry checked; registry entries are installed "
            "as files, not applied"
        )
    return lines


def _stored_config_docs(settings: Settings) -> list[dict[str, Any]]:
    from starter.reconcile import stored_config_docs

    with database_session(settings) as session:
        return stored_config_docs(session)


def _start_workflows(
    settings: Settings, changed: Sequence[Manifest], console: Console
) -> list[str]:
    """Start or reconfigure the sync workflow of every binding that `changed` touches."""
    from starter.reconcile import ensure_binding_workflow, stored_plans
    from starter.temporal_client import connect

    bindings = {
        (m.effective_namespace, m.name) for m in changed if m.kind == "ExternalBackendBinding"
    }
    providers = {
        (
            m.effective_namespace,
            m.name if m.kind == "ExternalBackendProvider" else m.raw["spec"]["providerRef"],
        )
        for m in changed
        if m.kind in ("ExternalBackendProvider", "ExternalBackendSyncPolicy")
    }
    plans = [
        plan
        for plan in stored_plans(_stored_config_docs(settings))
        if (plan.config.binding.namespace, plan.config.binding.binding) in bindings
        or (plan.config.binding.namespace, plan.config.binding.provider) in providers
    ]
    if not plans:
        return []

    async def go() -> None:
        client = await connect(settings)
        for plan in plans:
            await ensure_binding_workflow(client, settings.task_queue, plan)

    try:
        asyncio.run(go())
    except ServiceUnreachable as error:
        console.print(
            f"warning: stored, but the sync workflows were not started: {error.message}\n"
            "    They start when the worker starts, or run `krate-sync sync reconcile`.",
            markup=False,
            highlight=False,
        )
        return []
    return [f"workflow {plan.workflow_id} started or reconfigured" for plan in plans]


def reconcile_all(settings: Settings) -> list[str]:
    """Ensure every stored binding has its workflow, configured as stored (exit 3 if Temporal
    is unreachable)."""
    from starter.reconcile import ensure_binding_workflow, stored_plans
    from starter.temporal_client import connect

    plans = stored_plans(_stored_config_docs(settings))

    async def go() -> None:
        client = await connect(settings)
        for plan in plans:
            await ensure_binding_workflow(client, settings.task_queue, plan)

    asyncio.run(go())
    return [f"workflow {plan.workflow_id} started or reconfigured" for plan in plans] or [
        "no bindings stored"
    ]


def _kind(name: str) -> KindInfo:
    try:
        return lookup_kind(name)
    except UnknownKindError as error:
        raise InvalidInput(str(error)) from error


def get(
    settings: Settings,
    kind: str,
    name: str | None,
    namespace: str | None,
    *,
    binding: str | None = None,
    resource_kind: str | None = None,
) -> tuple[KindInfo, list[dict[str, Any]]]:
    from store.resources import UnsupportedFilter, get_resources

    info = _kind(kind)
    with database_session(settings) as session:
        try:
            found = get_resources(
                session,
                info.kind,
                namespace=namespace,
                name=name,
                binding=binding,
                resource_kind=resource_kind,
            )
        except UnsupportedFilter as error:
            raise InvalidInput(str(error)) from error
        return info, found


def delete(settings: Settings, kind: str, name: str, namespace: str | None) -> str:
    from store.resources import delete_resource, get_resources

    info = _kind(kind)
    with database_session(settings) as session:
        if namespace is None:
            found = get_resources(session, info.kind, name=name)
            namespaces = sorted({doc["metadata"]["namespace"] for doc in found})
            if len(namespaces) > 1:
                raise InvalidInput(
                    f"{info.kind} {name!r} exists in {', '.join(namespaces)}: say which with -n"
                )
            if not namespaces:
                raise InvalidInput(f"{info.kind} {name!r} not found")
            namespace = namespaces[0]
        found = get_resources(session, info.kind, namespace=namespace, name=name)
        if not delete_resource(session, info.kind, namespace, name):
            raise InvalidInput(f"{info.kind} {name!r} not found in {namespace}")
    lines = [f"{info.kind.lower()}/{name} deleted"]
    if info.kind == "ExternalBackendBinding" and found:
        lines.append(_stop_workflow(settings, str(found[0]["spec"]["organizationRef"]), name))
    return "\n".join(lines)


def _stop_workflow(settings: Settings, org: str, binding: str) -> str:
    from starter.reconcile import stop_binding_workflow
    from starter.temporal_client import connect
    from workflows.binding_sync import workflow_id

    async def go() -> bool:
        return await stop_binding_workflow(await connect(settings), org, binding)

    try:
        stopped = asyncio.run(go())
    except ServiceUnreachable as error:
        return f"warning: the sync workflow was not stopped: {error.message}"
    return f"workflow {workflow_id(org, binding)} " + ("stopped" if stopped else "was not running")


def migrate(settings: Settings) -> str:
    from store.migrate import current, upgrade

    url = reachable_database_url(settings)
    upgrade(url)
    return f"database schema at revision {current(url)}"
