"""The benchmarks run end to end with tiny parameters and print one JSON object with the keys
the issues ask for. Timings are never asserted: these machines are noisy (DESIGN.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers.paths import REPO_ROOT


def _run(script: str, *args: str, timeout: float, database_url: str) -> dict[str, Any]:
    env = {**os.environ, "KRATE_BENCH_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args, "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout[-2000:]  # one JSON object, nothing else on stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


@pytest.fixture
def server_url(postgres_server_url: str) -> str:
    """The benchmarks create and drop scratch databases on this server."""
    return postgres_server_url


def test_backfill_benchmark_prints_its_json(server_url: str) -> None:
    result = _run("backfill.py", "--objects", "300", timeout=120, database_url=server_url)
    for key in (
        "objects",
        "temporal_objects_per_s",
        "plain_objects_per_s",
        "ratio",
        "requests_per_object",
        "incremental_304_ratio",
        "listing_requests_per_object",
    ):
        assert _number(result[key]), (key, result[key])
    assert result["objects"] > 0
    assert result["projections_match"] is True
    assert not result["scope_errors"]
    assert 0 <= result["incremental_304_ratio"] <= 1
    assert set(result["requests_breakdown"]) == {"listings", "graphql", "reviews", "jobs"}
    # Reviews and jobs come through GraphQL: no REST read per pull request or per run.
    assert result["requests_breakdown"]["reviews"] == result["requests_breakdown"]["jobs"] == 0
    assert result["graphql_operations"].get("KratePullRequests", 0) > 0
    assert isinstance(result["seed"], dict)


def test_webhooks_benchmark_prints_its_json(server_url: str) -> None:
    result = _run(
        "webhooks.py", "--rate", "20", "--seconds", "2", timeout=150, database_url=server_url
    )
    # Every request gets a latency, answered or not: these are always numbers.
    for key in ("rate", "p50_ack_ms", "p99_ack_ms", "p999_ack_ms", "bare_p99_ack_ms"):
        assert _number(result[key]), (key, result[key])
    # Derived from what was answered and projected: None only when nothing was.
    for key in ("p99_projection_ms", "ack_cost_ratio"):
        assert result[key] is None or _number(result[key]), (key, result[key])
    assert result["rate"] == 20
    assert result["ingress"]["sent"] == result["bare"]["sent"] == 40
    assert sum(result["ingress"]["statuses"].values()) == 40
    assert 0 <= result["projected"] <= result["acknowledged"] <= 40
