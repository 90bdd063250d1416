"""Local edits of projected objects and three-way conflict detection against provider changes.

Three sides per field:

- **base**: `base_snapshot`, the provider's value both sides last agreed on;
- **local**: `local_changes`, Krate-side edits not yet written to the provider (the projection's
  columns show them: Krate's view is the edited one);
- **external**: the provider's value in an incoming row (webhook or backfill page).

Only fields with a pending local change are compared (`three_way`, pure). External-only changes
apply as usual; a local change the provider now also has is settled; a local change the provider
did not touch stays pending; a field changed on both sides to different values is a conflict:
an ExternalSyncConflict is recorded, the projection keeps the local value and points at the
conflict (`conflict_ref`). Nothing is overwritten silently.

`merge_incoming` is the hook the sync calls before its version-guarded upsert; `resolve` applies
a decision. Like every store function, none of them commits.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from store.aggregated import get_aggregated, insert_aggregated, manifest_from_row
from store.audit import record_audit
from store.labels import row_labels  # issue 9 (required labels)
from store.models.aggregated import SyncConflict
from store.models.projections import Comment, Issue, Projection, PullRequest, projection_table
from store.resources import get_resources, set_status
from store.upsert import matching_identities

CONFLICT_KIND = "ExternalSyncConflict"
VERSION = "external_updated_at"

# The Krate-side editable columns of each projection (what a local edit may change and what the
# provider's updateIssue / updatePullRequest / comment edit can write back).
EDITABLE: dict[type[Projection], tuple[str, ...]] = {
    Issue: ("title", "body", "state", "labels", "assignees", "milestone"),
    PullRequest: ("title", "body", "state", "labels", "assignees", "base", "draft"),
    Comment: ("body",),
}
KIND_OF: dict[type[Projection], str] = {
    Issue: "Issue",
    PullRequest: "PullRequest",
    Comment: "Comment",
}
MODEL_OF: dict[str, type[Projection]] = {kind: model for model, kind in KIND_OF.items()}
# Labels and assignees are sets at every provider: their order is not a change.
UNORDERED = frozenset({"labels", "assignees"})

DECISIONS = ("keep-external", "apply-krate", "manual-edit", "ignore-unsupported", "retry-sync")
POLICY_DEFAULTS = ("manual", "keep-external", "apply-krate")


class ConflictError(ValueError):
    """A request about a conflict or a local edit that cannot be carried out (message says why)."""


# -- pure three-way comparison ----------------------------------------------------------------


def same(path: str, a: Any, b: Any) -> bool:
    """Equal for sync purposes (lists of labels and assignees compare as sets)."""
    if path in UNORDERED and isinstance(a, list) and isinstance(b, list):
        return sorted(json.dumps(x, sort_keys=True) for x in a) == sorted(
            json.dumps(x, sort_keys=True) for x in b
        )
    return bool(_plain(a) == _plain(b))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


@dataclass(frozen=True)
class FieldConflict:
    path: str
    base: Any
    local: Any
    external: Any

    def as_spec(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "baseValue": self.base,
            "localValue": self.local,
            "externalValue": self.external,
        }


@dataclass(frozen=True)
class ThreeWay:
    """The comparison of pending local changes with an incoming external version."""

    conflicts: list[FieldConflict] = field(default_factory=list)
    pending: dict[str, Any] = field(default_factory=dict)  # local only: still to be written
    settled: list[str] = field(default_factory=list)  # provider now agrees (or local = base)


def three_way(
    base: Mapping[str, Any], local: Mapping[str, Any], external: Mapping[str, Any]
) -> ThreeWay:
    """Compare each locally changed field: base vs local vs external (keys are column names)."""
    result = ThreeWay()
    for path, local_value in local.items():
        base_value = base.get(path)
        external_value = external.get(path, base_value)
        if same(path, external_value, local_value) or same(path, local_value, base_value):
            result.settled.append(path)  # both sides agree, or Krate's edit was undone
        elif same(path, external_value, base_value):
            result.pending[path] = local_value  # only Krate changed it
        else:
            result.conflicts.append(FieldConflict(path, base_value, local_value, external_value))
    return result


def snapshot_key(column: str) -> str:
    """The key of a column in `base_snapshot` (the provider model dumped by alias)."""
    return to_camel(column)


def base_values(snapshot: Mapping[str, Any] | None, columns: Sequence[str]) -> dict[str, Any]:
    snap = snapshot or {}
    return {c: snap.get(snapshot_key(c)) for c in columns if snapshot_key(c) in snap}


# -- write intents (provided by the write-intents half of issue 5) ----------------------------


class WriteIntentRequest(BaseModel):
    """What apply-krate asks of the write-intent side: write these local values back."""

    org: str
    provider_ref: str
    binding_ref: str | None = None
    target_kind: str  # Issue, PullRequest, Comment
    identity: dict[str, Any]
    native_id: str | None = None
    operation: str  # updateIssue, updatePullRequest, updateComment
    fields: dict[str, Any]
    actor: str
    source: str  # the conflict's name


class WriteIntentCreator(Protocol):
    """Creates an ExternalWriteIntent in the caller's transaction and returns its name."""

    def __call__(self, session: Session, request: WriteIntentRequest) -> str: ...


