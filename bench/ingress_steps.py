"""Where one webhook acknowledgement's time goes: each step `ingress.webhooks.receive` takes,
timed on its own, sequentially, in this process (no concurrency, no HTTP server).

    python bench/ingress_steps.py [--n 200] [--json] [--profile]

Steps, in the receiver's order: the provider view from the config cache (and, for comparison,
the uncached reads it replaces: provider, secret files, binding + workflow config), verify the
HMAC, prepare the delivery (parse, classify, build the row), store it (the group-commit
writer's statement for a batch of one, and per row in a batch of 16), then what happens after
the answer, once per signal batch: one `new_deliveries` signal-with-start (Temporal dev
server, no worker) and one `mark_signaled` UPDATE, for a batch of 10 ids. The bare receiver's
work (verify + row + the same store) is timed the same way. With --profile, cProfile of the
batch-of-one store prints its top functions to stderr.
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

    from bench._bare_receiver import pending as bare_pending
    from ingress.cache import ConfigCache
    from ingress.lookup import find_binding, load_provider, secret_set, sync_config
    from ingress.signaler import WorkflowSignaler
    from ingress.webhooks import mark_signaled, prepare_verified
    from ingress.writer import _Connection
    from providers.webhooks import WebhookRequest, sign_github, verifier_for
    from providers.webhooks.secrets import SecretSet
    from settings import Settings
    from store.db import make_engine, session_scope

    timings: dict[str, list[float]] = {}

    @contextmanager
    def clock(name: str, per: int = 1) -> Iterator[None]:
        started = time.perf_counter()
        yield
        timings.setdefault(name, []).append((time.perf_counter() - started) * 1000 / per)

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
                cache = ConfigCache(engine, secrets_dir, ttl=3600)
                writer = _Connection(engine)
                signaler = WorkflowSignaler(settings, client=env.client)
                verifier = verifier_for("github")
                signalled: list[str] = []
                for i in range(n + 10):  # the first 10 warm caches and connections
                    body, repository = _payload(i)
                    delivery_id = str(uuid.uuid4())
                    headers = sign_github(body, SECRET, event="issues", delivery_id=delivery_id)
                    with clock("config_lookup (cached)"):
                        view = await cache.view(ORG, PROVIDER)
                    assert view is not None
                    # What the cache saves, read from the database and files as before.
                    with clock("  uncached: provider + secret files + binding + config"):
                        with session_scope(engine) as session:
                            provider = load_provider(session, ORG, PROVIDER)
                        assert provider is not None
                        secret_set(secrets_dir, provider)
                        with session_scope(engine) as session:
                            binding = find_binding(session, provider, repository)
                            assert binding is not None
                            sync_config(session, provider, binding)
                    now = datetime.now(UTC)
                    request = WebhookRequest.of(Headers(headers).items(), body, "POST", {})
                    with clock("verify"):
                        verified = verifier.verify(request, view.require_secrets(), now)
                    with clock("prepare (parse, classify, row)"):
                        prepared = prepare_verified(
                            view.provider, verified, body, "application/json", now, view.binding_for
                        )
                    assert prepared.binding is not None
                    await cache.config_for(view, prepared.binding)
                    if profiler is not None and i >= 10:
                        profiler.enable()
                    with clock("store: batch of 1"):
                        outcome = (await writer.write([prepared.pending]))[0]
                    if profiler is not None:
                        profiler.disable()
                    assert not isinstance(outcome, Exception)
                    signalled.append(outcome.delivery_id)
                    if i % 10 == 9:
                        config = view.configs[str(prepared.binding["metadata"]["name"])]
                        with clock("signal_with_start: batch of 10, per delivery", per=10):
                            await signaler.signal_deliveries(config, signalled)
                        with clock("mark_signaled: batch of 10, per delivery", per=10):
                            mark_signaled(engine, ORG, PROVIDER, signalled)
                        signalled = []
                    # The bare receiver's work, for comparison.
                    with clock("bare_receiver_work (verify + row + store: batch of 1)"):
                        bare_verified = verifier.verify(request, SecretSet(SECRET), now)
                        item = bare_pending(
                            body, f"bare-{bare_verified.delivery_id}", "issues", now
                        )
                        await writer.write([item])
                # The same store, 16 rows per statement (what group commit does under load).
                for _ in range(max(1, n // 16)):
                    items = []
                    for _ in range(16):
                        body, _ = _payload(0)
                        now = datetime.now(UTC)
                        items.append(bare_pending(body + b" ", str(uuid.uuid4()), "issues", now))
                    with clock("store: batch of 16, per row", per=16):
                        await writer.write(items)
                await writer.close()
                engine.dispose()
            finally:
                await env.shutdown()
    steps = {
        name: {
            "mean_ms": round(sum(values[10:] or values) / len(values[10:] or values), 3),
            "p50_ms": _common.rounded(_common.percentile(values[10:] or values, 0.5), 3),
            "p99_ms": _common.rounded(_common.percentile(values[10:] or values, 0.99), 3),
        }
        for name, values in timings.items()
    }
    ack_steps = ("config_lookup (cached)", "verify", "prepare (parse, classify, row)")
    ingress_total = sum(float(steps[k]["mean_ms"] or 0) for k in ack_steps) + float(
        steps["store: batch of 1"]["mean_ms"] or 0
    )
    result: dict[str, Any] = {
        "benchmark": "ingress_steps",
        "n": n,
        "steps": steps,
        "ingress_ack_steps_mean_total_ms": round(ingress_total, 3),
        "bare_mean_total_ms": steps["bare_receiver_work (verify + row + store: batch of 1)"][
            "mean_ms"
        ],
    }
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        result["profile_store"] = out.getvalue()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    with _common.stdout_reserved() as stdout:
        result = asyncio.run(measure(args.n, args.profile))
        profile = result.pop("profile_store", None)
        path = _common.write_result("ingress-steps", result)
        rows = [
            (name, f"mean {s['mean_ms']} ms, p50 {s['p50_ms']}, p99 {s['p99_ms']}")
            for name, s in result["steps"].items()
        ]
        rows.append(
            (
                "ack path (lookup + verify + prepare + store), total of means",
                f"{result['ingress_ack_steps_mean_total_ms']} ms",
            )
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
