"""Webhook deliveries: the delivery records (shared with the ingress) and `process_deliveries`.

A delivery row is an ExternalWebhookDelivery: `spec.processing.phase` / `attempts` are columns,
`processing.lastError`, `responseCode` and `eventRefs` live in the spec's extra JSON, and
`status` repeats the phase with a reason (why Ignored) and a normalized error (why Failed or
DeadLettered). Every change to a delivery goes through `set_processing`.

`process_deliveries` handles one batch for one binding, in one transaction when it can. It
locks the batch's rows (in id order), so two workers (or a retried activity) never process a
delivery twice; normalizes each payload; upserts the projections with one version-guarded
statement per table (an older event changes nothing); tombstones deletions; records the
ExternalSyncEvents with one insert; and marks every delivery, all or nothing. A finished
delivery is skipped, which is what makes processing idempotent.

Failure isolation: a delivery whose payload cannot be parsed or normalized (or that a fault
hook refuses) fails alone, recorded in the same transaction before anything of it is written.
A database error that is not a lost connection rolls the whole batch back, and the batch is
then processed again one delivery per transaction (the original path), so only the delivery
at fault is counted as failed. A lost connection fails the activity: Temporal retries it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Engine, String, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, select
from temporalio import activity

from activities.deliveries_models import (
    PROCESS_DELIVERIES_ACTIVITY,
    ProcessDeliveriesInput,
    ProcessDeliveriesResult,
)
from activities.projection import Owner, project
from providers.github import webhooks as github_webhooks
from providers.github.mapping import MappingContext
from resources.phases import DeliveryPhase, SyncEventPhase
from store.aggregated import column_values
from store.conflicts import merge_incoming  # issue 5 (conflicts)
from store.db import session_scope
from store.event_phases import supersede_replaced
from store.links import link_objects  # issue 9 (object links)
from store.manifests import parse_manifest
from store.models.aggregated import SyncEvent, WebhookDelivery, WebhookPayload
from store.models.projections import (
    Projection,
)
from store.partial import settle_partial
from store.payloads import get_payload
from store.projection_kinds import KIND_OF_TABLE, PROJECTION_BY_KIND
from store.refresh_marks import count_marked
from store.renames import follow_renames
from store.upsert import UpsertOutcome, mark_deleted, upsert_many

log = logging.getLogger("krate_sync.activities.deliveries")

# Phases after which nothing more happens to a delivery unless an operator replays it.
FINISHED = frozenset(
    {
        DeliveryPhase.PROCESSED,
        DeliveryPhase.IGNORED,
        DeliveryPhase.DEAD_LETTERED,
        DeliveryPhase.REJECTED,
    }
)
REPLAYABLE = frozenset({DeliveryPhase.DEAD_LETTERED, DeliveryPhase.FAILED})

# ------------------------------------------------------------------------------ delivery rows

_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")


def namespace_of(org: str) -> str:
    return f"krate-org-{org}"


def delivery_name(provider: str, delivery_id: str) -> str:
    """A Kubernetes-safe object name for a delivery, stable for (provider, delivery id)."""
    slug = _NAME_UNSAFE.sub("-", delivery_id.lower()).strip("-")
    digest = hashlib.sha256(f"{provider}\0{delivery_id}".encode()).hexdigest()[:10]
    if not slug or len(slug) > 60 or slug != delivery_id:
        # Ids that are not already name-safe get a digest so two ids never share a name.
        return f"{provider}-{slug[:40]}-{digest}".replace("--", "-")
    return f"{provider}-{slug}"


def normalized_error(error: BaseException | str, *, kind: str | None = None) -> dict[str, str]:
    """The error shape operators see on a delivery: a type and one message line."""
    if isinstance(error, str):
        return {"type": kind or "Error", "message": error}
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return {"type": kind or type(error).__name__, "message": message[:1000]}


def set_processing(
    row: WebhookDelivery,
    phase: DeliveryPhase,
    *,
    attempts: int | None = None,
    reason: str | None = None,
    error: Mapping[str, str] | None = None,
    event_refs: Sequence[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Move a delivery to `phase` (spec.processing and status together)."""
    row.phase = phase.value
    if attempts is not None:
        row.attempts = attempts
    processing = dict(row.spec_extra.get("processing") or {})
    status = dict(row.status_extra)
    status["phase"] = phase.value
    status["lastTransitionTime"] = (now or datetime.now(UTC)).isoformat()
    if error is not None:
        processing["lastError"] = f"{error['type']}: {error['message']}"
        status["error"] = dict(error)
    elif phase in (DeliveryPhase.PROCESSED, DeliveryPhase.IGNORED):
        status.pop("error", None)
    if reason is not None:
        status["reason"] = reason
    elif phase != DeliveryPhase.QUEUED:
        status.pop("reason", None)
    if event_refs is not None:
        processing["eventRefs"] = list(event_refs)
    # New dicts, not mutated ones: SQLAlchemy only notices a JSONB change by assignment.
    row.spec_extra = {**row.spec_extra, "processing": processing}
    row.status_extra = status
    row.updated_at = now or datetime.now(UTC)


