"""`krate-sync apply / get / delete`: kubectl semantics over the store.

- apply: create, or update when spec, labels or annotations changed (generation + 1); applying
  the same manifest again changes nothing. Status in the input is ignored, as kubectl ignores
  it: status belongs to the controllers (`set_status`).
- get: kubectl-style manifests for all nine kinds.
- delete: config kinds are marked deleted (history and audit survive; applying the name again
  creates a new object with a new uid); aggregated objects are removed.

Nothing here commits: the caller owns the transaction (store.db.session_scope).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from store import canonical
from store.aggregated import (
    column_values,
    get_aggregated,
    manifest_from_row,
    spec_of,
    split_document,
)
from store.audit import record_audit
from store.kinds import aggregated_table, check_kind, is_config_kind
from store.manifests import Manifest, parse_manifest, render_manifest
from store.models.aggregated import AggregatedObject
from store.models.config import ConfigResource

DEFAULT_ACTOR = "krate-sync"


class ApplyAction(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ApplyResult:
    kind: str
    namespace: str
    name: str
    action: ApplyAction
    generation: int
    uid: uuid.UUID


def apply_resource(
    session: Session, manifest: dict[str, Any], *, actor: str = DEFAULT_ACTOR
) -> ApplyResult:
    """Create or update the object `manifest` describes (any of the nine kinds).

    Raises store.manifests.InvalidManifest when the manifest cannot be stored.
    """
    parsed = parse_manifest(manifest)
    parsed = replace(parsed, labels=stamped_labels(manifest, parsed.labels))
    if is_config_kind(parsed.kind):
        result = _apply_config(session, parsed)
    else:
        result = _apply_aggregated(session, parsed)
    org = parsed.spec.get("organizationRef")
    provider = parsed.spec.get("providerRef")
    if result.action is not ApplyAction.UNCHANGED:
        record_audit(
            session,
            actor=actor,
            action=f"apply.{result.action}",
            subject_kind=parsed.kind,
            subject_namespace=parsed.namespace,
            subject_name=parsed.name,
            org=org if isinstance(org, str) else None,
            provider_ref=provider if isinstance(provider, str) else None,
            details={"generation": result.generation, "uid": str(result.uid)},
        )
    return result


# The column that names the resource kind an aggregated object is about (`get --kind`).
RESOURCE_KIND_COLUMNS = {
    "ExternalSyncEvent": "resource_kind",
    "ExternalSyncState": "resource_kind",
    "ExternalSyncConflict": "resource_kind",
    "ExternalObjectLink": "local_kind",
    "ExternalWriteIntent": "target_kind",
}


class UnsupportedFilter(ValueError):
    """A filter that the kind has no field for (`--kind` on deliveries, `--binding` on a
    provider)."""


def stamped_labels(manifest: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """`labels` plus the spec's required labels computed from the resource (org, provider,
    interface, and repository / external owner when known); a label the user set wins."""
    from resources.labels import labels_for, required_labels
    from resources.loader import ManifestError, manifest_from_dict

    # Status is ignored on apply; a stale or foreign one must not change the labels.
    without_status = {k: v for k, v in manifest.items() if k != "status"}
    try:
        computed = labels_for(manifest_from_dict(without_status, source="apply").model)
    except (ManifestError, TypeError):
        # Not a valid resource model (the store accepts more than validation does): what the
        # spec names for sure.
        spec = manifest.get("spec") or {}
        org, provider = spec.get("organizationRef"), spec.get("providerRef")
        if manifest.get("kind") == "ExternalBackendProvider":
            provider = (manifest.get("metadata") or {}).get("name")
        if not isinstance(org, str) or not isinstance(provider, str):
            return labels
        computed = required_labels(org=org, provider=provider)
    return {**computed, **labels}


def get_resources(
    session: Session,
    kind: str,
    namespace: str | None = None,
    name: str | None = None,
    *,
    binding: str | None = None,
    resource_kind: str | None = None,
) -> list[dict[str, Any]]:
    """Manifests of `kind`, optionally in one namespace and/or with one name, sorted.

    Aggregated kinds also filter by binding and by the resource kind they are about (any case);
    UnsupportedFilter when the kind has no such field.
    """
    check_kind(kind)
    if is_config_kind(kind) and (binding is not None or resource_kind is not None):
        raise UnsupportedFilter(f"{kind} cannot be filtered by binding or resource kind")
    if is_config_kind(kind):
        statement = select(ConfigResource).where(
            ConfigResource.kind == kind, col(ConfigResource.deleted_at).is_(None)
        )
        if namespace is not None:
            statement = statement.where(ConfigResource.namespace == namespace)
        if name is not None:
            statement = statement.where(ConfigResource.name == name)
        statement = statement.order_by(col(ConfigResource.namespace), col(ConfigResource.name))
        return [_config_manifest(row) for row in session.exec(statement)]
    model = aggregated_table(kind)
    aggregated = select(model)
    if namespace is not None:
        aggregated = aggregated.where(model.namespace == namespace)
    if name is not None:
        aggregated = aggregated.where(model.name == name)
    if binding is not None:
        aggregated = aggregated.where(col(model.binding_ref) == binding)
    if resource_kind is not None:
        column = RESOURCE_KIND_COLUMNS.get(kind)
        if column is None:
            raise UnsupportedFilter(f"{kind} has no resource kind to filter by")
        field = getattr(model, column)
        aggregated = aggregated.where(func.lower(field) == resource_kind.lower())
    aggregated = aggregated.order_by(col(model.namespace), col(model.name))
    return [manifest_from_row(row) for row in session.exec(aggregated)]


def delete_resource(
    session: Session, kind: str, namespace: str, name: str, *, actor: str = DEFAULT_ACTOR
) -> bool:
    """Delete one object; False when there was none."""
    check_kind(kind)
    org: str | None
    if is_config_kind(kind):
        row = _live_config(session, kind, namespace, name)
        if row is None:
            return False
        row.deleted_at = session.exec(select(func.now())).one()
        org = row.org
        session.add(row)
    else:
        aggregated = get_aggregated(session, kind, namespace, name)
        if aggregated is None:
            return False
        org = aggregated.org
        session.delete(aggregated)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="delete",
        subject_kind=kind,
        subject_namespace=namespace,
        subject_name=name,
        org=org,
    )
    return True


def set_status(
    session: Session, kind: str, namespace: str, name: str, status: dict[str, Any]
) -> bool:
    """Replace the status of one object (the controllers' side); False when there is none.

    The generation does not change: it counts changes to what was asked for, not to what
    was observed.
    """
    check_kind(kind)
    plain = canonical.plain(status)
    if is_config_kind(kind):
        row = _live_config(session, kind, namespace, name)
        if row is None:
            return False
        row.status = plain
        row.updated_at = session.exec(select(func.now())).one()
        session.add(row)
    else:
        aggregated = get_aggregated(session, kind, namespace, name)
        if aggregated is None:
            return False
        table = aggregated.__table__  # type: ignore[attr-defined]  # set by SQLModel
        values, extra = split_document(table, plain, aggregated.status_columns, "status")
        for column in aggregated.status_columns.values():
            setattr(aggregated, column, values.get(column))
        aggregated.status_extra = extra
        session.add(aggregated)
    session.flush()
    return True


# -- config kinds ----------------------------------------------------------------------------


def _live_config(session: Session, kind: str, namespace: str, name: str) -> ConfigResource | None:
    row = session.get(ConfigResource, (kind, namespace, name), with_for_update=True)
    return row if row is not None and row.deleted_at is None else None


def _apply_config(session: Session, parsed: Manifest) -> ApplyResult:
    row = session.get(
        ConfigResource, (parsed.kind, parsed.namespace, parsed.name), with_for_update=True
    )
    digest = canonical.digest(parsed.spec)
    org = parsed.spec.get("organizationRef")
    now = session.exec(select(func.now())).one()
    if row is None or row.deleted_at is not None:
        # New, or applied again after a delete: a new object (new uid, generation 1).
        if row is None:
            row = ConfigResource(
                kind=parsed.kind, namespace=parsed.namespace, name=parsed.name, spec_digest=digest
            )
        row.uid = uuid.uuid4()
        row.generation = 1
        row.status = {}
        row.created_at = now
        row.deleted_at = None
        action = ApplyAction.CREATED
    elif (
        row.spec_digest == digest
        and row.labels == parsed.labels
        and row.annotations == parsed.annotations
    ):
        return _config_result(row, ApplyAction.UNCHANGED)
    else:
        row.generation += 1
        action = ApplyAction.CONFIGURED
    row.spec = parsed.spec
    row.spec_digest = digest
    row.labels = parsed.labels
    row.annotations = parsed.annotations
    row.org = org if isinstance(org, str) else None
    row.updated_at = now
    session.add(row)
    session.flush()
    return _config_result(row, action)


def _config_result(row: ConfigResource, action: ApplyAction) -> ApplyResult:
    return ApplyResult(
        kind=row.kind,
        namespace=row.namespace,
        name=row.name,
        action=action,
        generation=row.generation,
        uid=row.uid,
    )


def _config_manifest(row: ConfigResource) -> dict[str, Any]:
    return render_manifest(
        kind=row.kind,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        generation=row.generation,
        created_at=row.created_at,
        labels=row.labels,
        annotations=row.annotations,
        spec=row.spec,
        status=row.status,
    )


# -- aggregated kinds ------------------------------------------------------------------------


def _apply_aggregated(session: Session, parsed: Manifest) -> ApplyResult:
    # Status is ignored on apply, as kubectl does: keep what the controllers wrote.
    model = aggregated_table(parsed.kind)
    values = column_values(replace(parsed, status={}))
    del values["status_extra"]
    row = get_aggregated(session, parsed.kind, parsed.namespace, parsed.name)
    if row is None:
        created = model(**values)
        session.add(created)
        session.flush()
        session.refresh(created)
        return _aggregated_result(created, ApplyAction.CREATED)
    before = (canonical.digest(spec_of(row)), row.labels, row.annotations)
    candidate = model(**values)
    after = (canonical.digest(spec_of(candidate)), candidate.labels, candidate.annotations)
    if before == after:
        return _aggregated_result(row, ApplyAction.UNCHANGED)
    for column, value in values.items():
        setattr(row, column, value)
    # Spec paths the new manifest leaves out are cleared, as a full replace does.
    for column in model.spec_columns.values():
        if column not in values:
            setattr(row, column, _column_default(model, column))
    row.generation += 1
    row.updated_at = session.exec(select(func.now())).one()
    session.add(row)
    session.flush()
    return _aggregated_result(row, ApplyAction.CONFIGURED)


def _column_default(model: type[AggregatedObject], column: str) -> Any:
    field = model.model_fields[column]
    return field.get_default(call_default_factory=True)


def _aggregated_result(row: AggregatedObject, action: ApplyAction) -> ApplyResult:
    assert row.uid is not None
    return ApplyResult(
        kind=row.kind,
        namespace=row.namespace,
        name=row.name,
        action=action,
        generation=row.generation,
        uid=row.uid,
    )


__all__ = [
    "ApplyAction",
    "ApplyResult",
    "UnsupportedFilter",
    "apply_resource",
    "delete_resource",
    "get_resources",
    "set_status",
]