OPERATIONS = {
    "Issue": "updateIssue",
    "PullRequest": "updatePullRequest",
    "Comment": "updateComment",
}


# -- local edits ------------------------------------------------------------------------------


def _lock_row(
    session: Session, model: type[Projection], identity: Mapping[str, Any]
) -> Projection | None:
    missing = set(model.identity) - set(identity)
    if missing:
        raise ConflictError(f"{model.__name__} identity needs {sorted(missing)}")
    statement = (
        select(model)
        .where(*[getattr(model, c) == identity[c] for c in model.identity])
        .with_for_update()
    )
    return session.execute(statement).scalars().first()


@dataclass(frozen=True)
class LocalEdit:
    local_generation: int
    pending: dict[str, Any]
    conflict_ref: str | None


def record_local_edit(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    actor: str,
) -> LocalEdit:
    """A Krate-side edit: the columns take the new values, `local_changes` keeps them pending
    until written to the provider, and `local_generation` counts the edit (audited)."""
    editable = EDITABLE.get(model)
    if editable is None:
        raise ConflictError(f"{model.__name__} objects cannot be edited in Krate")
    unknown = sorted(set(changes) - set(editable))
    if unknown:
        raise ConflictError(
            f"{', '.join(unknown)}: not editable on {model.__name__} (editable: {', '.join(editable)})"
        )
    if not changes:
        raise ConflictError("nothing to change: give at least one field")
    row = _lock_row(session, model, identity)
    if row is None:
        raise ConflictError(f"no {model.__name__} {dict(identity)}")
    if row.deleted_at is not None:
        raise ConflictError(f"{model.__name__} {dict(identity)} was deleted at the provider")
    if row.conflict_ref is not None:
        open_fields = conflict_fields(session, row)
        clash = sorted(set(changes) & open_fields)
        if clash:
            raise ConflictError(
                f"{', '.join(clash)} in conflict {row.conflict_ref}: resolve it first "
                "(manual-edit sets a value)"
            )
    base = base_values(row.base_snapshot, list(changes))
    pending = dict(row.local_changes or {})
    for path, value in changes.items():
        setattr(row, path, value)
        if path in base and same(path, value, base[path]):
            pending.pop(path, None)  # back to what the provider has: nothing to write
        else:
            pending[path] = _plain(value)
    row.local_changes = pending
    row.local_generation = (row.local_generation or 0) + 1
    session.add(row)
    session.flush()
    record_audit(
        session,  # type: ignore[arg-type]  # a sqlmodel Session in practice
        actor=actor,
        action="local-edit",
        subject_kind=KIND_OF[model],
        subject_name=local_edit_name(model, row),
        subject_namespace=_namespace(row.org),
        org=row.org,
        provider_ref=row.provider_ref,
        details={
            "changes": _plain(dict(changes)),
            "localGeneration": row.local_generation,
            "pending": pending,
        },
    )
    return LocalEdit(row.local_generation, pending, row.conflict_ref)