def find_delivery(
    session: Session, org: str, provider: str, delivery_id: str, *, lock: bool = False
) -> WebhookDelivery | None:
    statement = select(WebhookDelivery).where(
        WebhookDelivery.org == org,
        WebhookDelivery.provider_ref == provider,
        WebhookDelivery.delivery_id == delivery_id,
    )
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement).first()


# ------------------------------------------------------------------------------- projections


# ---------------------------------------------------------------------------------- activity

FaultHook = Callable[[WebhookDelivery], None]


class DeliveryActivities:
    """`process_deliveries`, bound to the database engine (built once in worker.py).

    `fault` is a test seam: called before a delivery is applied; raising there simulates a
    projection fault (the dead-letter and replay tests use it).
    """

    def __init__(
        self, engine: Engine | Callable[[], Engine], *, fault: FaultHook | None = None
    ) -> None:
        # An engine, or a callable making one at first use (activities.LazyEngine).
        self._engine = engine
        self.fault = fault

    @property
    def engine(self) -> Engine:
        return self._engine if isinstance(self._engine, Engine) else self._engine()

    @activity.defn(name=PROCESS_DELIVERIES_ACTIVITY)
    def process_deliveries(self, input: ProcessDeliveriesInput) -> ProcessDeliveriesResult:
        result = ProcessDeliveriesResult()
        ids = list(dict.fromkeys(input.delivery_ids))  # dedupe, keep order
        if activity.in_activity():
            activity.heartbeat(len(ids))
        if self._process_batch(input, ids, result):
            return result
        for delivery_id in ids:  # the batch was rolled back: one transaction per delivery
            if activity.in_activity():
                activity.heartbeat(delivery_id)
            self._process_one(input, delivery_id, result)
        return result

    def _process_batch(
        self, input: ProcessDeliveriesInput, ids: list[str], result: ProcessDeliveriesResult
    ) -> bool:
        """The whole batch in one transaction; False when it was rolled back (nothing of it
        is stored, and `result` is untouched)."""
        batch = ProcessDeliveriesResult()
        try:
            with session_scope(self.engine) as session:
                self._apply_batch(session, input, ids, batch)
        except (OperationalError, DBAPIError) as error:
            if _is_transient(error):
                raise  # the database is unreachable: Temporal retries the whole batch
            failure: BaseException = error
        except Exception as error:
            failure = error
        else:
            _merge_results(result, batch)
            return True
        summary = normalized_error(failure)
        log.warning(
            "batch of %d rolled back (%s: %s); processing one by one",
            len(ids),
            summary["type"],
            summary["message"][:200],
        )
        return False

    def _apply_batch(
        self,
        session: Session,
        input: ProcessDeliveriesInput,
        ids: list[str],
        result: ProcessDeliveriesResult,
    ) -> None:
        now = datetime.now(UTC)
        statement = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.org == input.org,
                WebhookDelivery.provider_ref == input.provider,
                col(WebhookDelivery.delivery_id) == any_(_text_array(ids)),
            )
            .order_by(col(WebhookDelivery.id))  # one lock order for every worker
            .with_for_update()
        )
        found = {row.delivery_id: row for row in session.exec(statement)}
        rows: list[WebhookDelivery] = []
        for delivery_id in ids:
            row = found.get(delivery_id)
            if row is None or DeliveryPhase(row.phase or "Queued") in FINISHED:
                result.skipped += 1
            else:
                rows.append(row)
        if not rows:
            # Counted even when every delivery was finished already: a retried batch still
            # reports the ties an earlier attempt left for the binding's refresh round.
            result.refresh_wanted = _marks_of(session, input)
            return
        bodies: dict[str, bytes] = {}
        if input.provider_type == "github":
            digests = {r.payload_digest for r in rows if r.payload_digest is not None}
            if digests:
                payloads = session.exec(
                    select(WebhookPayload).where(
                        col(WebhookPayload.digest) == any_(_text_array(sorted(digests)))
                    )
                )
                bodies = {p.digest: p.body for p in payloads}
        plans: list[_Plan] = []
        for row in rows:
            try:
                plans.append(self._plan(input, row, bodies, now))
            except Exception as error:  # this delivery's own fault; nothing of it written yet
                self._fail_row(input, row, error, result)
        _write_plans(session, plans)
        for plan in plans:
            _finish(plan, now, result)
        result.refresh_wanted = _marks_of(session, input)

    def _plan(
        self,
        input: ProcessDeliveriesInput,
        row: WebhookDelivery,
        bodies: Mapping[str, bytes],
        now: datetime,
    ) -> _Plan:
        """What applying one delivery writes, computed without touching the database."""
        plan = _Plan(row=row, attempts=(row.attempts or 0) + 1)
        if input.provider_type != "github":
            plan.ignored_reason = (
                f"no webhook normalizer for provider type {input.provider_type!r} yet"
            )
            plan.skip_events = True
            return plan
        if row.payload_digest is None:
            raise PayloadNotJson("the delivery has no stored payload")
        body = bodies.get(row.payload_digest)
        if body is None:
            raise PayloadNotJson(f"payload {row.payload_digest} is missing from the store")
        payload = parse_payload(body)
        if self.fault is not None:
            self.fault(row)
        ctx = MappingContext(provider_ref=row.provider_ref, binding_ref=row.binding_ref)
        plan.normalized = github_webhooks.normalize(
            row.event_type, row.action, payload, ctx, received_at=row.received_at or now
        )
        plan.ignored_reason = plan.normalized.ignored_reason
        owner = Owner(org=row.org, provider_ref=row.provider_ref, binding_ref=row.binding_ref)
        for obj in plan.normalized.objects:
            projected = project(obj, owner)
            if projected is None:
                continue  # a pull request reported as an issue: its PR row is the record
            model, values = projected
            plan.upserts.append((model, values, (KIND_OF_TABLE[model], obj.external.native_id)))
        for deletion in plan.normalized.deletions:
            model = PROJECTION_BY_KIND[deletion.resource_kind]
            identity = {"org": row.org, "provider_ref": row.provider_ref, **deletion.identity}
            plan.deletions.append((model, identity, deletion.version))
        return plan

    def _fail_row(
        self,
        input: ProcessDeliveriesInput,
        row: WebhookDelivery,
        failure: BaseException,
        result: ProcessDeliveriesResult,
    ) -> None:
        """Count a failed attempt on a locked row (as `_record_failure` does in its own
        transaction)."""
        error = normalized_error(failure)
        attempts = (row.attempts or 0) + 1
        if isinstance(failure, PayloadNotJson) or attempts >= input.max_attempts:
            set_processing(row, DeliveryPhase.DEAD_LETTERED, attempts=attempts, error=error)
            result.dead_lettered += 1
            return
        set_processing(row, DeliveryPhase.FAILED, attempts=attempts, error=error)
        result.retry.append(row.delivery_id)
        result.retry_attempts = max(result.retry_attempts, attempts)

    def _process_one(
        self, input: ProcessDeliveriesInput, delivery_id: str, result: ProcessDeliveriesResult
    ) -> None:
        """One delivery in its own transaction: the batch path for a batch of one."""
        try:
            with session_scope(self.engine) as session:
                row = find_delivery(session, input.org, input.provider, delivery_id, lock=True)
                result.refresh_wanted = _marks_of(session, input)
                if row is None or DeliveryPhase(row.phase or "Queued") in FINISHED:
                    result.skipped += 1
                    return
                now = datetime.now(UTC)
                stored = get_payload(session, row.payload_digest) if row.payload_digest else None
                bodies = {stored.digest: stored.body} if stored is not None else {}
                plan = self._plan(input, row, bodies, now)
                _write_plans(session, [plan])
                _finish(plan, now, result)
                result.refresh_wanted = _marks_of(session, input)
                return
        except (OperationalError, DBAPIError) as error:
            if _is_transient(error):
                raise  # the database is unreachable: Temporal retries the whole batch
            failure: BaseException = error
        except Exception as error:  # any other fault belongs to this delivery alone
            failure = error
        self._record_failure(input, delivery_id, failure, result)

    def _record_failure(
        self,
        input: ProcessDeliveriesInput,
        delivery_id: str,
        failure: BaseException,
        result: ProcessDeliveriesResult,
    ) -> None:
        error = normalized_error(failure)
        with session_scope(self.engine) as session:
            row = find_delivery(session, input.org, input.provider, delivery_id, lock=True)
            if row is None or DeliveryPhase(row.phase or "Queued") in FINISHED:
                result.skipped += 1
                return
            attempts = (row.attempts or 0) + 1
            # A payload that is not JSON will never parse: no point retrying it.
            permanent = isinstance(failure, PayloadNotJson)
            if permanent or attempts >= input.max_attempts:
                set_processing(row, DeliveryPhase.DEAD_LETTERED, attempts=attempts, error=error)
                result.dead_lettered += 1
                return
            set_processing(row, DeliveryPhase.FAILED, attempts=attempts, error=error)
            result.retry.append(delivery_id)
            result.retry_attempts = max(result.retry_attempts, attempts)


