"""`python -m bench._simserver --port P --seed '{"repos": 5, ...}'`: the GitHub simulator in a
process of its own (so it never shares a GIL with the code under test), seeded with any
`SeedConfig` fields (the simulator's command line does not expose reviews or review comments),
with a rate limit high enough that a benchmark never waits for a reset."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from providers.github.simulator import SeedConfig, SimulatorConfig, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-simulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", default="{}", help="SeedConfig fields as JSON")
    parser.add_argument("--rate-limit", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    fields = json.loads(args.seed)
    fields.setdefault("until", datetime(2026, 11, 1, tzinfo=UTC))
    if isinstance(fields["until"], str):
        fields["until"] = datetime.fromisoformat(fields["until"])
    config = SimulatorConfig(
        base_url=f"http://127.0.0.1:{args.port}",
        seed=SeedConfig(**fields),
        rate_limit=args.rate_limit,
        request_log_size=1_000_000,
    )
    serve(host="127.0.0.1", port=args.port, log_level="warning", config=config)


if __name__ == "__main__":
    main()