def settle_written(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    written: Mapping[str, Any],
    *,
    actor: str,
    intent: str,
) -> list[str]:
    """A write intent succeeded: the provider now holds `written`. Those values become the
    base both sides agree on, and pending local changes equal to them are settled (a later
    local edit of the same field, still different, stays pending). Returns the settled fields.
    The provider's own report of the object (webhook, next pass) would settle them too; this
    does it at once and needs no report."""
    editable = EDITABLE.get(model, ())
    fields = {k: v for k, v in written.items() if k in editable}
    if not fields:
        return []
    row = _lock_row(session, model, identity)
    if row is None:
        return []
    snapshot = dict(row.base_snapshot or {})
    pending = dict(row.local_changes or {})
    settled: list[str] = []
    for path, value in fields.items():
        snapshot[snapshot_key(path)] = _plain(value)
        if path in pending and same(path, pending[path], value):
            pending.pop(path)
            settled.append(path)
    row.base_snapshot = snapshot
    row.local_changes = pending
    session.add(row)
    session.flush()
    if settled:
        record_audit(
            session,  # type: ignore[arg-type]  # a sqlmodel Session in practice
            actor=actor,
            action="local-changes-written",
            subject_kind=KIND_OF[model],
            subject_name=local_edit_name(model, row),
            subject_namespace=_namespace(row.org),
            org=row.org,
            provider_ref=row.provider_ref,
            details={"writeIntent": intent, "settled": settled, "pending": pending},
        )
    return settled


def local_write_blocker(
    session: Session,
    model: type[Projection],
    identity: Mapping[str, Any],
    written: Mapping[str, Any],
) -> str | None:
    """Why the write of a Krate-side edit must not go out now, or None. It goes out only while
    the edit is still pending with those values (not resolved away, settled or re-edited) and
    no open conflict covers its fields (the provider changed one meanwhile): otherwise it would
    overwrite a provider change silently."""
    row = (
        session.execute(
            select(model).where(*[getattr(model, c) == identity[c] for c in model.identity])
        )
        .scalars()
        .first()
    )
    if row is None:
        return f"{KIND_OF[model]} {dict(identity)} is not in the store"
    clash = sorted(conflict_fields(session, row) & set(written))
    if clash:
        return (
            f"conflict {row.conflict_ref} is open on {', '.join(clash)}: the provider changed "
            "it since the edit; resolve the conflict (apply-krate writes Krate's value)"
        )
    pending = row.local_changes or {}
    stale = sorted(k for k, v in written.items() if k not in pending or not same(k, pending[k], v))
    if stale:
        return (
            f"{', '.join(stale)} no longer pending with this value (resolved, settled or edited "
            "again since): nothing of this edit to write"
        )
    return None


def conflict_fields(session: Session, row: Projection) -> set[str]:
    if row.conflict_ref is None:
        return set()
    conflict = get_aggregated(session, CONFLICT_KIND, _namespace(row.org), row.conflict_ref)  # type: ignore[arg-type]
    if conflict is None:
        return set()
    assert isinstance(conflict, SyncConflict)
    return {str(f["path"]) for f in conflict.fields}


def _namespace(org: str) -> str:
    return f"krate-org-{org}"


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def _identity_of(model: type[Projection], row: Projection) -> dict[str, Any]:
    return {c: getattr(row, c) for c in model.identity}


def local_edit_name(model: type[Projection], row: Projection) -> str:
    """The Krate object's name: provider, repository and number (or native id)."""
    ident = _identity_of(model, row)
    tail = [str(v) for k, v in ident.items() if k not in ("org",)]
    return _dns("-".join(tail))[:200]


# -- the hook: incoming external rows ---------------------------------------------------------


@dataclass(frozen=True)
class ConflictStart:
    """What to tell Temporal once the sync's transaction commits: `start` the workflow of a new
    conflict, or `refresh` a running one (its conflict changed or closed under it)."""

    org: str
    namespace: str
    name: str
    action: str = "start"
    provider_ref: str | None = None
    binding_ref: str | None = None
    interface: str | None = None


# Called after commit with the conflicts raised in the transaction (activities/conflicts.py
# installs one that starts their workflows); None: nothing is started.
_starter: Callable[[list[ConflictStart]], None] | None = None
_SESSION_KEY = "krate_conflict_starts"


def set_conflict_starter(starter: Callable[[list[ConflictStart]], None] | None) -> None:
    global _starter
    _starter = starter


