"""Where one webhook acknowledgement's time goes: each step `ingress.webhooks.receive` takes,
timed on its own, sequentially, in this process (no concurrency, no HTTP server).

    python bench/ingress_steps.py [--n 200] [--json] [--profile]

Steps, in the receiver's order: load the provider (a database read), read the secret files,
verify the HMAC, parse the body, store payload + delivery row (`store_verified`: also the
binding lookup and the workflow config), signal-with-start the binding's workflow (Temporal
dev server, no worker), and `mark_signaled` (a locked read-modify-write of the row). The bare
receiver's work (verify + payload + row) is timed the same way for comparison. With
--profile, cProfile of `store_verified` (the largest step) prints its top functions to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common
from bench.webhooks import EXAMPLES, NAMESPACE, ORG, PROVIDER, SECRET, apply, manifests


def _payload(i: int) -> tuple[bytes, str]:
    from bench._loadgen import fallback_payload

    if EXAMPLES.exists():
        catalogue = {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}
        payload = next(p for p in catalogue["issues"] if p.get("action") == "opened")
    else:
        payload = fallback_payload("Codertocat", "Hello-World")
    payload["issue"]["number"] = 200_000 + i
    payload["issue"]["id"] = 8_000_000_000 + i
    return json.dumps(payload).encode(), str(payload["repository"]["full_name"])


async def measure(n: int, profile: bool) -> dict[str, Any]:
    from starlette.datastructures import Headers

    from ingress.lookup import find_binding, secret_set, sync_config
    from ingress.signaler import WorkflowSignaler
    from ingress.webhooks import _load_provider, mark_signaled, store_verified
    from providers.webhooks import WebhookRequest, sign_github, verifier_for
    from providers.webhooks.secrets import SecretSet
    from settings import Settings
    from store.aggregated import insert_aggregated
    from store.db import make_engine, session_scope
    from store.payloads import put_payload

    timings: dict[str, list[float]] = {}

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    profiler = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory(prefix="krate-bench-steps-") as tmp:
        secrets_dir = Path(tmp) / "secrets"
        secret_file = secrets_dir / NAMESPACE / "github-webhook" / "secret"
        secret_file.parent.mkdir(parents=True)
        secret_file.write_text(SECRET + "\n")
        _, repository = _payload(0)
        with _common.postgres_server() as server, _common.scratch_database(server) as db:
            apply(db, manifests(repository))
            env = await _common.start_dev_server()
            try:
                settings = Settings(
                    database_url=db,
                    secrets_dir=secrets_dir,
                    task_queue=f"bench-steps-{uuid.uuid4().hex[:8]}",
                )
                engine = make_engine(settings.sqlalchemy_database_url, pool_size=10)
                signaler = WorkflowSignaler(settings, client=env.client)
                verifier = verifier_for("github")
                for i in range(n + 10):  # the first 10 warm caches and connections
                    body, repository = _payload(i)
                    delivery_id = str(uuid.uuid4())
                    headers = sign_github(body, SECRET, event="issues", delivery_id=delivery_id)
                    with clock("load_provider"):
                        provider = _load_provider(engine, ORG, PROVIDER)
                    assert provider is not None
                    with clock("read_secrets"):
                        secrets = secret_set(secrets_dir, provider)
                    now = datetime.now(UTC)
                    request = WebhookRequest.of(Headers(headers).items(), body, "POST", {})
                    with clock("verify"):
                        verified = verifier.verify(request, secrets, now)
                    with clock("parse_json"):
                        json.loads(body)
                    if profiler is not None and i >= 10:
                        profiler.enable()
                    with clock("store_verified"):
                        stored = store_verified(
                            engine, provider, verified, body, "application/json", now
                        )
                    if profiler is not None:
                        profiler.disable()
                    assert stored.config is not None
                    # Part of store_verified, timed alone: the binding lookup and the
                    # workflow config (stored manifests validated again, the binding planned).
                    with clock("  of which find_binding + sync_config"):
                        with session_scope(engine) as session:
                            binding = find_binding(session, provider, repository)
                            assert binding is not None
                            sync_config(session, provider, binding)
                    with clock("signal_with_start"):
                        await signaler.signal_delivery(stored.config, stored.delivery_id)
                    with clock("mark_signaled"):
                        mark_signaled(engine, ORG, PROVIDER, [stored.delivery_id])
                    # The bare receiver's work, for comparison.
                    with clock("bare_receiver_work"):
                        bare_verified = verifier.verify(request, SecretSet(SECRET), now)
                        with session_scope(engine) as session:
                            digest = put_payload(session, body + b" ", "application/json")
                            insert_aggregated(
                                session,
                                {
                                    "apiVersion": "krate.a5c.ai/v1alpha1",
                                    "kind": "ExternalWebhookDelivery",
                                    "metadata": {
                                        "name": f"bare-{uuid.uuid4().hex}",
                                        "namespace": "krate-org-bare",
                                    },
                                    "spec": {
                                        "organizationRef": "bare",
                                        "providerRef": "bare",
                                        "deliveryId": bare_verified.delivery_id,
                                        "eventType": "issues",
                                        "payloadRef": {"storage": "postgres", "digest": digest},
                                        "processing": {"phase": "Queued", "attempts": 0},
                                    },
                                    "status": {"phase": "Queued"},
                                },
                            )
                engine.dispose()
            finally:
                await env.shutdown()
    steps = {
        name: {
            "mean_ms": round(sum(values[10:]) / len(values[10:]), 3),
            "p50_ms": _common.rounded(_common.percentile(values[10:], 0.5), 3),
            "p99_ms": _common.rounded(_common.percentile(values[10:], 0.99), 3),
        }
        for name, values in timings.items()
    }
    ingress_total = sum(
        float(v["mean_ms"] or 0)
        for k, v in steps.items()
        if k != "bare_receiver_work" and not k.startswith(" ")
    )
    result: dict[str, Any] = {
        "benchmark": "ingress_steps",
        "n": n,
        "steps": steps,
        "ingress_steps_mean_total_ms": round(ingress_total, 3),
        "bare_mean_total_ms": steps["bare_receiver_work"]["mean_ms"],
    }
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        result["profile_store_verified"] = out.getvalue()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    with _common.stdout_reserved() as stdout:
        result = asyncio.run(measure(args.n, args.profile))
        profile = result.pop("profile_store_verified", None)
        path = _common.write_result("ingress-steps", result)
        rows = [
            (name, f"mean {s['mean_ms']} ms, p50 {s['p50_ms']}, p99 {s['p99_ms']}")
            for name, s in result["steps"].items()
        ]
        rows.append(
            ("ingress steps, total of means", f"{result['ingress_steps_mean_total_ms']} ms")
        )
        print("ingress steps (sequential, in process)\n" + _common.table(rows), file=sys.stderr)
        if profile:
            print(profile, file=sys.stderr)
        print(f"  written to {path.relative_to(_common.REPO_ROOT)}", file=sys.stderr)
        if args.json:
            print(json.dumps(result, sort_keys=True), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
