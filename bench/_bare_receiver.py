"""`python -m bench._bare_receiver --port P`: the floor the ingress is compared with.

A minimal Starlette app that only verifies the GitHub signature (the same verifier the ingress
uses, secret read once at start), stores the payload and the delivery row durably, then answers
202. The store goes through the ingress's own group-commit writer (ingress/writer.py), so
concurrent requests share a transaction here exactly as in the ingress, and the ratio measures
what the ingress adds (provider/binding lookup, parsing, classifying, signalling), not a
storage trick only one side has. No provider or binding lookup, no payload parsing, no Temporal
signal, no bookkeeping. Served by uvicorn with the same options as `python -m ingress`.

Environment: KRATE_DATABASE_URL, BENCH_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ingress.__main__ import serve
from ingress.writer import GroupCommitWriter, PendingDelivery, delivery_values
from providers.webhooks import WebhookRequest, verifier_for
from providers.webhooks.secrets import SecretSet
from settings import sqlalchemy_url
from store.db import make_engine
from store.payloads import payload_digest

ORG = "bench-bare"
NAMESPACE = "krate-org-bench-bare"
PROVIDER = "github-bare"


def pending(body: bytes, delivery_id: str, event: str, received_at: datetime) -> PendingDelivery:
    """The payload and the Queued delivery row the bare receiver stores: no lookup, no parse."""
    digest = payload_digest(body)
    manifest: dict[str, Any] = {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalWebhookDelivery",
        "metadata": {"name": f"{PROVIDER}-{delivery_id}", "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerRef": PROVIDER,
            "deliveryId": delivery_id,
            "eventType": event,
            "receivedAt": received_at.isoformat(),
            "signature": {"algorithm": "hmac-sha256", "verified": True},
            "payloadRef": {"storage": "postgres", "digest": digest},
            "processing": {"phase": "Queued", "attempts": 0},
        },
        "status": {"phase": "Queued"},
    }
    return PendingDelivery(
        org=ORG,
        provider=PROVIDER,
        delivery_id=delivery_id,
        values=delivery_values(manifest),
        digest=digest,
        body=body,
    )


def create_app(database_url: str, secret: str) -> Starlette:
    engine = make_engine(sqlalchemy_url(database_url), pool_size=10, max_overflow=20)
    writer = GroupCommitWriter(engine)
    verifier = verifier_for("github")
    secrets = SecretSet(secret)

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        received_at = datetime.now(UTC)
        result = verifier.verify(
            WebhookRequest.of(request.headers.items(), body, request.method, {}),
            secrets,
            received_at,
        )
        if not result.verified:
            return JSONResponse({"error": result.message}, status_code=401)
        delivery_id = result.delivery_id or ""
        try:
            await writer.submit(pending(body, delivery_id, result.event or "unknown", received_at))
        except Exception as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        return JSONResponse({"delivery": delivery_id, "phase": "Queued"}, status_code=202)

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/webhooks/{org}/{provider}", receive, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench-bare-receiver")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(os.environ["KRATE_DATABASE_URL"], os.environ["BENCH_WEBHOOK_SECRET"])
    # Served as `python -m ingress` is (same uvicorn options, same start).
    serve(app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
