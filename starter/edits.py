"""Local edits of projected issues and pull requests, carried to the provider by write intents.

In a binding whose interface writes to the provider (bidirectional, krate-owned), an edit is
recorded on the projection (`store.conflicts.record_local_edit`) and, in the same transaction,
an updateIssue / updatePullRequest intent is created for every field still pending, so the
write brings the provider to Krate's view. The intent's workflow starts after the commit. In a
mirrored or external-owned interface the edit is refused and nothing is recorded: such objects
follow the provider.

One write at a time per object: while an earlier intent for the same issue or pull request is
still on its way (pending, awaiting approval, executing), a new edit is refused with its name,
because two intents approved out of order could write an older value last.

Used by `krate-sync conflicts edit` and `PATCH .../projections/{kind}/{owner}/{repo}/{number}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError

from activities.writes_models import OPERATIONS
from resources.phases import WriteIntentPhase
from starter.intents import (
    CreatedWriteIntent,
    IntentRejected,
    intent_for_local_edit,
    start_write_intent,
)
from store.conflicts import EDITABLE, ConflictError, conflict_fields, record_local_edit
from store.db import session_scope
from store.models.aggregated import WriteIntent
from store.models.projections import Issue, PullRequest

# What each kind's update operation can write; an editable column outside it (an issue's
# milestone, a pull request's labels or draft flag) stays Krate-side only and is refused here.
EDIT_KINDS = {"issue": "Issue", "pullrequest": "PullRequest", "pr": "PullRequest"}
UPDATE_OF = {"Issue": "updateIssue", "PullRequest": "updatePullRequest"}
NUMBER_PARAM = {"Issue": "issue", "PullRequest": "pull"}
IN_FLIGHT = tuple(
    p.value
    for p in (
        WriteIntentPhase.PENDING,
        WriteIntentPhase.AWAITING_APPROVAL,
        WriteIntentPhase.APPROVED,
        WriteIntentPhase.EXECUTING,
        WriteIntentPhase.CONFIRMING,
    )
)


class EditRefused(ValueError):
    """The edit cannot be made; nothing was recorded. The message says why and what to do."""


class EditNotFound(EditRefused):
    """No such synced object."""


class EditBlocked(EditRefused):
    """An earlier write of the same object is still on its way."""


@dataclass(frozen=True)
class EditTarget:
    org: str
    kind: str  # Issue, PullRequest
    repository: str  # owner/name
    number: int
    provider: str | None = None
    binding: str | None = None
    """Either names the object's sync; the projection row says the other."""


@dataclass(frozen=True)
class EditOutcome:
    local_generation: int
    pending: dict[str, Any]
    intent: CreatedWriteIntent | None
    """None when nothing is to be written: the edit went back to the provider's values, or
    what is pending waits for an open conflict's resolution."""
    start_error: str | None = None
    """Set when the intent is stored but its workflow could not be started yet."""


def writable_fields(kind: str) -> frozenset[str]:
    operation = UPDATE_OF.get(kind)
    if operation is None:
        return frozenset()
    params = OPERATIONS[operation].params.model_fields
    return frozenset(f for f in params if f != NUMBER_PARAM[kind])


Edited = TypeVar("Edited", Issue, PullRequest)


def _find_row(session: Session, model: type[Edited], target: EditTarget) -> Edited:
    statement = select(model).where(
        col(model.org) == target.org,
        col(model.repository) == target.repository,
        col(model.number) == target.number,
    )
    if target.provider:
        statement = statement.where(col(model.provider_ref) == target.provider)
    if target.binding:
        statement = statement.where(col(model.binding_ref) == target.binding)
    rows = list(session.exec(statement))
    what = f"{target.kind} {target.repository}#{target.number} in org {target.org}"
    if not rows:
        raise EditNotFound(f"no {what}: is the repository synced (krate-sync get syncstate)?")
    if len(rows) > 1:
        raise EditRefused(f"{what} is synced from several providers: name one with --provider")
    return rows[0]


def _in_flight(
    session: Session, row: Issue | PullRequest, kind: str, binding: str
) -> WriteIntent | None:
    target = f"{'issue' if kind == 'Issue' else 'pr'}-{row.number}"
    owner, repository = row.repository.split("/", 1)
    candidates = session.exec(
        select(WriteIntent).where(
            col(WriteIntent.org) == row.org,
            col(WriteIntent.binding_ref) == binding,
            col(WriteIntent.operation) == UPDATE_OF[kind],
            col(WriteIntent.target_name) == target,
            col(WriteIntent.phase).in_(IN_FLIGHT),
        )
    )
    for intent in candidates:
        native = intent.native_target or {}
        if native.get("owner") == owner and native.get("repository") == repository:
            return intent
    return None