def _after_commit(session: Session) -> None:
    starts: list[ConflictStart] = session.info.pop(_SESSION_KEY, [])
    if starts and _starter is not None:
        _starter(starts)


def _queue_start(session: Session, start: ConflictStart) -> None:
    starts = session.info.get(_SESSION_KEY)
    if starts is None:
        starts = session.info[_SESSION_KEY] = []
        event.listen(session, "after_commit", _after_commit, once=True)
        # A rolled-back transaction raised nothing: forget its starts.
        event.listen(session, "after_rollback", lambda s: s.info.pop(_SESSION_KEY, None), once=True)
    starts.append(start)


def merge_incoming(
    session: Session,
    model: type[Projection],
    rows: Sequence[Mapping[str, Any]],
    *,
    accept_ties: bool = False,
) -> list[dict[str, Any]]:
    """Rows for `upsert_many`, merged with pending local edits (three-way, per field).

    For each incoming row that the version guard will accept and whose stored object has local
    changes: settled fields leave `local_changes`; pending and conflicting fields keep the local
    value in the row; conflicting fields keep their old base (the base is what both sides last
    agreed on) and raise or update an ExternalSyncConflict. Rows of other tables, and rows of
    objects without local changes, come back as they were. `accept_ties` is for a fresh read,
    which replaces a stored row of the same version (store/upsert.py, `settle_fresh_read`).
    """
    out = [dict(r) for r in rows]
    columns = EDITABLE.get(model)
    if columns is None or not out:
        return out
    table = projection_table(model)
    keys = [tuple(r.get(c) for c in model.identity) for r in out]
    statement = (
        select(table)
        .where(matching_identities(table, model.identity), table.c.local_changes != {})
        .with_for_update()
    )
    identities = [{c: r.get(c) for c in model.identity} for r in out]
    stored = {
        tuple(s._mapping[c] for c in model.identity): dict(s._mapping)
        for s in session.execute(statement, {"identities": identities})
    }
    if not stored:
        return out
    for index, row in enumerate(out):
        current = stored.get(keys[index])
        if current is None or not _newer(current[VERSION], row.get(VERSION), accept_ties):
            continue  # no local changes, or the upsert keeps the stored row anyway
        out[index] = _merge_row(session, model, current, row)
    return out


def _newer(stored: datetime | None, incoming: Any, accept_ties: bool = False) -> bool:
    if stored is None:
        return True
    if incoming is None:
        return False
    if isinstance(incoming, str):
        incoming = datetime.fromisoformat(incoming)
    if incoming.tzinfo is None:
        incoming = incoming.replace(tzinfo=UTC)
    return bool(incoming > stored or (accept_ties and incoming == stored))


def _merge_row(
    session: Session, model: type[Projection], current: Mapping[str, Any], row: dict[str, Any]
) -> dict[str, Any]:
    local: dict[str, Any] = dict(current["local_changes"] or {})
    base = base_values(current["base_snapshot"], list(local))
    external = {c: _plain(row[c]) for c in local if c in row}
    result = three_way(base, local, external)
    snapshot = dict(row.get("base_snapshot") or current["base_snapshot"] or {})
    for path in result.pending:
        row[path] = local[path]
    for conflict in result.conflicts:
        row[conflict.path] = conflict.local
        # The base stays what both sides last agreed on until the conflict is resolved.
        snapshot[snapshot_key(conflict.path)] = conflict.base
    row["base_snapshot"] = snapshot
    row["local_changes"] = {**result.pending, **{c.path: c.local for c in result.conflicts}}
    open_ref = _update_open_conflict(session, current, row, result.conflicts)
    if open_ref is not None or current["conflict_ref"] is not None:
        row["conflict_ref"] = open_ref
    if open_ref is None and result.conflicts:
        row["conflict_ref"] = _raise_conflict(session, model, current, row, result.conflicts)
    return row


def _policy_recommendation(session: Session, org: str, provider_ref: str) -> str:
    """The sync policy's conflictPolicy.defaultResolution for the provider (manual if none)."""
    for doc in get_resources(session, "ExternalBackendSyncPolicy", _namespace(org)):  # type: ignore[arg-type]
        spec = doc.get("spec") or {}
        if spec.get("providerRef") == provider_ref:
            value = (spec.get("conflictPolicy") or {}).get("defaultResolution") or "manual"
            return str(value)
    return "manual"


