"""`POST /webhooks/{org}/{provider}`: verify, store, acknowledge, then signal the binding.

Order of checks, cheapest first, so bad input changes nothing and costs little:

1. the provider exists (404) and can verify (secret configured: else 500, fail closed);
2. `Content-Length` above 25 MiB: 413 before reading anything;
3. content type neither JSON nor, for types whose registry entry names a `formField`,
   `application/x-www-form-urlencoded`: 415;
4. no proof header at all, or no event header: 400;
5. the body is read in chunks and refused (413) as soon as it passes 25 MiB;
6. verification (constant time): 401 is recorded as a `Rejected` delivery, never processed.

The provider, its secrets, the bindings and their workflow configs come from a cache
(ingress/cache.py) revalidated every second, not from the database per request.

Store first, acknowledge after: the payload (by sha256 digest) and the ExternalWebhookDelivery
row go to the group-commit writer (ingress/writer.py), which stores the deliveries of
concurrent requests in one transaction; each request answers once that transaction committed.
The unique (org, provider, delivery id) key makes a duplicate a no-op answered 200, even when
two copies race. Only then is the delivery id handed to the signal batcher, which sends one
signal-with-start `new_deliveries` to `sync/{org}/{binding}` per binding every 100 ms; if
Temporal is down the row stays `Queued` and the sweeper signals it later, so the answer is
still 202. A database failure is a 503: never a 4xx for our own trouble (GitLab disables hooks
that get 4xx), never a 2xx without a durable row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from activities.deliveries import (
    PayloadNotJson,
    delivery_name,
    normalized_error,
    parse_payload,
    set_processing,
)
from ingress.lookup import ProviderInfo, SecretUnavailable, sync_config
from ingress.routing import BindingRoutes
from ingress.runtime import runtime
from ingress.signaler import TemporalUnavailable
from ingress.writer import DELIVERIES, DELIVERY_COLUMNS, PendingDelivery, write_batch
from providers.github.membership import payload_owners
from providers.github.webhooks import interface_hints, payload_repository, payload_repository_id
from providers.registry import builtin_registry
from providers.webhooks import (
    UnknownProviderTypeError,
    VerificationResult,
    WebhookRequest,
    signature_headers_present,
    verifier_for,
)
from resources.phases import DeliveryPhase
from settings import Settings
from store.aggregated import insert_aggregated
from store.db import session_scope
from store.payloads import payload_digest
from store.renames import bound_repository_ids
from store.resources import get_resources
from workflows.binding_sync import BindingSyncConfig

log = logging.getLogger("krate_sync.ingress.webhooks")

MAX_BODY_BYTES = 25 * 1024 * 1024
JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
# A form-encoded hook sends one field; more than this is not a hook's body.
MAX_FORM_FIELDS = 16
# Headers naming the event, per provider type; the verifier reads them, we require them.
EVENT_HEADERS: dict[str, str] = {
    "github": "x-github-event",
    "gitea": "x-gitea-event",
    "gitlab": "x-gitlab-event",
    "bitbucket": "x-event-key",
}


class BodyTooLarge(Exception):
    pass


def _problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "30"} if status == 503 else None
    return JSONResponse({"error": reason, **extra}, status_code=status, headers=headers)


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, chunk by chunk; BodyTooLarge as soon as it passes `limit` (the rest is
    never read, and the server drops the connection)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _json_content_type(value: str | None) -> bool:
    media = _media_type(value)
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


@cache
def form_field(provider_type: str) -> str | None:
    """The form field carrying the JSON for this provider type (registry `formField`), or None
    when its hooks must send JSON."""
    descriptor = builtin_registry().find(provider_type)
    return descriptor.webhook_signature.form_field if descriptor else None


def unwrap_form(body: bytes, field: str) -> bytes:
    """The value of a form-encoded body's `field` (the JSON document, byte for byte as the
    provider serialised it); PayloadNotJson saying why when there is not exactly one."""
    try:
        pairs = parse_qsl(
            body, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError as error:
        raise PayloadNotJson(f"form body cannot be decoded: {error}") from error
    values = [value for name, value in pairs if name == field.encode()]
    if len(values) != 1:
        found = f"no {field!r} field" if not values else f"{len(values)} {field!r} fields"
        raise PayloadNotJson(
            f"form body has {found}; a form-encoded hook sends exactly one, {field}=<JSON>"
        )
    return values[0]


@dataclass(frozen=True)
class Stored:
    name: str
    delivery_id: str
    phase: DeliveryPhase
    duplicate: bool = False
    config: BindingSyncConfig | None = None
    reason: str | None = None


def _source_labels(
    provider: ProviderInfo, event: str, repository: str | None
) -> tuple[str, str, dict[str, str], list[str]]:
    """(owner, repository, labels, interface hints) of a delivery, for its manifest and row."""
    owner, _, repo = (repository or "").partition("/")
    labels = {"krate.a5c.ai/org": provider.org, "krate.a5c.ai/provider": provider.name}
    hints: list[str] = list(interface_hints(event)) if provider.provider_type == "github" else []
    if hints:
        labels["krate.a5c.ai/interface"] = hints[0]
    if repo:
        labels["krate.a5c.ai/repository"] = repo
        labels["krate.a5c.ai/external-owner"] = owner
    return owner, repo, labels, hints


@dataclass(frozen=True)
class DeliveryFacts:
    """What one delivery's record says, whichever way it is built (manifest or row)."""

    name: str
    delivery_id: str
    event: str
    action: str | None
    received_at: datetime
    result: VerificationResult
    digest: str | None
    binding: str | None
    repository: str | None
    phase: DeliveryPhase
    status: dict[str, Any]