@dataclass
class _Plan:
    """One delivery of a batch: what it writes, and (after `_write_plans`) the outcomes."""

    row: WebhookDelivery
    attempts: int
    normalized: github_webhooks.NormalizedDelivery | None = None
    ignored_reason: str | None = None
    skip_events: bool = False
    upserts: list[tuple[type[Projection], dict[str, Any], tuple[str, str]]] = field(
        default_factory=list
    )
    deletions: list[tuple[type[Projection], dict[str, Any], datetime | None]] = field(
        default_factory=list
    )
    outcomes: dict[tuple[str, str], UpsertOutcome] = field(default_factory=dict)
    event_refs: list[str] = field(default_factory=list)


@dataclass
class _Round:
    upserts: dict[type[Projection], list[tuple[int, tuple[str, str], dict[str, Any]]]] = field(
        default_factory=dict
    )
    deletions: list[tuple[type[Projection], dict[str, Any], datetime | None]] = field(
        default_factory=list
    )


def _identity_key(model: type[Projection], values: Mapping[str, Any]) -> tuple[Any, ...]:
    return (model, *(str(values.get(c)) for c in model.identity))


def _write_plans(session: Session, plans: list[_Plan]) -> None:
    """Apply the plans' projections as if one delivery after the other, in few statements.

    The n-th write to one object (identity) of the batch goes into round n, so every round
    touches each object at most once and the rounds keep the deliveries' order per object: an
    object written twice sees both writes in delivery order, and the version guard decides as
    it would one transaction per delivery. A round is one `merge_incoming` + `upsert_many` per
    table, then its tombstones. With distinct objects (the usual case) there is one round.
    """
    # Renames first: a newer Repository row under another name moves the repository's rows,
    # and rows still named by a former name are written under the current one
    # (store/renames.py), so the rounds below group and upsert by current names.
    follow_renames(
        session,
        [
            *((model, values) for plan in plans for model, values, _ in plan.upserts),
            *((model, identity) for plan in plans for model, identity, _ in plan.deletions),
        ],
    )
    rounds: list[_Round] = []
    seen: dict[tuple[Any, ...], int] = {}

    def round_for(key: tuple[Any, ...]) -> _Round:
        index = seen.get(key, 0)
        seen[key] = index + 1
        while len(rounds) <= index:
            rounds.append(_Round())
        return rounds[index]

    for position, plan in enumerate(plans):
        for model, values, outcome_key in plan.upserts:
            entries = round_for(_identity_key(model, values)).upserts.setdefault(model, [])
            entries.append((position, outcome_key, values))
        for model, identity, version in plan.deletions:
            round_for(_identity_key(model, identity)).deletions.append((model, identity, version))
    for current in rounds:
        for model, entries in current.upserts.items():
            # issue 5 (conflicts): pending local edits are merged three-way first.
            # Partial payloads keep stored values for what they lack (store/partial.py).
            settled = settle_partial(session, model, [values for _, _, values in entries])
            merged = merge_incoming(session, model, settled)
            outcomes = upsert_many(session, model, merged)
            for (position, outcome_key, _), outcome in zip(entries, outcomes, strict=True):
                plans[position].outcomes[outcome_key] = outcome
        for model, identity, version in current.deletions:
            mark_deleted(session, model, identity, version=version)
    events: list[dict[str, Any]] = []
    for plan in plans:
        plan_events = _event_rows(plan)
        events.extend(plan_events)
        plan.event_refs = [str(e["name"]) for e in plan_events]
    if events:
        session.execute(insert(_SYNC_EVENTS), events)
    _supersede_verifying(session, plans)
    # issue 9: every object written or tombstoned gets its ExternalObjectLink (store/links.py).
    link_objects(session, [(m, row) for p in plans for m, row, _ in (*p.upserts, *p.deletions)])