def _update_open_conflict(
    session: Session,
    current: Mapping[str, Any],
    row: Mapping[str, Any],
    conflicts: list[FieldConflict],
) -> str | None:
    """Bring the object's open conflict up to date with the newest external version; returns
    its name, or None when there is none (or it no longer has a field in conflict)."""
    existing = current["conflict_ref"]
    if existing is None:
        return None
    namespace = _namespace(str(current["org"]))
    conflict = get_aggregated(session, CONFLICT_KIND, namespace, existing)  # type: ignore[arg-type]
    if not isinstance(conflict, SyncConflict) or conflict.phase not in (None, "Open"):
        return None
    # Only fields still in conflict stay; they report the newest external value.
    previous = {str(f["path"]): dict(f) for f in conflict.fields}
    fields = []
    for c in conflicts:
        merged = previous.get(c.path, c.as_spec())
        merged["externalValue"] = c.external
        merged["localValue"] = c.local
        fields.append(merged)
    start = ConflictStart(str(current["org"]), namespace, str(existing), action="refresh")
    if not fields:
        reason = "the provider's newest version leaves no field in conflict"
        set_status(
            session,  # type: ignore[arg-type]
            CONFLICT_KIND,
            namespace,
            existing,
            {"phase": "Superseded", "reason": reason, "lastTransitionTime": datetime.now(UTC)},
        )
        _audit(session, conflict, "system:sync", "conflict-superseded", {"reason": reason})
        _queue_start(session, start)
        return None
    conflict.fields = fields
    conflict.spec_extra = {
        **conflict.spec_extra,
        "externalVersion": {"etag": row.get("etag"), "updatedAt": _iso(row.get(VERSION))},
    }
    session.add(conflict)
    session.flush()
    _audit(session, conflict, "system:sync", "conflict-updated", {"fields": fields})
    _queue_start(session, start)
    return str(existing)


def _raise_conflict(
    session: Session,
    model: type[Projection],
    current: Mapping[str, Any],
    row: Mapping[str, Any],
    conflicts: list[FieldConflict],
) -> str:
    org, provider_ref = str(current["org"]), str(current["provider_ref"])
    namespace = _namespace(org)
    version = {"etag": row.get("etag"), "updatedAt": _iso(row.get(VERSION))}
    kind = KIND_OF[model]
    identity = {c: current[c] for c in model.identity}
    local_name = _dns("-".join(str(v) for k, v in identity.items() if k != "org"))[:200]
    name = f"{_dns(kind)}-{local_name}"[:230] + f"-{uuid.uuid4().hex[:8]}"
    recommendation = _policy_recommendation(session, org, provider_ref)
    manifest = {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": CONFLICT_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            # issue 9: the required labels, repository and external owner included.
            "labels": row_labels(
                org,
                provider_ref,
                str(current["interface"]),
                current.get("repository") or current.get("full_name"),
            ),
        },
        "spec": {
            "organizationRef": org,
            "providerRef": provider_ref,
            "bindingRef": current["binding_ref"],
            "interface": current["interface"],
            "target": {"kind": kind, "name": local_name},
            "targetIdentity": _plain(identity),
            "nativeId": current["native_id"],
            "nativeUrl": row.get("url") or current["url"],
            "fields": [c.as_spec() for c in conflicts],
            "localGeneration": current["local_generation"],
            "externalVersion": version,
            "recommendation": recommendation,
            "detectedAt": datetime.now(UTC).isoformat(),
        },
        "status": {"phase": "Open", "reason": "changed in Krate and at the provider"},
    }
    stored = insert_aggregated(session, manifest)  # type: ignore[arg-type]
    _audit(
        session,
        stored,
        "system:sync",
        "conflict-raised",
        {"fields": [c.as_spec() for c in conflicts], "recommendation": recommendation},
    )
    _queue_start(
        session,
        ConflictStart(
            org=org,
            namespace=namespace,
            name=name,
            provider_ref=provider_ref,
            binding_ref=current["binding_ref"],
            interface=str(current["interface"]),
        ),
    )
    return name


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _audit(
    session: Session, conflict: Any, actor: str, action: str, details: dict[str, Any]
) -> None:
    record_audit(
        session,  # type: ignore[arg-type]
        actor=actor,
        action=action,
        subject_kind=CONFLICT_KIND,
        subject_name=conflict.name,
        subject_namespace=conflict.namespace,
        org=conflict.org,
        provider_ref=conflict.provider_ref,
        details=details,
    )