def _manifest(
    provider: ProviderInfo, facts: DeliveryFacts, extra_spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    f = facts
    owner, repo, labels, hints = _source_labels(provider, f.event, f.repository)
    spec: dict[str, Any] = {
        "organizationRef": provider.org,
        "providerRef": provider.name,
        "bindingRef": f.binding,
        "interfaceHints": hints,
        "deliveryId": f.delivery_id,
        "eventType": f.event,
        "action": f.action,
        "receivedAt": f.received_at.isoformat(),
        "signature": {"algorithm": f.result.algorithm, "verified": f.result.verified},
        "source": {"owner": owner or None, "repository": repo or None},
        "processing": {"phase": f.phase.value, "attempts": 0},
        **(extra_spec or {}),
    }
    if "error" in f.status:
        spec["processing"]["lastError"] = "{type}: {message}".format(**f.status["error"])
    if f.digest is not None:
        spec["payloadRef"] = {"storage": "postgres", "digest": f.digest}
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalWebhookDelivery",
        "metadata": {"name": f.name, "namespace": provider.namespace, "labels": labels},
        "spec": spec,
        "status": {"phase": f.phase.value, **f.status},
    }


def row_values(provider: ProviderInfo, facts: DeliveryFacts) -> dict[str, Any]:
    """The webhook_deliveries columns of `_manifest(...)` (same facts), built directly.

    Equal to `delivery_values(_manifest(...))` (a test holds them together); the generic
    manifest-to-row conversion deep-copies and re-validates the document, which cost about a
    tenth of the receiver's CPU per delivery.
    """
    f = facts
    owner, repo, labels, hints = _source_labels(provider, f.event, f.repository)
    spec_extra: dict[str, Any] = {}
    if "error" in f.status:
        spec_extra["processing"] = {"lastError": "{type}: {message}".format(**f.status["error"])}
    values = dict.fromkeys(DELIVERY_COLUMNS)
    values.update(
        namespace=provider.namespace,
        name=f.name,
        labels=labels,
        annotations={},
        spec_extra=spec_extra,
        status_extra={"phase": f.phase.value, **f.status},
        org=provider.org,
        provider_ref=provider.name,
        binding_ref=f.binding,
        interface_hints=list(hints),
        delivery_id=f.delivery_id,
        event_type=f.event,
        action=f.action,
        received_at=f.received_at,
        signature_algorithm=f.result.algorithm,
        signature_verified=f.result.verified,
        source_owner=owner or None,
        source_repository=repo or None,
        payload_storage="postgres" if f.digest is not None else None,
        payload_digest=f.digest,
        phase=f.phase.value,
        attempts=0,
    )
    return values