def _supersede_verifying(session: Session, plans: list[_Plan]) -> None:
    """Events that waited for a fresh read of an object this batch replaced with a newer
    version are Superseded: the newer version settled the tie (and cleared its mark).

    Only objects whose last write in the batch replaced the row: a tie after the newer
    version (a later round) left a new mark, and its event still waits."""
    last: dict[tuple[str, str, str, str], UpsertOutcome] = {}
    for plan in plans:
        for key, outcome in plan.outcomes.items():
            last[(plan.row.org, plan.row.provider_ref, *key)] = outcome
    supersede_replaced(session, last.items())


_SYNC_EVENTS: Table = SyncEvent.__table__  # type: ignore[attr-defined]
_SERVER_FILLED = frozenset({"id", "uid", "generation", "created_at", "updated_at"})
_EVENT_COLUMNS = tuple(c.name for c in _SYNC_EVENTS.c if c.name not in _SERVER_FILLED)


def _event_rows(plan: _Plan) -> list[dict[str, Any]]:
    """The sync_events rows of one delivery (as `insert_aggregated` would store them)."""
    normalized = plan.normalized
    if normalized is None or plan.skip_events:
        return []
    row = plan.row
    out: list[dict[str, Any]] = []
    for index, draft in enumerate(normalized.events):
        outcome = plan.outcomes.get((draft.resource_kind, draft.native_id))
        ignored = not draft.projected or normalized.ignored_reason is not None
        phase = event_phase(outcome, ignored=ignored)
        manifest = _event_manifest(row, f"{row.name}-{index}", draft, phase, outcome)
        values = column_values(parse_manifest(manifest))
        out.append({name: values.get(name) for name in _EVENT_COLUMNS})
    return out