# -- reading ----------------------------------------------------------------------------------


def list_conflicts(
    session: Session, *, org: str | None = None, phase: str | None = None
) -> list[dict[str, Any]]:
    """Conflict manifests, oldest first; `phase` filters (Open, Resolved, ...)."""
    statement = select(SyncConflict)
    if org is not None:
        statement = statement.where(SyncConflict.org == org)  # type: ignore[arg-type]
    if phase is not None:
        statement = statement.where(SyncConflict.phase == phase)  # type: ignore[arg-type]
    statement = statement.order_by(SyncConflict.created_at, SyncConflict.name)  # type: ignore[arg-type]
    return [manifest_from_row(r) for r in session.execute(statement).scalars()]


def get_conflict(session: Session, namespace: str, name: str) -> dict[str, Any] | None:
    row = get_aggregated(session, CONFLICT_KIND, namespace, name)  # type: ignore[arg-type]
    return None if row is None else manifest_from_row(row)


def find_conflict(session: Session, name: str, org: str | None = None) -> SyncConflict | None:
    """A conflict by name (names carry a random suffix, so one org is rarely needed)."""
    statement = select(SyncConflict).where(SyncConflict.name == name)  # type: ignore[arg-type]
    if org is not None:
        statement = statement.where(SyncConflict.org == org)  # type: ignore[arg-type]
    return session.execute(statement).scalars().first()


# -- resolving --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    applied: bool
    phase: str
    message: str
    write_intent_ref: str | None = None


PHASE_AFTER = {
    "keep-external": "Resolved",
    "apply-krate": "Resolved",
    "manual-edit": "Resolved",
    "ignore-unsupported": "Ignored",
    "retry-sync": "Superseded",
}


def validate_decision(decision: str, values: Mapping[str, Any] | None, paths: set[str]) -> None:
    """Raise ConflictError when `decision` (with its values) cannot apply to these fields."""
    if decision not in DECISIONS:
        raise ConflictError(f"unknown resolution {decision!r}; one of {', '.join(DECISIONS)}")
    if decision == "manual-edit":
        if not values:
            raise ConflictError("manual-edit needs a value for at least one conflicting field")
        unknown = sorted(set(values) - paths) if paths else []
        if unknown:
            raise ConflictError(
                f"{', '.join(unknown)}: not in conflict (fields: {', '.join(sorted(paths))})"
            )
    elif values:
        raise ConflictError(f"{decision} takes no values (only manual-edit does)")