@dataclass(frozen=True)
class Prepared:
    """A verified delivery, classified and ready for the writer."""

    pending: PendingDelivery
    phase: DeliveryPhase
    binding: dict[str, Any] | None
    reason: str | None


def prepare_verified(
    provider: ProviderInfo,
    result: VerificationResult,
    body: bytes,
    content_type: str,
    received_at: datetime,
    binding_for: Callable[[str | None, str | None, Sequence[str]], dict[str, Any] | None],
) -> Prepared:
    """Parse and classify a verified delivery (Queued, Ignored or DeadLettered) and build its
    payload and row. No I/O: `binding_for(full_name, repository_id, owners)` finds the binding
    of a repository, by its stable id first, else the owner-wide binding of one of the
    accounts the delivery concerns (ingress/routing.py)."""
    event = result.event or "unknown"
    status: dict[str, Any] = {}
    payload: dict[str, Any] | None = None
    phase = DeliveryPhase.QUEUED
    field = form_field(provider.provider_type) if _media_type(content_type) == FORM_TYPE else None
    try:
        if field is not None:
            # The signature covered the form body; what is stored is the JSON inside it, so
            # processing, replay and the digest work as for a JSON hook. A body that holds no
            # JSON object is stored as received, for the dead letter.
            inner = unwrap_form(body, field)
            try:
                payload = parse_payload(inner)
            except PayloadNotJson as error:
                raise PayloadNotJson(f"form field {field!r}: {error}") from error
            body, content_type = inner, "application/json"
            status["receivedContentType"] = FORM_TYPE
        else:
            payload = parse_payload(body)
    except PayloadNotJson as error:
        phase = DeliveryPhase.DEAD_LETTERED
        status["error"] = normalized_error(error)
    action = result.action or (
        payload.get("action") if payload and isinstance(payload.get("action"), str) else None
    )
    repository = payload_repository(payload) if payload else None
    repository_id = payload_repository_id(payload) if payload else None
    digest = payload_digest(body)
    delivery_id = result.delivery_id or digest  # providers without ids: dedupe by content
    name = delivery_name(provider.name, delivery_id)
    binding: dict[str, Any] | None = None
    if phase == DeliveryPhase.QUEUED:
        owners = payload_owners(payload) if payload else []
        binding = binding_for(repository, repository_id, owners)
        if binding is None:
            phase = DeliveryPhase.IGNORED
            ident = f" (id {repository_id})" if repository_id else ""
            status["reason"] = (
                f"no binding of provider {provider.name} for repository {repository}{ident}"
                if repository
                else f"no owner-wide binding of provider {provider.name} for {', '.join(owners)}"
                if owners
                else "the delivery names no repository, so no binding can take it"
            )
    values = row_values(
        provider,
        DeliveryFacts(
            name=name,
            delivery_id=delivery_id,
            event=event,
            action=action,
            received_at=received_at,
            result=result,
            digest=digest,
            binding=str(binding["metadata"]["name"]) if binding else None,
            repository=repository,
            phase=phase,
            status=status,
        ),
    )
    pending = PendingDelivery(
        org=provider.org,
        provider=provider.name,
        delivery_id=delivery_id,
        values=values,
        digest=digest,
        body=body,
        content_type=content_type,
    )
    return Prepared(pending, phase, binding, status.get("reason"))


