"""Webhook deliveries: the delivery records (shared with the ingress) and `process_deliveries`.

A delivery row is an ExternalWebhookDelivery: `spec.processing.phase` / `attempts` are columns,
`processing.lastError`, `responseCode` and `eventRefs` live in the spec's extra JSON, and
`status` repeats the phase with a reason (why Ignored) and a normalized error (why Failed or
DeadLettered). Every change to a delivery goes through `set_processing`.

`process_deliveries` handles one batch for one binding. Each delivery is one transaction that
locks its row, so two workers (or a retried activity) never process it twice: it normalizes
the payload, upserts the projections (version-guarded: an older event changes nothing), tombstones
deletions, records the ExternalSyncEvents and marks the delivery, all or nothing. A finished
delivery is skipped, which is what makes processing idempotent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, select
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
from store.aggregated import insert_aggregated
from store.conflicts import merge_incoming  # issue 5 (conflicts)
from store.db import session_scope
from store.models.aggregated import SyncEvent, WebhookDelivery
from store.models.projections import (
    BranchProtection,
    Comment,
    Commit,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Pipeline,
    Projection,
    PullRequest,
    Repository,
    RepositoryPermission,
    Review,
)
from store.payloads import get_payload
from store.upsert import UpsertOutcome, mark_deleted, upsert

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

PROJECTION_BY_KIND: dict[str, type[Projection]] = {
    "Repository": Repository,
    "Issue": Issue,
    "PullRequest": PullRequest,
    "Review": Review,
    "Comment": Comment,
    "Pipeline": Pipeline,
    "Job": Job,
    "GitRef": GitRef,
    "Commit": Commit,
    "DeployKey": DeployKey,
    "RepositoryPermission": RepositoryPermission,
    "BranchProtection": BranchProtection,
}


_KIND_OF_TABLE = {model: kind for kind, model in PROJECTION_BY_KIND.items()}

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
        for delivery_id in dict.fromkeys(input.delivery_ids):  # dedupe, keep order
            if activity.in_activity():
                activity.heartbeat(delivery_id)
            self._process_one(input, delivery_id, result)
        return result

    def _process_one(
        self, input: ProcessDeliveriesInput, delivery_id: str, result: ProcessDeliveriesResult
    ) -> None:
        try:
            with session_scope(self.engine) as session:
                row = find_delivery(session, input.org, input.provider, delivery_id, lock=True)
                if row is None or DeliveryPhase(row.phase or "Queued") in FINISHED:
                    result.skipped += 1
                    return
                attempts = (row.attempts or 0) + 1
                phase, events = self._apply(session, input, row, attempts)
                if phase == DeliveryPhase.PROCESSED:
                    result.processed += 1
                else:
                    result.ignored += 1
                result.events += events
                return
        except (OperationalError, DBAPIError) as error:
            if _is_transient(error):
                raise  # the database is unreachable: Temporal retries the whole batch
            failure: BaseException = error
        except Exception as error:  # any other fault belongs to this delivery alone
            failure = error
        self._record_failure(input, delivery_id, failure, result)

    def _apply(
        self,
        session: Session,
        input: ProcessDeliveriesInput,
        row: WebhookDelivery,
        attempts: int,
    ) -> tuple[DeliveryPhase, int]:
        now = datetime.now(UTC)
        if input.provider_type != "github":
            set_processing(
                row,
                DeliveryPhase.IGNORED,
                attempts=attempts,
                reason=f"no webhook normalizer for provider type {input.provider_type!r} yet",
                now=now,
            )
            return DeliveryPhase.IGNORED, 0
        payload = _load_payload(session, row)
        if self.fault is not None:
            self.fault(row)
        ctx = MappingContext(provider_ref=row.provider_ref, binding_ref=row.binding_ref)
        normalized = github_webhooks.normalize(
            row.event_type, row.action, payload, ctx, received_at=row.received_at or now
        )
        owner = Owner(org=row.org, provider_ref=row.provider_ref, binding_ref=row.binding_ref)
        outcomes: dict[tuple[str, str], UpsertOutcome] = {}
        for obj in normalized.objects:
            projected = project(obj, owner)
            if projected is None:
                continue  # a pull request reported as an issue: its PR row is the record
            model, values = projected
            # issue 5 (conflicts): pending local edits are merged three-way first.
            values = merge_incoming(session, model, [values])[0]
            outcomes[(_KIND_OF_TABLE[model], obj.external.native_id)] = upsert(
                session, model, values
            )
        for deletion in normalized.deletions:
            model = PROJECTION_BY_KIND[deletion.resource_kind]
            identity = {"org": row.org, "provider_ref": row.provider_ref, **deletion.identity}
            mark_deleted(session, model, identity, version=deletion.version)
        refs: list[str] = []
        for index, draft in enumerate(normalized.events):
            name = f"{row.name}-{index}"
            outcome = outcomes.get((draft.resource_kind, draft.native_id))
            if not draft.projected or normalized.ignored_reason is not None:
                event_phase = SyncEventPhase.IGNORED
            elif outcome == UpsertOutcome.STALE:
                event_phase = SyncEventPhase.SUPERSEDED  # an older event after a newer one
            else:
                event_phase = SyncEventPhase.APPLIED
            insert_aggregated(session, _event_manifest(row, name, draft, event_phase, outcome))
            refs.append(name)
        if normalized.ignored_reason is not None:
            set_processing(
                row,
                DeliveryPhase.IGNORED,
                attempts=attempts,
                reason=normalized.ignored_reason,
                event_refs=refs,
                now=now,
            )
            return DeliveryPhase.IGNORED, len(refs)
        set_processing(row, DeliveryPhase.PROCESSED, attempts=attempts, event_refs=refs, now=now)
        return DeliveryPhase.PROCESSED, len(refs)

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


def _load_payload(session: Session, row: WebhookDelivery) -> dict[str, Any]:
    if row.payload_digest is None:
        raise PayloadNotJson("the delivery has no stored payload")
    stored = get_payload(session, row.payload_digest)
    if stored is None:
        raise PayloadNotJson(f"payload {row.payload_digest} is missing from the store")
    return parse_payload(stored.body)


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
            "labels": {
                "krate.a5c.ai/org": row.org,
                "krate.a5c.ai/provider": row.provider_ref,
                "krate.a5c.ai/interface": draft.interface,
            },
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


def _is_transient(error: DBAPIError) -> bool:
    """Connection-level failures (server down, connection lost) rather than bad data."""
    return isinstance(error, OperationalError) or bool(error.connection_invalidated)


def sync_events_for(session: Session, org: str, delivery_id: str) -> list[SyncEvent]:
    statement = select(SyncEvent).where(
        SyncEvent.org == org, SyncEvent.source_delivery == delivery_id
    )
    return list(session.exec(statement).all())