def record_edit(
    session: Session,
    target: EditTarget,
    changes: Mapping[str, Any],
    *,
    actor: str,
    search_attributes: bool = True,
) -> EditOutcome:
    """Record the edit and create its write intent in the caller's transaction (which the
    caller commits, then starts the intent's workflow). Raises EditRefused."""
    if target.kind not in UPDATE_OF:
        raise EditRefused(f"{target.kind} objects are not edited in Krate (Issue, PullRequest)")
    model: type[Issue] | type[PullRequest] = Issue if target.kind == "Issue" else PullRequest
    unsupported = sorted(set(changes) - writable_fields(target.kind))
    if unsupported:
        editable = ", ".join(f for f in EDITABLE[model] if f in writable_fields(target.kind))
        raise EditRefused(
            f"{', '.join(unsupported)}: not written back to the provider by "
            f"{UPDATE_OF[target.kind]} (editable: {editable})"
        )
    row: Issue | PullRequest = (
        _find_row(session, Issue, target)
        if target.kind == "Issue"
        else _find_row(session, PullRequest, target)
    )
    binding = row.binding_ref
    if binding is None:
        raise EditRefused(
            f"{target.kind} {target.repository}#{target.number} has no binding: "
            "nothing to write through"
        )
    identity = {
        "org": row.org,
        "provider_ref": row.provider_ref,
        "repository": row.repository,
        "number": target.number,
    }
    try:
        edit = record_local_edit(session, model, identity, changes, actor=actor)
    except ConflictError as error:
        raise EditRefused(str(error)) from error
    # After the edit is recorded (a field under conflict is refused first, with its reason);
    # raising here rolls it back.
    earlier = _in_flight(session, row, target.kind, binding)
    if earlier is not None:
        raise EditBlocked(
            f"write intent {earlier.name} ({earlier.phase}) is still writing an earlier edit of "
            f"{target.repository}#{target.number}: approve it and let it finish, or cancel it "
            f"(krate-sync intents cancel {earlier.name} --org {target.org}), then edit again"
        )
    # Fields under an open conflict wait for its resolution; the rest is written.
    held = conflict_fields(session, row)
    writable = writable_fields(target.kind)
    to_write = {k: v for k, v in edit.pending.items() if k in writable and k not in held}
    if not to_write:
        return EditOutcome(edit.local_generation, dict(edit.pending), None)
    try:
        intent = intent_for_local_edit(
            session,
            org=row.org,
            binding=binding,
            kind=target.kind,
            number=target.number,
            changes=to_write,
            actor=actor,
            repository=row.repository,
            idempotency_key=(
                f"{row.org}:edit:{row.provider_ref}:{row.repository}:"
                f"{target.kind}:{target.number}:g{edit.local_generation}"
            ),
            search_attributes=search_attributes,
        )
    except IntentRejected as error:
        raise EditRefused(f"edit not recorded: {error}") from error
    return EditOutcome(edit.local_generation, dict(edit.pending), intent)


def _record_committed(
    engine: Engine,
    target: EditTarget,
    changes: Mapping[str, Any],
    actor: str,
    search_attributes: bool,
) -> EditOutcome:
    # One transaction: a refused intent rolls the local edit back with it.
    with session_scope(engine) as session:
        return record_edit(
            session, target, changes, actor=actor, search_attributes=search_attributes
        )


async def submit_edit(
    engine: Engine,
    client: Client | None,
    task_queue: str,
    target: EditTarget,
    changes: Mapping[str, Any],
    *,
    actor: str,
    search_attributes: bool = True,
) -> EditOutcome:
    """Record (committed) and start the intent's workflow. With no client, or Temporal down,
    the intent stays stored in phase Pending (`start_error` says why) and the worker starts it
    when it next starts (`reconcile_pending_intents`)."""
    outcome = await asyncio.to_thread(
        _record_committed, engine, target, changes, actor, search_attributes
    )
    if outcome.intent is None or client is None:
        return outcome
    try:
        await start_write_intent(client, task_queue, outcome.intent)
    except RPCError as error:
        return replace(outcome, start_error=f"Temporal unavailable: {error.message}")
    return outcome