def event_phase(outcome: UpsertOutcome | None, *, ignored: bool) -> SyncEventPhase:
    """What became of an event's change, from the upsert's outcome for its object.

    A deletion or a record kept elsewhere (a pull request listed as an issue) has no outcome
    of its own: it is Applied."""
    if ignored:
        return SyncEventPhase.IGNORED
    if outcome == UpsertOutcome.STALE:
        return SyncEventPhase.SUPERSEDED  # an older event after a newer one
    if outcome == UpsertOutcome.TIED:
        return SyncEventPhase.VERIFYING  # same version, other content: a fresh read decides
    if outcome == UpsertOutcome.UNCHANGED:
        return SyncEventPhase.UNCHANGED
    return SyncEventPhase.APPLIED


def _finish(plan: _Plan, now: datetime, result: ProcessDeliveriesResult) -> None:
    refs = plan.event_refs
    if plan.ignored_reason is not None:
        set_processing(
            plan.row,
            DeliveryPhase.IGNORED,
            attempts=plan.attempts,
            reason=plan.ignored_reason,
            event_refs=refs if plan.normalized is not None else None,
            now=now,
        )
        result.ignored += 1
    else:
        set_processing(
            plan.row, DeliveryPhase.PROCESSED, attempts=plan.attempts, event_refs=refs, now=now
        )
        result.processed += 1
    result.events += len(refs)