def resolve(
    session: Session,
    namespace: str,
    name: str,
    decision: str,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    note: str | None = None,
    automatic: bool = False,
    create_write_intent: WriteIntentCreator | None = None,
) -> Resolution:
    """Apply a decision: update the projection, close the conflict, audit it."""
    statement = (
        select(SyncConflict)
        .where(SyncConflict.namespace == namespace, SyncConflict.name == name)  # type: ignore[arg-type]
        .with_for_update()
    )
    conflict = session.execute(statement).scalars().first()
    if conflict is None:
        raise ConflictError(f"no ExternalSyncConflict {namespace}/{name}")
    if conflict.phase not in (None, "Open"):
        return Resolution(False, str(conflict.phase), f"already closed ({conflict.phase})")
    fields = {str(f["path"]): f for f in conflict.fields}
    validate_decision(decision, values, set(fields))
    model = MODEL_OF.get(conflict.resource_kind)
    identity = conflict.spec_extra.get("targetIdentity")
    if model is None or not isinstance(identity, dict):
        raise ConflictError(f"{name}: target {conflict.resource_kind} is not a known projection")
    row = _lock_row(session, model, identity)
    if row is None:
        raise ConflictError(f"{name}: the {conflict.resource_kind} {identity} is gone")
    pending = dict(row.local_changes or {})
    snapshot = dict(row.base_snapshot or {})
    intent_ref: str | None = None
    if decision == "apply-krate" and create_write_intent is None:
        return Resolution(
            False,
            "Open",
            "write intents are not available here: apply-krate cannot write "
            "Krate's values to the provider; choose another resolution or retry later",
        )

    def write_back(values_to_write: dict[str, Any]) -> str:
        assert create_write_intent is not None
        return create_write_intent(
            session,
            WriteIntentRequest(
                org=row.org,
                provider_ref=row.provider_ref,
                binding_ref=row.binding_ref,
                target_kind=conflict.resource_kind,
                identity=_plain(identity),
                native_id=row.native_id,
                operation=OPERATIONS[conflict.resource_kind],
                fields=values_to_write,
                actor=actor,
                source=name,
            ),
        )

    if decision == "apply-krate":
        intent_ref = write_back({p: f["localValue"] for p, f in fields.items()})
    for path, f in fields.items():
        external = f.get("externalValue")
        if decision == "keep-external":
            setattr(row, path, external)
            pending.pop(path, None)
        elif decision == "manual-edit" and values is not None and path in values:
            setattr(row, path, values[path])
            if same(path, values[path], external):
                pending.pop(path, None)
            else:
                pending[path] = _plain(values[path])
        elif decision == "ignore-unsupported":
            pending.pop(path, None)  # the provider cannot hold it: Krate keeps its value
        if decision != "retry-sync":
            # The provider's value is now known to both sides: the base of the next comparison.
            snapshot[snapshot_key(path)] = external
    unwritten: str | None = None
    if decision == "manual-edit":
        row.local_generation = (row.local_generation or 0) + 1
        # A chosen value the provider does not have yet is written like apply-krate's.
        to_write = {p: pending[p] for p in fields if values and p in values and p in pending}
        if to_write and create_write_intent is not None:
            try:
                intent_ref = write_back(to_write)
            except ConflictError as error:  # kept in Krate, pending; the reason says why
                unwritten = str(error)
    if decision == "retry-sync":
        # Forget the provider version so the next report of the object (webhook, pass or full
        # resync) is compared again from the unchanged base; local values stay pending.
        setattr(row, VERSION, None)
    row.local_changes = pending
    row.base_snapshot = snapshot
    if row.conflict_ref == name:
        row.conflict_ref = None
    session.add(row)
    phase = PHASE_AFTER[decision]
    now = datetime.now(UTC)
    reason = (
        f"resolved automatically: conflictPolicy.defaultResolution is {decision}"
        if automatic
        else f"{decision} by {actor}"
    )
    if decision == "retry-sync":
        reason += "; the provider's next report of the object is compared again"
    if unwritten is not None:
        reason += f"; the value stays in Krate, not written to the provider ({unwritten})"
    if intent_ref is not None:
        conflict.write_intent_ref = intent_ref
        session.add(conflict)
    session.flush()
    resolution: dict[str, Any] = {"decision": decision, "decidedBy": actor, "decidedAt": now}
    if note:
        resolution["note"] = note
    if values:
        resolution["values"] = _plain(dict(values))
    set_status(
        session,  # type: ignore[arg-type]
        CONFLICT_KIND,
        namespace,
        name,
        {"phase": phase, "reason": reason, "resolution": resolution, "lastTransitionTime": now},
    )
    _audit(
        session,
        conflict,
        actor,
        "conflict-resolved",
        {
            "decision": decision,
            "automatic": automatic,
            "reason": reason,
            "fields": conflict.fields,
            "values": _plain(dict(values or {})),
            "writeIntentRef": intent_ref,
            "localGeneration": row.local_generation,
        },
    )
    return Resolution(True, phase, reason, intent_ref)


def policy_default(session: Session, namespace: str, name: str) -> tuple[str | None, str]:
    """(phase, the policy's current default resolution) of a conflict; phase None if absent."""
    row = get_aggregated(session, CONFLICT_KIND, namespace, name)  # type: ignore[arg-type]
    if not isinstance(row, SyncConflict):
        return None, "manual"
    default = _policy_recommendation(session, row.org, row.provider_ref)
    return str(row.phase or "Open"), default if default in POLICY_DEFAULTS else "manual"
