"""`python -m bench._bare_receiver --port P`: the floor the ingress is compared with.

A minimal Starlette app that only verifies the GitHub signature (the same verifier the ingress
uses, secret read once at start) and stores the payload and the delivery row in one
transaction (the same store functions), then answers 202. No provider or binding lookup, no
secret file read per request, no Temporal signal, no bookkeeping. Served by uvicorn with the
same options as `python -m ingress`, so the ratio compares application work only.

Environment: KRATE_DATABASE_URL, BENCH_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from providers.webhooks import WebhookRequest, verifier_for
from providers.webhooks.secrets import SecretSet
from settings import sqlalchemy_url
from store.aggregated import insert_aggregated
from store.db import make_engine, session_scope
from store.payloads import put_payload

ORG = "bench-bare"
NAMESPACE = "krate-org-bench-bare"
PROVIDER = "github-bare"


def create_app(database_url: str, secret: str) -> Starlette:
    engine = make_engine(sqlalchemy_url(database_url), pool_size=10, max_overflow=20)
    verifier = verifier_for("github")
    secrets = SecretSet(secret)

    def store(body: bytes, delivery_id: str, event: str, received_at: datetime) -> None:
        with session_scope(engine) as session:
            digest = put_payload(session, body, "application/json")
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
            insert_aggregated(session, manifest)

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
        await run_in_threadpool(store, body, delivery_id, result.event or "unknown", received_at)
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
    # The same server options as `python -m ingress`.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", proxy_headers=True)


if __name__ == "__main__":
    main()
