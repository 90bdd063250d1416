"""`python -m providers.github.simulator --port 8787 --seed-repos 3 --seed-issues 500`: the same
options `krate-sync simulate github` passes to `serve`."""

from __future__ import annotations

import argparse
from pathlib import Path

from providers.github.simulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="github-simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--base-url", help="public URL when behind a proxy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-owners", default="krate-demo", help="comma-separated orgs")
    parser.add_argument("--seed-repos", type=int, default=2)
    parser.add_argument("--seed-issues", type=int, default=40)
    parser.add_argument("--seed-pulls", type=int, default=20)
    parser.add_argument("--seed-comments", type=int, default=3)
    parser.add_argument("--seed-runs", type=int, default=10)
    parser.add_argument("--seed-jobs", type=int, default=3)
    parser.add_argument("--seed-branches", type=int, default=5)
    parser.add_argument("--seed-tags", type=int, default=3)
    parser.add_argument("--token", action="append", default=[], help="TOKEN=LOGIN, repeatable")
    parser.add_argument("--app-id", type=int)
    parser.add_argument("--app-key", type=Path, help="the App's private or public key (PEM)")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--drop-ratio", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=5000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    tokens = dict(t.split("=", 1) for t in args.token) if args.token else None
    serve(
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        base_url=args.base_url,
        seed=args.seed,
        seed_owners=tuple(o for o in args.seed_owners.split(",") if o),
        seed_repos=args.seed_repos,
        seed_issues=args.seed_issues,
        seed_pulls=args.seed_pulls,
        seed_comments=args.seed_comments,
        seed_runs=args.seed_runs,
        seed_jobs=args.seed_jobs,
        seed_branches=args.seed_branches,
        seed_tags=args.seed_tags,
        tokens=tokens,
        app_id=args.app_id,
        app_key_path=args.app_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        error_ratio=args.error_ratio,
        latency_ms=args.latency_ms,
        drop_ratio=args.drop_ratio,
        rate_limit=args.rate_limit,
    )


if __name__ == "__main__":
    main()
