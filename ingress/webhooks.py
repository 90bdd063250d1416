"""`POST /webhooks/{org}/{provider}`: verify, store, acknowledge, then signal the binding.

Order of checks, cheapest first, so bad input changes nothing and costs little:

1. the provider exists (404) and can verify (secret configured: else 500, fail closed);
2. `Content-Length` above 25 MiB: 413 before reading anything;
3. content type not JSON: 415;
4. no proof header at all, or no event header: 400;
5. the body is read in chunks and refused (413) as soon as it passes 25 MiB;
6. verification (constant time): 401 is recorded as a `Rejected` delivery, never processed.

Store first, acknowledge after: the payload (by sha256 digest) and the ExternalWebhookDelivery
row are written in one transaction. The unique (org, provider, delivery id) constraint makes a
duplicate a no-op answered 200, even when two copies race. Only then does the ingress
signal-with-start `sync/{org}/{binding}` with the delivery id; if Temporal is down the row stays
`Queued` and the sweeper signals it later, so the answer is still 202. A database failure is a
503: never a 4xx for our own trouble (GitLab disables hooks that get 4xx), never a 2xx
without a durable row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from activities.deliveries import (
    PayloadNotJson,
    delivery_name,
    find_delivery,
    normalized_error,
    parse_payload,
    set_processing,
)
from ingress.lookup import (
    ProviderInfo,
    SecretUnavailable,
    find_binding,
    load_provider,
    secret_set,
    sync_config,
)
from ingress.runtime import runtime
from ingress.signaler import TemporalUnavailable
from providers.github.webhooks import interface_hints, payload_repository
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
from store.payloads import put_payload
from workflows.binding_sync import BindingSyncConfig

log = logging.getLogger("krate_sync.ingress.webhooks")

MAX_BODY_BYTES = 25 * 1024 * 1024
JSON_TYPES = ("application/json",)
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


def _json_content_type(value: str | None) -> bool:
    media = (value or "").split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


@dataclass(frozen=True)
class Stored:
    name: str
    delivery_id: str
    phase: DeliveryPhase
    duplicate: bool = False
    config: BindingSyncConfig | None = None
    reason: str | None = None


def _manifest(
    provider: ProviderInfo,
    *,
    name: str,
    delivery_id: str,
    event: str,
    action: str | None,
    received_at: datetime,
    result: VerificationResult,
    digest: str | None,
    binding: str | None,
    repository: str | None,
    phase: DeliveryPhase,
    status: dict[str, Any],
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    owner, _, repo = (repository or "").partition("/")
    labels = {"krate.a5c.ai/org": provider.org, "krate.a5c.ai/provider": provider.name}
    hints = interface_hints(event) if provider.provider_type == "github" else []
    if hints:
        labels["krate.a5c.ai/interface"] = hints[0]
    if repo:
        labels["krate.a5c.ai/repository"] = repo
        labels["krate.a5c.ai/external-owner"] = owner
    spec: dict[str, Any] = {
        "organizationRef": provider.org,
        "providerRef": provider.name,
        "bindingRef": binding,
        "interfaceHints": hints,
        "deliveryId": delivery_id,
        "eventType": event,
        "action": action,
        "receivedAt": received_at.isoformat(),
        "signature": {"algorithm": result.algorithm, "verified": result.verified},
        "source": {"owner": owner or None, "repository": repo or None},
        "processing": {"phase": phase.value, "attempts": 0},
        **(extra_spec or {}),
    }
    if "error" in status:
        spec["processing"]["lastError"] = "{type}: {message}".format(**status["error"])
    if digest is not None:
        spec["payloadRef"] = {"storage": "postgres", "digest": digest}
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalWebhookDelivery",
        "metadata": {"name": name, "namespace": provider.namespace, "labels": labels},
        "spec": spec,
        "status": {"phase": phase.value, **status},
    }


def store_verified(
    engine: Engine,
    provider: ProviderInfo,
    result: VerificationResult,
    body: bytes,
    content_type: str,
    received_at: datetime,
) -> Stored:
    """Payload + delivery row in one transaction; a known delivery id is a duplicate."""
    event = result.event or "unknown"
    delivery_id = result.delivery_id
    status: dict[str, Any] = {}
    payload: dict[str, Any] | None = None
    phase = DeliveryPhase.QUEUED
    try:
        payload = parse_payload(body)
    except PayloadNotJson as error:
        phase = DeliveryPhase.DEAD_LETTERED
        status["error"] = normalized_error(error)
    action = result.action or (
        payload.get("action") if payload and isinstance(payload.get("action"), str) else None
    )
    repository = payload_repository(payload) if payload else None
    try:
        with session_scope(engine) as session:
            digest = put_payload(session, body, content_type)
            delivery_id = delivery_id or digest  # providers without ids: dedupe by content
            name = delivery_name(provider.name, delivery_id)
            config: BindingSyncConfig | None = None
            binding_name: str | None = None
            if phase == DeliveryPhase.QUEUED:
                binding = find_binding(session, provider, repository)
                if binding is None:
                    phase = DeliveryPhase.IGNORED
                    status["reason"] = (
                        f"no binding of provider {provider.name} for repository {repository}"
                        if repository
                        else "the delivery names no repository, so no binding can take it"
                    )
                else:
                    binding_name = str(binding["metadata"]["name"])
                    config = sync_config(session, provider, binding)
            manifest = _manifest(
                provider,
                name=name,
                delivery_id=delivery_id,
                event=event,
                action=action,
                received_at=received_at,
                result=result,
                digest=digest,
                binding=binding_name,
                repository=repository,
                phase=phase,
                status=status,
            )
            insert_aggregated(session, manifest)
    except IntegrityError as error:
        if "uq_webhook_deliveries_delivery_id" not in str(error) and "namespace_name" not in str(
            error
        ):
            raise
        with session_scope(engine) as session:
            existing = find_delivery(session, provider.org, provider.name, delivery_id or "")
            if existing is None:
                raise
            return Stored(
                existing.name,
                existing.delivery_id,
                DeliveryPhase(existing.phase or "Queued"),
                duplicate=True,
            )
    return Stored(name, delivery_id, phase, config=config, reason=status.get("reason"))


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
        extra_spec={
            "claimedDeliveryId": result.delivery_id,
            "bodySize": size,
        },
    )
    with session_scope(engine) as session:
        insert_aggregated(session, manifest)
    return name


def mark_signaled(engine: Engine, org: str, provider: str, delivery_ids: Sequence[str]) -> None:
    """Note that Temporal took the signal, so the sweeper leaves these deliveries alone."""
    now = datetime.now(UTC).isoformat()
    with session_scope(engine) as session:
        for delivery_id in delivery_ids:
            # Locked: the activity may be finishing this delivery right now, and a stale copy
            # of status written back would erase its reason or error.
            row = find_delivery(session, org, provider, delivery_id, lock=True)
            if row is not None and row.phase == DeliveryPhase.QUEUED.value:
                row.status_extra = {**row.status_extra, "signaledAt": now}
                session.add(row)


async def receive(request: Request) -> JSONResponse:
    org = request.path_params["org"]
    provider_name = request.path_params["provider"]
    rt = runtime(request.app)
    rt.ensure_sweeper()
    settings = rt.settings
    try:
        provider = await run_in_threadpool(_load_provider, rt.engine, org, provider_name)
    except SQLAlchemyError as error:
        log.warning("webhook %s/%s: database unavailable: %s", org, provider_name, error)
        return _problem(503, "database unavailable; retry later")
    if provider is None:
        return _problem(404, f"no provider {provider_name!r} in org {org!r}")
    if not provider.webhook_enabled:
        return _problem(404, f"webhooks are disabled for provider {provider_name!r}")
    try:
        verifier = verifier_for(provider.provider_type)
        secrets = await run_in_threadpool(secret_set, settings.secrets_dir, provider)
    except (SecretUnavailable, UnknownProviderTypeError) as error:
        log.warning("webhook %s/%s cannot be verified: %s", org, provider_name, error)
        return _problem(500, "webhook verification is not configured for this provider")

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _problem(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if not _json_content_type(request.headers.get("content-type")):
        return _problem(
            415,
            "content type must be application/json (configure the hook to send JSON)",
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

    try:
        stored = await run_in_threadpool(
            store_verified,
            rt.engine,
            provider,
            result,
            body,
            request.headers.get("content-type", "application/json"),
            received_at,
        )
    except SQLAlchemyError as error:
        log.warning("webhook %s/%s: could not store: %s", org, provider_name, error)
        return _problem(503, "database unavailable; retry later")
    answer: dict[str, Any] = {"delivery": stored.name, "phase": stored.phase.value}
    if stored.duplicate:
        return JSONResponse({**answer, "duplicate": True}, status_code=200)
    if stored.phase != DeliveryPhase.QUEUED or stored.config is None:
        if stored.reason:
            answer["reason"] = stored.reason
        return JSONResponse(answer, status_code=200)
    # The row is durable: acknowledge now and signal after the answer is sent. A signal that
    # does not get through leaves the row Queued for the sweeper, so waiting for Temporal would
    # only add its latency to every acknowledgement.
    return JSONResponse(
        answer,
        status_code=202,
        background=BackgroundTask(
            signal_and_mark, rt, stored.config, stored.delivery_id, org, provider.name
        ),
    )


async def signal_and_mark(
    rt: Any, config: BindingSyncConfig, delivery_id: str, org: str, provider: str
) -> bool:
    """Signal the binding's workflow; on success note it on the row. False leaves it to the
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


def _load_provider(engine: Engine, org: str, name: str) -> ProviderInfo | None:
    with session_scope(engine) as session:
        return load_provider(session, org, name)


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [Route("/webhooks/{org}/{provider}", receive, methods=["POST"])]


__all__ = ["MAX_BODY_BYTES", "read_limited", "routes", "set_processing", "store_verified"]
