"""Exit codes and messages of `krate-sync` that need no database content."""

from __future__ import annotations

import pytest

from netports import free_port
from tests.helpers.cli import run_cli, run_script


def test_usage_error_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(monkeypatch, "get")
    assert result.code == 2
    assert "Missing argument" in result.stderr


def test_unknown_command_exits_2() -> None:
    result = run_script("frobnicate")
    assert result.code == 2
    assert "No such command" in result.stderr


def test_unknown_kind_exits_1_and_lists_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(
        monkeypatch,
        "get",
        "widgets",
        env={"KRATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"},
    )
    assert result.code == 1
    assert "unknown resource type 'widgets'" in result.stderr
    assert "bindings (ExternalBackendBinding)" in result.stderr


def test_unreachable_database_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    result = run_cli(
        monkeypatch,
        "get",
        "bindings",
        env={"KRATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/krate"},
    )
    assert result.code == 3
    assert f"127.0.0.1:{port}" in result.stderr
    assert "KRATE_DATABASE_URL" in result.stderr


def test_no_database_configured_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    result = run_cli(
        monkeypatch,
        "get",
        "bindings",
        env={"KRATE_DATABASE_URL": None, "KRATE_STATE_DIR": str(tmp_path)},
    )
    assert result.code == 3
    assert "set KRATE_DATABASE_URL" in result.stderr


def test_unreachable_temporal_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(
        monkeypatch,
        "sync",
        "status",
        "github-krate",
        "--org",
        "a5c",
        env={"KRATE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"},
    )
    assert result.code == 3
    assert "cannot reach Temporal" in result.stderr


def test_simulate_github_serves_the_rest_api() -> None:
    import subprocess
    import time

    import httpx

    from tests.helpers.cli import console_script

    port = free_port()
    process = subprocess.Popen(
        [
            str(console_script()),
            "simulate",
            "github",
            "--port",
            str(port),
            "--seed-repos",
            "1",
            "--seed-issues",
            "5",
            "--token",
            "cli-token=alice",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/orgs/krate-demo/repos",
                    headers={"Authorization": "Bearer cli-token"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        [repo] = response.json()
        assert repo["owner"]["login"] == "krate-demo"
        assert response.headers["x-ratelimit-limit"] == "5000"
        unauthorized = httpx.get(f"http://127.0.0.1:{port}/orgs/krate-demo/repos", timeout=2)
        assert unauthorized.status_code == 401
    finally:
        process.terminate()
        process.wait(10)