def _marks_of(session: Session, input: ProcessDeliveriesInput) -> int:
    """The binding's rows waiting for a fresh read (see store/refresh_marks.py)."""
    return count_marked(
        session,
        PROJECTION_BY_KIND.values(),
        org=input.org,
        provider_ref=input.provider,
        binding_ref=input.binding,
    )


def _merge_results(into: ProcessDeliveriesResult, part: ProcessDeliveriesResult) -> None:
    into.refresh_wanted = part.refresh_wanted
    into.processed += part.processed
    into.ignored += part.ignored
    into.dead_lettered += part.dead_lettered
    into.skipped += part.skipped
    into.events += part.events
    into.retry.extend(part.retry)
    into.retry_attempts = max(into.retry_attempts, part.retry_attempts)


class PayloadNotJson(ValueError):
    """The stored body is not a JSON object."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body, or PayloadNotJson saying why not."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadNotJson(f"body is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise PayloadNotJson(f"body is JSON but not an object ({type(document).__name__})")
    return document


def _event_manifest(
    row: WebhookDelivery,
    name: str,
    draft: github_webhooks.SyncEventDraft,
    phase: SyncEventPhase,
    outcome: UpsertOutcome | None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase.value}
    if outcome is not None:
        status["outcome"] = outcome.value
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalSyncEvent",
        "metadata": {
            "name": name,
            "namespace": row.namespace,
            # issue 9: the delivery's labels (repository and owner when known), this interface.
            "labels": {**row.labels, "krate.a5c.ai/interface": draft.interface},
        },
        "spec": {
            "organizationRef": row.org,
            "providerRef": row.provider_ref,
            "bindingRef": row.binding_ref,
            "sourceDelivery": row.delivery_id,
            "interface": draft.interface,
            "resourceKind": draft.resource_kind,
            "nativeId": draft.native_id,
            "nodeId": draft.node_id,
            "action": draft.action,
            "eventTime": draft.event_time.isoformat(),
            "normalized": json.loads(json.dumps(draft.normalized, default=str)),
        },
        "status": status,
    }


def _text_array(values: Sequence[str]) -> BindParameter[Any]:
    """One array parameter for `= ANY(...)`: unlike `IN (...)`, whose text grows with the list,
    the statement stays the same for every batch, so PostgreSQL can reuse its plan."""
    text_array: ARRAY[Any] = ARRAY(String)
    return bindparam("values", list(values), type_=text_array)


def _is_transient(error: DBAPIError) -> bool:
    """Connection-level failures (server down, connection lost) rather than bad data."""
    return isinstance(error, OperationalError) or bool(error.connection_invalidated)


def sync_events_for(session: Session, org: str, delivery_id: str) -> list[SyncEvent]:
    statement = select(SyncEvent).where(
        SyncEvent.org == org, SyncEvent.source_delivery == delivery_id
    )
    return list(session.exec(statement).all())