def store_verified(
    engine: Engine,
    provider: ProviderInfo,
    result: VerificationResult,
    body: bytes,
    content_type: str,
    received_at: datetime,
) -> Stored:
    """Payload + delivery row in one transaction of their own, without the caches or the
    group-commit writer (for tools and step timings; the receiver uses both)."""
    with session_scope(engine) as session:
        bindings = get_resources(session, "ExternalBackendBinding", provider.namespace)
        ids = bound_repository_ids(session, org=provider.org, provider_ref=provider.name)
        routes = BindingRoutes.build(provider, bindings, ids)
        prepared = prepare_verified(
            provider, result, body, content_type, received_at, routes.binding_for
        )
        config = sync_config(session, provider, prepared.binding) if prepared.binding else None
    outcome = write_batch(engine, [prepared.pending])[0]
    phase = DeliveryPhase(outcome.phase or "Queued")
    if outcome.duplicate:
        return Stored(outcome.name, outcome.delivery_id, phase, duplicate=True)
    return Stored(outcome.name, outcome.delivery_id, phase, config=config, reason=prepared.reason)


def store_rejected(
    engine: Engine,
    provider: ProviderInfo,
    result: VerificationResult,
    received_at: datetime,
    size: int,
) -> str:
    """Record a delivery that failed verification. Its claimed id is unverified, so it must not
    take the real id's place (a forger could then block the genuine delivery as a duplicate),
    and its body is not stored (anyone can send one)."""
    rejection = uuid.uuid4().hex
    name = f"{provider.name}-rejected-{rejection[:16]}"
    manifest = _manifest(
        provider,
        DeliveryFacts(
            name=name,
            delivery_id=f"rejected:{rejection}",
            event=result.event or "unknown",
            action=None,
            received_at=received_at,
            result=result,
            digest=None,
            binding=None,
            repository=None,
            phase=DeliveryPhase.REJECTED,
            status={
                "reason": result.message,
                "error": normalized_error(result.message, kind=str(result.failure)),
            },
        ),
        extra_spec={
            "claimedDeliveryId": result.delivery_id,
            "bodySize": size,
        },
    )
    with session_scope(engine) as session:
        insert_aggregated(session, manifest)
    return name


def mark_signaled(engine: Engine, org: str, provider: str, delivery_ids: Sequence[str]) -> None:
    """Note that Temporal took the signal, so the sweeper leaves these deliveries alone.

    One set-based UPDATE: the new key is merged into the row's current status by the database,
    so nothing another writer put there is lost, and only rows still `Queued` are touched.
    Rows locked right now are skipped rather than waited for: the lock is the activity
    processing them, after which they are no longer Queued (and if it rolls back, the sweeper
    signals them again, which the workflow and the activity deduplicate).
    """
    if not delivery_ids:
        return
    table = DELIVERIES
    queued = (
        select(table.c.id)
        .where(
            table.c.org == org,
            table.c.provider_ref == provider,
            table.c.delivery_id.in_(list(delivery_ids)),
            table.c.phase == DeliveryPhase.QUEUED.value,
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    signaled_at = func.jsonb_build_object("signaledAt", datetime.now(UTC).isoformat())
    statement = (
        update(table)
        .where(table.c.id.in_(queued), table.c.phase == DeliveryPhase.QUEUED.value)
        .values(status_extra=table.c.status_extra.op("||")(signaled_at))
    )
    with engine.begin() as conn:
        conn.execute(statement)


async def receive(request: Request) -> JSONResponse:
    org = request.path_params["org"]
    provider_name = request.path_params["provider"]
    rt = runtime(request.app)
    rt.ensure_sweeper()
    try:
        view = await rt.configs.view(org, provider_name)
    except SQLAlchemyError as error:
        log.warning("webhook %s/%s: database unavailable: %s", org, provider_name, error)
        return _problem(503, "database unavailable; retry later")
    if view is None:
        return _problem(404, f"no provider {provider_name!r} in org {org!r}")
    provider = view.provider
    if not provider.webhook_configured:
        # Valid (a provider may serve backfill only), but nothing could verify a delivery.
        return _problem(
            404,
            f"provider {provider_name!r} has no webhook configured; add spec.webhook with a "
            "secretRef to its ExternalBackendProvider to receive deliveries",
        )
    if not provider.webhook_enabled:
        return _problem(404, f"webhooks are disabled for provider {provider_name!r}")
    try:
        verifier = verifier_for(provider.provider_type)
        secrets = view.require_secrets()
    except (SecretUnavailable, UnknownProviderTypeError) as error:
        log.warning("webhook %s/%s cannot be verified: %s", org, provider_name, error)
        return _problem(500, "webhook verification is not configured for this provider")

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _problem(413, f"body larger than {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type")
    form = _media_type(content_type) == FORM_TYPE and form_field(provider.provider_type)
    if not (form or _json_content_type(content_type)):
        return _problem(
            415,
            "content type must be application/json (configure the hook to send JSON)"
            if form_field(provider.provider_type) is None
            else f"content type must be application/json or {FORM_TYPE}",
        )
    query = dict(request.query_params)
    if not signature_headers_present(provider.provider_type, request.headers, query):
        return _problem(400, "missing signature header")
    event_header = EVENT_HEADERS.get(provider.provider_type)
    if event_header and not request.headers.get(event_header):
        return _problem(400, f"missing {event_header} header")
    try:
        body = await read_limited(request)
    except BodyTooLarge:
        return _problem(413, f"body larger than {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        return _problem(400, "client disconnected before the body was complete")

    received_at = datetime.now(UTC)
    result = verifier.verify(
        WebhookRequest.of(request.headers.items(), body, request.method, query),
        secrets,
        received_at,
    )
    if not result.verified:
        if result.http_status == 401:
            try:
                await run_in_threadpool(
                    store_rejected, rt.engine, provider, result, received_at, len(body)
                )
            except SQLAlchemyError as error:
                log.warning("could not record a rejected delivery: %s", error)
        return _problem(result.http_status, result.message or str(result.failure))

    # Parsing, classifying and building the row are pure CPU (a fraction of a millisecond for
    # a typical body): done here, on the loop, rather than paying a thread hop.
    prepared = prepare_verified(
        provider,
        result,
        body,
        request.headers.get("content-type", "application/json"),
        received_at,
        view.binding_for,
    )
    config: BindingSyncConfig | None = None
    if prepared.binding is not None:
        try:
            config = await rt.configs.config_for(view, prepared.binding)
        except Exception:  # a stored manifest that no longer validates: our trouble
            log.exception("webhook %s/%s: binding config unusable", org, provider_name)
            return _problem(500, "the binding's stored configuration cannot be planned")
    try:
        outcome = await rt.writer.submit(prepared.pending)
    except Exception as error:  # the batch's transaction failed: nothing of it is stored
        log.warning("webhook %s/%s: could not store: %s", org, provider_name, error)
        return _problem(503, "database unavailable; retry later")
    answer: dict[str, Any] = {"delivery": outcome.name, "phase": outcome.phase}
    if outcome.duplicate:
        return JSONResponse({**answer, "duplicate": True}, status_code=200)
    if prepared.phase != DeliveryPhase.QUEUED or config is None:
        if prepared.reason:
            answer["reason"] = prepared.reason
        return JSONResponse(answer, status_code=200)
    # The row is durable: acknowledge now. The id joins its binding's next batched signal (normally
    # within 100 ms); one that does not get through leaves the row Queued for the
    # sweeper, so waiting for Temporal would only add its latency to every acknowledgement.
    rt.signals.add(config, outcome.delivery_id)
    return JSONResponse(answer, status_code=202)


async def signal_and_mark(
    rt: Any, config: BindingSyncConfig, delivery_id: str, org: str, provider: str
) -> bool:
    """Signal one delivery now (replays); on success note it on the row. False leaves it to the
    sweeper (the row is Queued and durable either way)."""
    try:
        await rt.signaler.signal_delivery(config, delivery_id)
    except TemporalUnavailable as error:
        log.warning("delivery %s stays Queued for the sweeper: %s", delivery_id, error)
        return False
    try:
        await run_in_threadpool(mark_signaled, rt.engine, org, provider, [delivery_id])
    except SQLAlchemyError:
        pass  # only bookkeeping: the sweeper re-signals, and the workflow dedupes
    return True


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [Route("/webhooks/{org}/{provider}", receive, methods=["POST"])]


__all__ = ["MAX_BODY_BYTES", "read_limited", "routes", "set_processing", "store_verified"]
